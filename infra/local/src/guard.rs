//! What keeps the local stack answering when clients are slow or hostile: a cap on open
//! connections, a deadline for a request head, for a request body and for a connection on
//! which nothing moves, and JSON bodies (SPEC section 10) for the refusals the HTTP parser
//! makes on its own.
//!
//! hyper answers a request head it cannot parse by itself (400, 414, 431, with an empty
//! body) and then closes the connection. It cannot be told to send a body, so [`Guarded`],
//! the socket hyper writes to, recognises that automatic answer as it is written and writes
//! the same status with the JSON error body instead.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// The local stack's limits on connections; [`Limits::from_env`] reads them from the
/// environment, with these defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `NSAUTH_LOCAL_HEADER_TIMEOUT_MS`: a request head must arrive in full within this
    /// time of the server starting to wait for it (also how long a kept-alive connection
    /// may sit idle between requests). Then 408 (JSON) if part of a head came, or a plain
    /// close if nothing did.
    pub header_timeout: Duration,
    /// `NSAUTH_LOCAL_BODY_TIMEOUT_MS`: a request body must arrive in full within this time
    /// of its head: 408 (JSON) otherwise.
    pub body_timeout: Duration,
    /// `NSAUTH_LOCAL_IDLE_TIMEOUT_MS`: a connection on which no byte moves either way for
    /// this long while the server waits on the client (a client that does not read its
    /// answer) is closed. WebSocket connections are exempt: they idle by design.
    pub idle_timeout: Duration,
    /// `NSAUTH_LOCAL_MAX_CONNECTIONS`: open connections, WebSockets included. Beyond it the
    /// server stops accepting, so new connections wait in the listen queue until one ends;
    /// the timeouts above bound how long a client that sends nothing useful keeps its place.
    pub max_connections: usize,
    /// `NSAUTH_LOCAL_MAX_HEAD_BYTES`: the request line and headers together: 431 (JSON)
    /// beyond it. At least 8192 (hyper's minimum).
    pub max_head_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
            max_head_bytes: 16 * 1024,
        }
    }
}

/// hyper refuses a smaller read buffer.
const MIN_HEAD_BYTES: usize = 8192;

impl Limits {
    /// The limits from the environment (`get` reads one variable); unset means default,
    /// anything but a positive whole number is refused.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let d = Limits::default();
        let number = |name: &str, default: u64, min: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(format!(
                        "{name} must be a whole number of at least {min}, got {v:?}"
                    )),
                },
            }
        };
        let millis = |name: &str, default: Duration| -> Result<Duration, String> {
            number(name, default.as_millis() as u64, 1).map(Duration::from_millis)
        };
        Ok(Limits {
            header_timeout: millis("NSAUTH_LOCAL_HEADER_TIMEOUT_MS", d.header_timeout)?,
            body_timeout: millis("NSAUTH_LOCAL_BODY_TIMEOUT_MS", d.body_timeout)?,
            idle_timeout: millis("NSAUTH_LOCAL_IDLE_TIMEOUT_MS", d.idle_timeout)?,
            max_connections: number("NSAUTH_LOCAL_MAX_CONNECTIONS", d.max_connections as u64, 1)?
                as usize,
            max_head_bytes: number(
                "NSAUTH_LOCAL_MAX_HEAD_BYTES",
                d.max_head_bytes as u64,
                MIN_HEAD_BYTES as u64,
            )? as usize,
        })
    }
}

fn body(code: &str, message: &str) -> String {
    serde_json::json!({ "error": code, "message": message }).to_string()
}

/// A refusal the local stack makes itself, in the API's error shape.
pub fn refusal(status: StatusCode, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body(code, message))));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::http::HeaderValue::from_static("no-store"),
    );
    r
}

/// 408 for a body that did not arrive in time.
pub fn body_timeout() -> hyper::Response<Full<Bytes>> {
    let mut r = refusal(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request body did not arrive in time",
    );
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::http::HeaderValue::from_static("close"),
    );
    r
}

/// A whole HTTP/1.1 answer that closes the connection, for where hyper does not answer.
fn raw_refusal(status: StatusCode, code: &str, message: &str) -> Vec<u8> {
    let body = body(code, message);
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
    )
    .into_bytes()
}

/// The JSON answer for one of hyper's automatic ones, by status.
fn parser_refusal(status: u16) -> Option<Vec<u8>> {
    let (status, code, message) = match status {
        400 => (
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request is not valid HTTP/1.1 (request line or headers)",
        ),
        414 => (
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "the request's path and query are too long",
        ),
        431 => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request line and headers are too large (or too many headers)",
        ),
        _ => return None,
    };
    Some(raw_refusal(status, code, message))
}

/// When `buf` ends with an answer hyper made on its own for a head it could not parse (a
/// 400, 414 or 431 head with `content-length: 0` and no content type: every answer of the
/// stack's own has a body and a type), the same bytes with that answer in JSON.
fn rewrite_parser_refusal(buf: &[u8]) -> Option<Vec<u8>> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let at = buf.windows(9).rposition(|w| w == b"HTTP/1.1 ")?;
    let head = std::str::from_utf8(&buf[at..]).ok()?.to_ascii_lowercase();
    if head[..head.len() - 4].contains("\r\n\r\n")
        || !head.contains("\r\ncontent-length: 0\r\n")
        || head.contains("\r\ncontent-type:")
    {
        return None;
    }
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let mut out = buf[..at].to_vec();
    out.extend(parser_refusal(status)?);
    Some(out)
}

