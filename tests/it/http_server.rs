//! A scripted HTTP/1.1 server on loopback for sink tests: answers from a script, from a
//! responder function, or 200; records every request (bodies gunzipped). Bounded: at most
//! 1,000 connections and 1,000 requests per connection.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Computes an answer from a request (method, path, body), or `None` to use the script.
pub type Responder = Arc<dyn Fn(&str, &str, &str) -> Option<Answer> + Send + Sync>;

/// A scripted answer.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
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
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(1000) {
                let Ok(stream) = stream else { break };
                let state = shared.clone();
                let tls = tls.clone();
                std::thread::spawn(move || connection(stream, &state, tls.as_ref()));
            }
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

pub fn seqs_of(body: &str) -> Vec<usize> {
    body.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("seq "))
                .and_then(|n| n.parse().ok())
        })
        .collect()
}

/// Serves HTTP/1.1 requests on one connection until it closes (bounded).
fn connection(stream: TcpStream, state: &Mutex<State>, tls: Option<&Arc<rustls::ServerConfig>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    match tls {
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            serve_stream(rustls::StreamOwned::new(conn, stream), state);
        }
        None => serve_stream(stream, state),
    }
}

/// Serves HTTP/1.1 requests on one (plain or TLS) stream until it closes (bounded).
fn serve_stream(stream: impl Read + std::io::Write, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream);
    for _ in 0..1000 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let method = words.next().unwrap_or("").to_owned();
        let path = words.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut raw = vec![0u8; len];
        if reader.read_exact(&mut raw).is_err() {
            return;
        }
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
            let computed = s.responder.clone().and_then(|r| r(&method, &path, &body));
            let answer = computed
                .or_else(|| s.script.pop_front())
                .or_else(|| s.fallback.clone())
                .unwrap_or_else(|| Answer::status(200));
            s.received.push(Received {
                at: Instant::now(),
                status: answer.status,
                method,
                path,
                headers: headers.clone(),
                body,
            });
            answer
        };
        std::thread::sleep(answer.delay);
        let mut response = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            answer.status,
            answer.body.len()
        );
        for (k, v) in &answer.headers {
            let _ = write!(response, "{k}: {v}\r\n");
        }
        response.push_str("\r\n");
        response.push_str(&answer.body);
        let writer = reader.get_mut();
        if writer.write_all(response.as_bytes()).is_err() || writer.flush().is_err() {
            return;
        }
    }
}
