//! The WebSocket API's frames (SPEC section 8): REGISTER is answered at once from the
//! store, PROVOKE pushes with the same limits as provokeLogin, LOGOUT ends the login.
//! Malformed frames get an `ERROR` frame; nothing here panics on input.

use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::handlers::common::transition;
use crate::http::handlers::push::{last_account, provoke};
use crate::live::connections::{Connections, PostError, valid_connection_id};
use crate::live::frames::{self, ClientKind};
use crate::session::Session;

/// Connections live at most two hours (API Gateway's limit); so do subscriptions.
pub const SUBSCRIPTION_SECONDS: i64 = 2 * 3600;
/// How many sessions one connection may watch.
pub const MAX_SESSIONS_PER_CONNECTION: usize = 20;

async fn reply(conns: &dyn Connections, conn: &str, text: &str) {
    if let Err(e) = conns.post(conn, text).await
        && e != PostError::Gone
    {
        tracing::warn!(error = %e, "reply not sent");
    }
}

async fn error(conns: &dyn Connections, conn: &str, e: &ApiError) {
    reply(conns, conn, &frames::error_text(e.code(), &e.to_string())).await;
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
    let session = match deps.store.get_session(&frame.hsid).await {
        Ok(Some(s)) if s.serverid == frame.serverid => s,
        Ok(_) => {
            return reply(
                conns,
                conn,
                &frames::error_text("unknown_session", "no such session"),
            )
            .await;
        }
        Err(e) => return error(conns, conn, &e.into()).await,
    };
    let result = match frame.kind {
        ClientKind::Register => register(deps, conns, conn, &session).await,
        ClientKind::Provoke => provoke_frame(deps, &session).await,
        ClientKind::Logout => logout(deps, session).await,
    };
    if let Err(e) = result {
        error(conns, conn, &e).await;
    }
}

async fn register(
    deps: &Deps,
    conns: &dyn Connections,
    conn: &str,
    session: &Session,
) -> Result<(), ApiError> {
    let now = deps.clock.now();
    let watched = deps.store.connection_sessions(conn).await?;
    if !watched.contains(&session.hsid) {
        if watched.len() >= MAX_SESSIONS_PER_CONNECTION {
            return Err(ApiError::bad_request(
                "too_many_sessions",
                format!("a connection watches at most {MAX_SESSIONS_PER_CONNECTION} sessions"),
            ));
        }
        deps.store
            .subscribe(conn, &session.hsid, now + SUBSCRIPTION_SECONDS)
            .await?;
    }
    for f in frames::register_answer(session, now) {
        reply(conns, conn, &f.text(&session.hsid, &session.serverid)).await;
    }
    Ok(())
}

async fn provoke_frame(deps: &Deps, session: &Session) -> Result<(), ApiError> {
    let server = deps
        .store
        .get_server(&session.serverid)
        .await?
        .ok_or(ApiError::Internal)?;
    let account = last_account(deps, &server, Some(session)).await?;
    // CONFIRMPROVOKE and MATCH reach the page from the change of the session.
    provoke(deps, &server, session.clone(), vec![account], None).await?;
    Ok(())
}

async fn logout(deps: &Deps, session: Session) -> Result<(), ApiError> {
    let server = deps
        .store
        .get_server(&session.serverid)
        .await?
        .ok_or(ApiError::Internal)?;
    let settings = &server.settings;
    transition(deps, session, |s, now| Ok(s.logout(settings, now))).await?;
    Ok(())
}

/// `$disconnect`: the connection's subscriptions go (TTL would clean them up anyway).
pub async fn on_disconnect(deps: &Deps, conn: &str) {
    if !valid_connection_id(conn) {
        return;
    }
    match deps.store.connection_sessions(conn).await {
        Ok(hsids) => {
            for h in hsids {
                let _ = deps.store.unsubscribe(conn, &h).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "subscriptions not removed"),
    }
}
