//! A minimal HTTP/1.1 client for the agent's own API (`tap`, `top`): one GET per connection.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};

/// Why a request to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection.
    #[error("cannot reach the agent's API at {address}: {source} (is `[api] address` set, and the agent running?)")]
    Connect {
        /// The address.
        address: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The exchange failed.
    #[error("the API at {address} failed: {message}")]
    Http {
        /// The address.
        address: String,
        /// What happened.
        message: String,
    },
}

/// An answer whose body is read piece by piece.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    body: hyper::body::Incoming,
    address: String,
}

impl Answer {
    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
                Some(Err(e)) => {
                    return Err(ClientError::Http {
                        address: self.address.clone(),
                        message: e.to_string(),
                    })
                }
            }
        }
    }

    /// The whole body as text.
    pub async fn text(mut self) -> Result<String, ClientError> {
        let mut all = Vec::new();
        while let Some(piece) = self.chunk().await? {
            all.extend_from_slice(&piece);
        }
        Ok(String::from_utf8_lossy(&all).into_owned())
    }
}

/// `GET path` (with its query) from the API at `address`.
pub async fn get(address: &str, path: &str) -> Result<Answer, ClientError> {
    let http = |e: &dyn std::fmt::Display| ClientError::Http {
        address: address.to_owned(),
        message: e.to_string(),
    };
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|source| ClientError::Connect {
            address: address.to_owned(),
            source,
        })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| http(&e))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", address)
        .body(Empty::<Bytes>::new())
        .map_err(|e| http(&e))?;
    let response = sender.send_request(request).await.map_err(|e| http(&e))?;
    Ok(Answer {
        status: response.status().as_u16(),
        body: response.into_body(),
        address: address.to_owned(),
    })
}
