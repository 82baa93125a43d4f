//! What the WebSocket frames and the stream notifier do with the store (SPEC section 8):
//! REGISTER subscribes a connection to a session, PROVOKE pushes with provokeLogin's checks
//! and limits, LOGOUT ends the login; the notifier finds a session's watchers.

use crate::deps::Deps;
use crate::error::ApiError;
use crate::ids::{Hsid, ServerId};
use crate::server::Server;
use crate::service::push::{last_account, provoke};
use crate::service::versioned;
use crate::session::Session;

/// Connections live at most two hours (API Gateway's limit); so do subscriptions.
pub const SUBSCRIPTION_SECONDS: i64 = 2 * 3600;
/// How many sessions one connection may watch.
pub const MAX_SESSIONS_PER_CONNECTION: usize = 20;

/// The session a frame names. 404 when there is none, or it is another server's: a frame
/// carries only public ids, so it learns nothing more.
async fn named_session(deps: &Deps, hsid: &Hsid, serverid: &ServerId) -> Result<Session, ApiError> {
    deps.sessions
        .get_session(hsid)
        .await?
        .filter(|s| &s.serverid == serverid)
        .ok_or_else(|| ApiError::not_found("no such session"))
}

async fn server_of(deps: &Deps, session: &Session) -> Result<Server, ApiError> {
    deps.servers
        .get_server(&session.serverid)
        .await?
        .ok_or(ApiError::Internal)
}

/// REGISTER: the connection watches the session (at most
/// [`MAX_SESSIONS_PER_CONNECTION`] per connection); answers the session, whose state the
/// frame answers at once.
pub async fn register(
    deps: &Deps,
    conn: &str,
    hsid: &Hsid,
    serverid: &ServerId,
) -> Result<Session, ApiError> {
    let session = named_session(deps, hsid, serverid).await?;
    let now = deps.clock.now();
    let watched = deps.subscriptions.connection_sessions(conn).await?;
    if !watched.contains(&session.hsid) {
        if watched.len() >= MAX_SESSIONS_PER_CONNECTION {
            return Err(ApiError::bad_request(
                "too_many_sessions",
                format!("a connection watches at most {MAX_SESSIONS_PER_CONNECTION} sessions"),
            ));
        }
        deps.subscriptions
            .subscribe(conn, &session.hsid, now + SUBSCRIPTION_SECONDS)
            .await?;
    }
    Ok(session)
}

/// PROVOKE: a push to the session's last account, with provokeLogin's checks and limits.
/// CONFIRMPROVOKE and MATCH reach the page from the change of the session.
pub async fn provoke_frame(deps: &Deps, hsid: &Hsid, serverid: &ServerId) -> Result<(), ApiError> {
    let session = named_session(deps, hsid, serverid).await?;
    let server = server_of(deps, &session).await?;
    let account = last_account(deps, &server, Some(&session)).await?;
    provoke(deps, &server, session, vec![account], None).await?;
    Ok(())
}

/// LOGOUT: ends the session's login (idempotent).
pub async fn logout_frame(deps: &Deps, hsid: &Hsid, serverid: &ServerId) -> Result<(), ApiError> {
    let session = named_session(deps, hsid, serverid).await?;
    let server = server_of(deps, &session).await?;
    let settings = &server.settings;
    versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| Ok(s.logout(settings, now)),
    )
    .await?;
    Ok(())
}

/// `$disconnect`: the connection's subscriptions go (TTL would clean them up anyway).
pub async fn disconnect(deps: &Deps, conn: &str) {
    match deps.subscriptions.connection_sessions(conn).await {
        Ok(hsids) => {
            for h in hsids {
                let _ = deps.subscriptions.unsubscribe(conn, &h).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "subscriptions not removed"),
    }
}

/// The connections watching a session.
pub async fn watchers(deps: &Deps, hsid: &Hsid) -> Result<Vec<String>, ApiError> {
    Ok(deps.subscriptions.subscribers(hsid).await?)
}

/// A watcher's connection is gone: it stops watching (best effort).
pub async fn gone(deps: &Deps, conn: &str, hsid: &Hsid) {
    if let Err(e) = deps.subscriptions.unsubscribe(conn, hsid).await {
        tracing::warn!(error = %e, "gone connection not unsubscribed");
    }
}
