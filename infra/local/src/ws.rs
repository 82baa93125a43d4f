//! The local stack's WebSocket endpoint (`/ws`): frames go to the same handler the
//! `websocket` function runs, and the store's change feed is turned into frames by the
//! same code the notifier runs on DynamoDB Streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use nsauth::Deps;
use nsauth::live::connections::{Connections, PostError};
use nsauth::live::{frames, notifier, websocket};
use nsauth::store::SessionChange;
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Open connections by id, each with the channel its socket task writes from.
#[derive(Default, Clone)]
pub struct LocalConnections {
    open: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>,
}

#[async_trait]
impl Connections for LocalConnections {
    async fn post(&self, conn: &str, text: &str) -> Result<(), PostError> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.get(conn) {
            Some(tx) => tx.send(text.to_string()).map_err(|_| PostError::Gone),
            None => Err(PostError::Gone),
        }
    }
}

pub fn is_upgrade(req: &hyper::Request<Incoming>) -> bool {
    req.uri().path() == "/ws"
        && req
            .headers()
            .get(hyper::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers the upgrade and runs the connection on its own task.
pub fn upgrade(
    deps: Deps,
    conns: LocalConnections,
    mut req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return crate::guard::refusal(
            hyper::StatusCode::BAD_REQUEST,
            "bad_request",
            "a WebSocket upgrade needs Sec-WebSocket-Key",
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    tokio::spawn(async move {
        match hyper::upgrade::on(&mut req).await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                serve_socket(deps, conns, socket).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut r = hyper::Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        hyper::header::UPGRADE,
        hyper::http::HeaderValue::from_static("websocket"),
    );
    h.insert(
        hyper::header::CONNECTION,
        hyper::http::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = hyper::http::HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    r
}

async fn serve_socket<S>(deps: Deps, conns: LocalConnections, socket: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let id = nsauth::ids::b64url(&nsauth::ids::random_bytes::<9>());
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    conns
        .open
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.clone(), tx);
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
    });
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Text(t)) => websocket::on_frame(&deps, &conns, &id, t.as_str()).await,
            Ok(Message::Binary(_)) => {
                let _ = conns
                    .post(&id, &frames::error_text("bad_frame", "text frames only"))
                    .await;
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    conns
        .open
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    websocket::on_disconnect(&deps, &id).await;
    writer.abort();
}

/// Turns the store's change feed into frames for the watchers, as the notifier does.
pub async fn notify(
    deps: Deps,
    conns: LocalConnections,
    mut changes: broadcast::Receiver<SessionChange>,
) {
    loop {
        let (old, new) = match changes.recv().await {
            Ok(c) => c,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "change feed lagged");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if let Err(e) =
            notifier::tell_watchers(&deps, &conns, old.as_ref(), &new, deps.clock.now()).await
        {
            tracing::warn!(error = %e, "change not delivered");
        }
    }
}
