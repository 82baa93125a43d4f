//! The WebSocket API's frames (SPEC section 8): REGISTER is answered at once from the
//! store, PROVOKE pushes with the same limits as provokeLogin, LOGOUT ends the login.
//! Malformed frames get an `ERROR` frame; nothing here panics on input.

use crate::deps::Deps;
use crate::error::ApiError;
use crate::live::connections::{Connections, PostError, valid_connection_id};
use crate::live::frames::{self, ClientKind};
use crate::service::live;

async fn reply(conns: &dyn Connections, conn: &str, text: &str) {
    if let Err(e) = conns.post(conn, text).await
        && e != PostError::Gone
    {
        tracing::warn!(error = %e, "reply not sent");
    }
}

/// An error as an `ERROR` frame; a session the frame cannot name is `unknown_session`.
fn error_frame(e: &ApiError) -> String {
    match e {
        ApiError::NotFound(_) => frames::error_text("unknown_session", "no such session"),
        e => frames::error_text(e.code(), &e.to_string()),
    }
}

/// Handles one text frame from connection `conn`; replies go through `conns`.
pub async fn on_frame(deps: &Deps, conns: &dyn Connections, conn: &str, text: &str) {
    if !valid_connection_id(conn) {
        tracing::warn!("frame from an invalid connection id");
        return;
    }
    let frame = match frames::parse_client(text) {
        Ok(f) => f,
        Err((code, msg)) => return reply(conns, conn, &frames::error_text(code, &msg)).await,
    };
    let (hsid, serverid) = (&frame.hsid, &frame.serverid);
    let result = match frame.kind {
        ClientKind::Register => match live::register(deps, conn, hsid, serverid).await {
            Ok(session) => {
                for f in frames::register_answer(&session, deps.clock.now()) {
                    reply(conns, conn, &f.text(hsid, serverid)).await;
                }
                Ok(())
            }
            Err(e) => Err(e),
        },
        ClientKind::Provoke => {
            live::provoke_frame(deps, conn, hsid, serverid, frame.token.as_deref()).await
        }
        ClientKind::Logout => {
            live::logout_frame(deps, hsid, serverid, frame.token.as_deref()).await
        }
    };
    if let Err(e) = result {
        reply(conns, conn, &error_frame(&e)).await;
    }
}

/// `$disconnect`: the connection's subscriptions go (TTL would clean them up anyway).
pub async fn on_disconnect(deps: &Deps, conn: &str) {
    if valid_connection_id(conn) {
        live::disconnect(deps, conn).await;
    }
}
