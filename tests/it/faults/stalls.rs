//! Syslog receivers that stall and then drop the connection. Over RELP nothing is lost: a
//! message counts only once the receiver acknowledged it. Over plain TCP a batch counts once
//! the receiving host acknowledged its bytes (the send queue drained), so the loss is bounded
//! by what sat unread in the receiver's own buffer, never by ours.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::SinkSetup;

/// The sequence number in `seq=NNNNNNNNN`, if any.
fn seq_in(text: &str) -> Option<usize> {
    let at = text.find("seq=")? + 4;
    text.get(at..at + 9)?.parse().ok()
}

fn lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("seq={i:09} {}", "m".repeat(200)))
        .collect()
}

/// Received sequence numbers, shared with the receiver threads.
type Seen = Arc<Mutex<BTreeSet<usize>>>;

/// Accepts connections (at most 50, each served by a thread); the first one is served by
/// `first`, the others by `rest`.
fn serve(listener: TcpListener, first: fn(TcpStream, Seen), rest: fn(TcpStream, Seen)) -> Seen {
    let seen: Seen = Arc::default();
    let shared = seen.clone();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().take(50).enumerate() {
            let Ok(conn) = conn else { break };
            let seen = shared.clone();
            let serve = if i == 0 { first } else { rest };
            std::thread::spawn(move || serve(conn, seen));
        }
    });
    seen
}

/// Reads one RELP frame: (txnr, command, data).
fn relp_frame(r: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut fields = Vec::new();
    for _ in 0..2 {
        head.clear();
        r.read_until(b' ', &mut head).ok()?;
        head.pop();
        fields.push(String::from_utf8(head.clone()).ok()?);
    }
    let mut len = 0usize;
    let mut byte = [0u8; 1];
    loop {
        r.read_exact(&mut byte).ok()?;
        if byte[0].is_ascii_digit() {
            len = len * 10 + usize::from(byte[0] - b'0');
        } else {
            break;
        }
    }
    let mut data = vec![0u8; len];
    if byte[0] == b' ' {
        r.read_exact(&mut data).ok()?;
        r.read_exact(&mut byte).ok()?;
    }
    let command = fields.pop()?;
    Some((fields.pop()?, command, data))
}

/// A RELP receiver: answers `open`, acknowledges every `syslog` message after recording it.
/// With `stall_after`, stops reading after that many messages, waits 2 s and drops the
/// connection (the messages after it are never acknowledged).
fn relp_session(conn: TcpStream, seen: &Seen, stall_after: Option<usize>) {
    let mut writer = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let mut count = 0;
    while let Some((txnr, command, data)) = relp_frame(&mut r) {
        let answer = match command.as_str() {
            "open" => "200 OK\nrelp_version=0\nrelp_software=test\ncommands=syslog".to_owned(),
            "syslog" => {
                if stall_after.is_some_and(|n| count >= n) {
                    std::thread::sleep(Duration::from_secs(2));
                    return;
                }
                count += 1;
                if let Some(seq) = seq_in(&String::from_utf8_lossy(&data)) {
                    seen.lock().unwrap().insert(seq);
                }
                "200 OK".to_owned()
            }
            _ => String::new(),
        };
        let frame = if answer.is_empty() {
            format!("{txnr} rsp 0\n")
        } else {
            format!("{txnr} rsp {} {answer}\n", answer.len())
        };
        if writer.write_all(frame.as_bytes()).is_err() {
            return;
        }
    }
}

fn run_until_all(s: &SinkSetup, seen: &Seen, n: usize) -> (bool, String) {
    s.run_until(Duration::from_secs(60), || seen.lock().unwrap().len() >= n)
}

#[test]
fn relp_loses_nothing_when_the_receiver_stalls_and_drops_the_connection() {
    const N: usize = 20_000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = serve(
        listener,
        |c, seen| relp_session(c, &seen, Some(3000)),
        |c, seen| relp_session(c, &seen, None),
    );
    let s = SinkSetup::new(
        "audit.log",
        &lines(N),
        "raw",
        &format!(
            "type = \"syslog\"\nmode = \"relp\"\naddress = \"127.0.0.1:{port}\"\nrequest_timeout = \"1s\"\nbatch = {{ timeout = \"100ms\" }}\n"
        ),
    );
    let (all, stderr) = run_until_all(&s, &seen, N);
    assert!(
        all,
        "{} of {N} received\n{stderr}",
        seen.lock().unwrap().len()
    );
    assert!(
        stderr.contains("no RELP answer") || stderr.contains("stalled"),
        "{stderr}"
    );
}

/// A plain TCP receiver whose first connection is never read (a receive buffer of a few
/// KiB), then dropped after 3 s; later connections are read line by line.
#[test]
fn plain_tcp_loses_at_most_the_unread_receive_buffer_of_a_receiver_that_stalls() {
    const N: usize = 20_000;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(16).unwrap();
    let listener: TcpListener = socket.into();
    let port = listener.local_addr().unwrap().port();
    let seen = serve(
        listener,
        |_conn, _| std::thread::sleep(Duration::from_secs(3)),
        |conn, seen| {
            let deadline = Instant::now() + Duration::from_secs(120);
            for line in BufReader::new(conn).lines() {
                let Ok(line) = line else { break };
                if let Some(seq) = seq_in(&line) {
                    seen.lock().unwrap().insert(seq);
                }
                if Instant::now() > deadline {
                    break;
                }
            }
        },
    );
    let s = SinkSetup::new(
        "audit.log",
        &lines(N),
        "raw",
        &format!(
            "type = \"syslog\"\nmode = \"tcp\"\nframing = \"newline\"\naddress = \"127.0.0.1:{port}\"\nrequest_timeout = \"1s\"\nbatch = {{ timeout = \"100ms\", max_events = 100 }}\n"
        ),
    );
    let size = std::fs::metadata(&s.log).unwrap().len();
    let (settled, stderr) = s.run_until(Duration::from_secs(60), || s.checkpoint() == size);
    assert!(settled, "{stderr}");
    let got = seen.lock().unwrap().len();
    // The stalled connection's receive buffer (4 KiB asked; the kernel doubles it and adds
    // its overhead) holds at most a few dozen of these ~500-byte messages; before, the
    // agent's own send queue (up to megabytes) was lost too.
    eprintln!(
        "plain TCP, receiver stalled then dropped: lost {} of {N}",
        N - got
    );
    assert!(N - got <= 200, "lost {} of {N}\n{stderr}", N - got);
    assert!(stderr.contains("stalled"), "{stderr}");
}
