//! The local stack under hostile clients, against the binary `make dev` runs (with short
//! timeouts): slow clients holding connections open do not starve it, a head that never
//! ends is cut off, and the refusals of its HTTP parser are JSON.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Running {
    child: Child,
    base: String,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `envs`, its open files limited to `max_files` (as a small
/// `ulimit -n` would), and waits for its banner.
fn start(envs: &[(&str, &str)], max_files: u32) -> Running {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {max_files} && exec \"$0\""))
        .arg(env!("CARGO_BIN_EXE_nsauth-local"))
        .env("PORT", "0")
        .env_remove("NSAUTH_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start nsauth-local");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    std::thread::spawn(move || for _ in reader.lines() {});
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let addr = base.trim_start_matches("http://").to_string();
    Running { child, base, addr }
}

const SHORT: [(&str, &str); 2] = [
    ("NSAUTH_LOCAL_HEADER_TIMEOUT_MS", "500"),
    ("NSAUTH_LOCAL_BODY_TIMEOUT_MS", "500"),
];

/// Sends `data` and reads until the server closes (or `wait` passes): what came, and when
/// the connection ended (None: still open).
fn exchange(addr: &str, data: &[u8], wait: Duration) -> (String, Option<Duration>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(data).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = wait.saturating_sub(start.elapsed());
        if left.is_zero() {
            return (String::from_utf8_lossy(&got).into_owned(), None);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) | Err(_) if start.elapsed() < wait => {
                return (
                    String::from_utf8_lossy(&got).into_owned(),
                    Some(start.elapsed()),
                );
            }
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The status and JSON body of a raw answer; panics when the body is not the API's error
/// shape.
fn json_error(answer: &str) -> (u16, serde_json::Value) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {answer:?}"));
    let status = head[9..12].parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer:?}"));
    assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    (status, v)
}

/// Slowloris: many connections, each sending a byte of its head every second (and opening
/// again when closed). A normal client is still answered within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_does_not_starve_a_normal_client() {
    let mut envs = SHORT.to_vec();
    envs.push(("NSAUTH_LOCAL_MAX_CONNECTIONS", "16"));
    // Few file descriptors, so that holding connections open can exhaust them.
    let r = start(&envs, 64);
    let stop = Arc::new(AtomicBool::new(false));
    let mut slow = Vec::new();
    for _ in 0..80 {
        let addr = r.addr.clone();
        let stop = stop.clone();
        slow.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let head =
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                for b in head {
                    if stop.load(Ordering::Relaxed) || s.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }));
    }
    // Let them take every place there is.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::Client::new()
            .get(format!(
                "{}/status/AAECAwQFBgcICQoLDA0ODw/AAECAwQFBgcICQoLDA0ODw",
                r.base
            ))
            .send(),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in slow {
        t.abort();
    }
    let resp = resp
        .unwrap_or_else(|_| panic!("no answer within 5 s under slowloris"))
        .unwrap();
    assert_eq!(resp.status(), 404, "an unknown session");
    eprintln!("answered in {:?} under slowloris", started.elapsed());
}

/// The cap: beyond it a new connection waits to be accepted (it is answered once a place
/// frees) while the connections already open are served as before.
#[test]
fn beyond_the_cap_connections_wait_and_open_ones_are_served() {
    let r = start(
        &[
            ("NSAUTH_LOCAL_MAX_CONNECTIONS", "2"),
            ("NSAUTH_LOCAL_HEADER_TIMEOUT_MS", "2000"),
        ],
        256,
    );
    let request = b"GET /status/AAECAwQFBgcICQoLDA0ODw/AAECAwQFBgcICQoLDA0ODw HTTP/1.1\r\n\
                    Host: 127.0.0.1\r\n\r\n";
    let answered = |s: &mut TcpStream, wait: Duration| {
        s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        matches!(s.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"HTTP/1.1 404"))
    };
    let mut open = TcpStream::connect(&r.addr).unwrap();
    let _silent = TcpStream::connect(&r.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let mut third = TcpStream::connect(&r.addr).unwrap();
    third.write_all(request).unwrap();
    assert!(
        !answered(&mut third, Duration::from_millis(1000)),
        "a third connection is served while two hold both places"
    );
    open.write_all(request).unwrap();
    assert!(
        answered(&mut open, Duration::from_millis(1000)),
        "an open connection is still served"
    );
    // The silent one is cut off at the header timeout, and the third takes its place.
    assert!(
        answered(&mut third, Duration::from_secs(4)),
        "the waiting connection is served once a place frees"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

/// A head that never ends: 408 (JSON) and closed after the header timeout, not held open.
#[test]
fn an_incomplete_head_is_cut_off() {
    let r = start(&SHORT, 256);
    let (answer, closed) = exchange(
        &r.addr,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ",
        Duration::from_secs(5),
    );
    let closed = closed.unwrap_or_else(|| panic!("still open after 5 s: {answer:?}"));
    assert!(
        closed >= Duration::from_millis(400),
        "closed after {closed:?}"
    );
    let (status, body) = json_error(&answer);
    assert_eq!(status, 408);
    assert_eq!(body["error"], "request_timeout");
    // A body that never ends: the same.
    let (answer, closed) = exchange(
        &r.addr,
        b"POST /servers/AAECAwQFBgcICQoLDA0ODw/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Length: 100\r\n\r\n{\"a\":",
        Duration::from_secs(5),
    );
    assert!(closed.is_some(), "still open after 5 s: {answer:?}");
    let (status, body) = json_error(&answer);
    assert_eq!(status, 408);
    assert_eq!(body["error"], "request_timeout");
}

/// A request line and headers beyond the limit (16 KiB by default): 431 in JSON.
#[test]
fn an_oversized_head_gets_431_json() {
    let r = start(&SHORT, 256);
    let mut head = b"GET /status/x/y HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
    for i in 0..40 {
        head.extend(format!("X-Big-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
    }
    head.extend(b"\r\n");
    let (answer, _) = exchange(&r.addr, &head, Duration::from_secs(3));
    let (status, body) = json_error(&answer);
    assert_eq!(status, 431);
    assert_eq!(body["error"], "headers_too_large");
}

/// What is not HTTP/1.1: 400 in JSON.
#[test]
fn a_garbage_request_line_gets_400_json() {
    let r = start(&SHORT, 256);
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET / HTTP/7.0\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\n\r\n",
    ] {
        let (answer, _) = exchange(&r.addr, garbage, Duration::from_secs(3));
        let (status, body) = json_error(&answer);
        assert_eq!(status, 400, "{garbage:?}");
        assert_eq!(body["error"], "bad_request", "{garbage:?}");
    }
}
