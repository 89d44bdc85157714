//! A loopback receiver for the delivery bench: accepts HTTP/1.1 POSTs (ndjson, gzip or not),
//! counts the events, answers 200, and writes the running count to a file. A `/_bulk` request
//! is answered as Elasticsearch answers one, with an item per document (so the agent reads
//! responses of the real size), filtered as Elasticsearch filters it when the request asks
//! (`filter_path`). Usage: `bench_receiver PORT COUNT_FILE`.
//!
//! gzip bodies are inflated with ISA-L (about twice as fast as zlib-rs, so that the receiver
//! takes less of the two cores it shares with the agent) and counted as they are inflated;
//! `BENCH_INFLATE=zlib` inflates them with flate2's zlib-rs into one buffer, as the receiver
//! did before session 13 (its figures in the README were measured so).

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(9200);
    let count_file = args.next().unwrap_or_else(|| "/tmp/bench-count".into());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let zlib = std::env::var("BENCH_INFLATE").is_ok_and(|v| v == "zlib");
    let count = Arc::new(AtomicU64::new(0));
    let writer = count.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = std::fs::write(&count_file, writer.load(Ordering::Relaxed).to_string());
        }
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let count = count.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut reader = BufReader::with_capacity(1 << 20, read);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (mut len, mut gzip) = (0usize, false);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let h = h.trim_end().to_ascii_lowercase();
                    if h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if h.starts_with("content-encoding:") && h.contains("gzip") {
                        gzip = true;
                    }
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let lines = if gzip && zlib {
                    let mut raw = Vec::new();
                    let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut raw);
                    bytecount(&raw)
                } else if gzip {
                    inflated_lines(&body)
                } else {
                    bytecount(&body)
                };
                let events = if path.starts_with("/_bulk") {
                    lines / 2
                } else {
                    lines
                };
                count.fetch_add(events as u64, Ordering::Relaxed);
                let answer = if path.starts_with("/_bulk") {
                    bulk_answer(events, path.contains("filter_path="))
                } else if path == "/" {
                    r#"{"version":{"number":"bench"}}"#.to_owned()
                } else {
                    String::new()
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                if write.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A `_bulk` answer for `documents` created documents, shaped as Elasticsearch writes it:
/// whole, or, when the request asks for response filtering, as the agent's filter
/// (`errors,items.*.error,items.*.status`) leaves it.
fn bulk_answer(documents: usize, filtered: bool) -> String {
    let (head, item) = if filtered {
        (
            r#"{"errors":false,"items":["#,
            r#"{"create":{"status":201}}"#,
        )
    } else {
        (
            r#"{"took":3,"errors":false,"items":["#,
            r#"{"create":{"_index":"auditship-2025.01.12","_id":"0f3a9c1d2b4e5f60718293a4b5c6d7e8","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}"#,
        )
    };
    let mut out = String::with_capacity(40 + documents * (item.len() + 1));
    out.push_str(head);
    for n in 0..documents {
        if n > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push_str("]}");
    out
}

/// The lines of a gzip body, inflated by ISA-L 256 KiB at a time.
fn inflated_lines(body: &[u8]) -> usize {
    let mut decoder = isal::read::GzipDecoder::new(body);
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = 0;
    while let Ok(n) = decoder.read(&mut buf) {
        if n == 0 {
            break;
        }
        lines += bytecount(&buf[..n]);
    }
    lines
}

fn bytecount(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}