/// What one connection's socket tells its accept task after hyper let go of it.
#[derive(Default)]
pub(crate) struct Shared {
    /// The service answered 101: from then on the bytes are the WebSocket's.
    pub(crate) upgraded: AtomicBool,
    /// The socket when hyper dropped it, and whether part of a request head had come.
    left: Mutex<Option<(Box<dyn Io>, bool)>>,
}

pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

impl Shared {
    /// After hyper gave up waiting for a head: a 408 in JSON when part of one had come
    /// (a connection that sent nothing is just closed, as an idle kept-alive one is).
    pub(crate) async fn answer_header_timeout(&self) {
        let left = self.left.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((mut io, partial)) = left else {
            return;
        };
        if partial {
            let answer = raw_refusal(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request head did not arrive in time",
            );
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                io.write_all(&answer).await?;
                io.shutdown().await
            })
            .await;
        }
    }
}

/// The socket hyper reads and writes: enforces the idle timeout, rewrites hyper's own
/// refusals into JSON, holds the connection's place under the cap (WebSockets included:
/// the upgraded connection keeps this socket), and hands the socket back when dropped.
pub(crate) struct Guarded {
    io: Option<Box<dyn Io>>,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Bytes to write in place of what hyper last handed over (a rewritten refusal).
    pending: Vec<u8>,
    /// Bytes came in since the last answer went out: part of a request.
    partial: bool,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Guarded {
    pub(crate) fn new(
        io: impl Io,
        idle: Duration,
        shared: Arc<Shared>,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Guarded {
            io: Some(Box::new(io)),
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            pending: Vec::new(),
            partial: false,
            shared,
            _permit: permit,
        }
    }

    fn upgraded(&self) -> bool {
        self.shared.upgraded.load(Ordering::Relaxed)
    }

    fn touch(&mut self) {
        let at = Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }

    /// Called when the socket is not ready: an error once nothing has moved for too long.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if self.upgraded() {
            return Poll::Pending;
        }
        ready!(self.deadline.as_mut().poll(cx));
        tracing::debug!("closing a connection idle for {:?}", self.idle);
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "connection idle too long",
        ))
    }

    fn io(&mut self) -> Pin<&mut (dyn Io + 'static)> {
        Pin::new(self.io.as_mut().expect("the socket until dropped").as_mut())
    }

    /// Writes out what is pending (a rewritten refusal) before anything else.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            let polled = self.io().poll_write(cx, &pending);
            self.pending = pending;
            match polled {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.pending.drain(..n);
                    self.touch();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return self.idle_expired(cx).map(Err),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            *self.shared.left.lock().unwrap_or_else(|p| p.into_inner()) = Some((io, self.partial));
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match self.io().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.partial = true;
                    self.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.idle_expired(cx).map(Err),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if !self.upgraded()
            && let Some(rewritten) = rewrite_parser_refusal(buf)
        {
            // Taken whole: what hyper handed over counts as written.
            self.pending = rewritten;
            self.partial = false;
            if let Poll::Ready(Err(e)) = self.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        match self.io().poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.partial = false;
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.idle_expired(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        match self.io().poll_flush(cx) {
            Poll::Pending => self.idle_expired(cx).map(Err),
            done => done,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        match self.io().poll_shutdown(cx) {
            Poll::Pending => self.idle_expired(cx).map(Err),
            done => done,
        }
    }

    // Not vectored: hyper then hands over each answer as one buffer, which is what
    // `rewrite_parser_refusal` looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(bytes: &[u8]) -> (u16, serde_json::Value) {
        let text = std::str::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (
            head[9..12].parse().unwrap(),
            serde_json::from_str(body).unwrap(),
        )
    }

    #[test]
    fn rewrites_hypers_own_refusals_only() {
        let auto = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\
                     date: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n";
        let (status, body) = json_of(&rewrite_parser_refusal(auto).unwrap());
        assert_eq!(status, 431);
        assert_eq!(body["error"], "headers_too_large");
        // After the end of an earlier answer in the same buffer.
        let mut two = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
        two.extend(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        let out = rewrite_parser_refusal(&two).unwrap();
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 400"));
        // The stack's own answers are left alone.
        for own in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert!(rewrite_parser_refusal(own).is_none(), "{own:?}");
        }
    }

    #[test]
    fn limits_from_the_environment() {
        assert_eq!(Limits::from_env(|_| None).unwrap(), Limits::default());
        let l = Limits::from_env(|n| match n {
            "NSAUTH_LOCAL_HEADER_TIMEOUT_MS" => Some("250".into()),
            "NSAUTH_LOCAL_MAX_CONNECTIONS" => Some("8".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(l.header_timeout, Duration::from_millis(250));
        assert_eq!(l.max_connections, 8);
        for (name, v) in [
            ("NSAUTH_LOCAL_MAX_CONNECTIONS", "0"),
            ("NSAUTH_LOCAL_IDLE_TIMEOUT_MS", "soon"),
            ("NSAUTH_LOCAL_MAX_HEAD_BYTES", "4096"),
        ] {
            let err = Limits::from_env(|n| (n == name).then(|| v.to_string())).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
    }
}
