//! An HTTP/1.1 test server on loopback, built on hyper, for the sink tests: answers from a
//! script, from a responder function, or 200; records every request (bodies gunzipped); plain
//! or TLS (rustls). Bounded: at most 1,000 connections, 1,000 requests per connection, and a
//! 30-second limit on reading a request's headers.

use std::collections::VecDeque;
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

/// Computes an answer from a request (method, path with its query, body), or `None` to use the
/// script.
pub type Responder = Arc<dyn Fn(&str, &str, &str) -> Option<Answer> + Send + Sync>;

/// A scripted answer.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
    /// The body is sent in frames of this many bytes, a millisecond apart (chunked transfer
    /// encoding); 0: in one piece, with its length.
    pub piece: usize,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
            piece: 0,
        }
    }
}

/// A response body: whole, or in frames of `piece` bytes a millisecond apart.
pub struct Pieces {
    rest: Bytes,
    piece: usize,
    wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        use std::future::Future as _;
        if self.rest.is_empty() {
            return std::task::Poll::Ready(None);
        }
        if let Some(wait) = self.wait.as_mut() {
            if wait.as_mut().poll(cx).is_pending() {
                return std::task::Poll::Pending;
            }
        }
        let n = match self.piece {
            0 => self.rest.len(),
            p => p.min(self.rest.len()),
        };
        let chunk = self.rest.split_to(n);
        self.wait = Some(Box::pin(tokio::time::sleep(Duration::from_millis(1))));
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        if self.piece == 0 {
            hyper::body::SizeHint::with_exact(self.rest.len() as u64)
        } else {
            hyper::body::SizeHint::default()
        }
    }
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub status: u16,
    pub method: String,
    pub path: String,
    /// The query string, without its `?` (empty when there is none).
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The body, gunzipped when it was sent with `Content-Encoding: gzip`.
    pub body: String,
}

#[derive(Default)]
pub struct State {
    script: VecDeque<Answer>,
    /// Answer used once the script is empty.
    pub fallback: Option<Answer>,
    responder: Option<Responder>,
    received: Vec<Received>,
}

/// The test server: answers requests from the script, then 200.
pub struct Server {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start(script: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::serve(listener, script)
    }

    pub fn on_port(port: u16, script: Vec<Answer>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        Self::serve(listener, script)
    }

    /// A server whose answers come from `responder` (falling back to the script, then 200).
    pub fn with_responder(responder: Responder) -> Self {
        let server = Self::start(vec![]);
        server.state.lock().unwrap().responder = Some(responder);
        server
    }

    /// A server speaking HTTPS with the certificate and key in `cert`/`key` (PEM).
    pub fn start_tls(script: Vec<Answer>, cert: &std::path::Path, key: &std::path::Path) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::serve_with(listener, script, Some(Arc::new(config)))
    }

    fn serve(listener: TcpListener, script: Vec<Answer>) -> Self {
        Self::serve_with(listener, script, None)
    }

    fn serve_with(
        listener: TcpListener,
        script: Vec<Answer>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(accept(listener, shared, tls));
        });
        Self { port, state }
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/ingest", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Sequence numbers in the bodies of requests answered 2xx.
    pub fn delivered(&self) -> Vec<usize> {
        let mut seqs: Vec<usize> = self
            .received()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| seqs_of(&r.body))
            .collect();
        seqs.sort_unstable();
        seqs
    }
}

/// The sequence numbers of an ndjson body's lines, or of a JSON array body's elements.
pub fn seqs_of(body: &str) -> Vec<usize> {
    let documents: Vec<serde_json::Value> = if body.starts_with('[') {
        serde_json::from_str(body).unwrap_or_default()
    } else {
        body.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    documents
        .into_iter()
        .filter_map(|v| {
            v["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("seq "))
                .and_then(|n| n.parse().ok())
        })
        .collect()
}

/// Accepts up to 1,000 connections and serves each with hyper.
async fn accept(
    listener: TcpListener,
    state: Arc<Mutex<State>>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    for _ in 0..1000 {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let state = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve(TokioIo::new(stream), state).await;
                    }
                }
                None => serve(TokioIo::new(stream), state).await,
            }
        });
    }
}

/// Serves one connection's requests (at most 1,000).
async fn serve<IO>(io: IO, state: Arc<Mutex<State>>)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let served = Arc::new(AtomicUsize::new(0));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        let served = served.clone();
        async move {
            let last = served.fetch_add(1, Ordering::Relaxed) + 1 >= 1000;
            answer(request, &state, last).await
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(io, service)
        .await;
}

/// Records one request and answers it.
async fn answer(
    request: Request<Incoming>,
    state: &Mutex<State>,
    last: bool,
) -> Result<Response<Pieces>, hyper::Error> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let raw = request.into_body().collect().await?.to_bytes();
    let gzip = headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v == "gzip");
    let body = if gzip {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8_lossy(&raw).into_owned()
    };
    let answer = {
        let mut s = state.lock().unwrap();
        let target = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        let computed = s.responder.clone().and_then(|r| r(&method, &target, &body));
        let answer = computed
            .or_else(|| s.script.pop_front())
            .or_else(|| s.fallback.clone())
            .unwrap_or_else(|| Answer::status(200));
        s.received.push(Received {
            at: Instant::now(),
            status: answer.status,
            method,
            path,
            query,
            headers,
            body,
        });
        answer
    };
    tokio::time::sleep(answer.delay).await;
    let mut response = Response::builder().status(answer.status);
    for (k, v) in &answer.headers {
        response = response.header(*k, v.as_str());
    }
    if last {
        response = response.header("connection", "close");
    }
    Ok(response
        .body(Pieces {
            rest: Bytes::from(answer.body),
            piece: answer.piece,
            wait: None,
        })
        .unwrap())
}
