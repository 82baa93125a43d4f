//! What the WebSocket frames and the stream notifier do with the store (SPEC section 8):
//! REGISTER subscribes a connection to a session, PROVOKE pushes with provokeLogin's checks
//! and limits, LOGOUT ends the login; the notifier finds a session's watchers.
//!
//! The hsid is public (it is in the QR code), so it proves nothing. REGISTER only reads
//! state and stays open; PROVOKE and LOGOUT act, and need the page's live token
//! ([`Server::live_token`]), which only pages the website rendered with its API key hold.
//! A page's PROVOKEs also have limits of their own, per session and per connection.

use crate::deps::Deps;
use crate::error::ApiError;
use crate::ids::{Hsid, ServerId};
use crate::server::Server;
use crate::service::limits::{self, Window};
use crate::service::push::{last_account, provoke, push_window};
use crate::service::versioned;
use crate::session::Session;
use crate::store::{Counted, SUBSCRIPTION_SECONDS, StoreError};

/// How many sessions one connection may watch.
pub const MAX_SESSIONS_PER_CONNECTION: usize = 20;
/// PROVOKE frames a session's pages may send per `push_window` (besides the account's
/// `push_limit`, which every push counts against).
pub const PAGE_PUSHES_PER_SESSION: u32 = 3;
/// PROVOKE frames one connection may send per `push_window`, whatever sessions it names.
pub const PAGE_PUSHES_PER_CONNECTION: u32 = 10;

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
    // Read before subscribing, so that made-up hsids cost no writes.
    named_session(deps, hsid, serverid).await?;
    let now = deps.clock.now();
    match deps
        .subscriptions
        .subscribe(
            conn,
            hsid,
            now + SUBSCRIPTION_SECONDS,
            MAX_SESSIONS_PER_CONNECTION,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(ApiError::bad_request(
                "too_many_sessions",
                format!("a connection watches at most {MAX_SESSIONS_PER_CONNECTION} sessions"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // And read again: a change written between the first read and the subscription reached
    // no watcher, so the answer must be the state as it is now.
    named_session(deps, hsid, serverid).await
}

/// The session a PROVOKE or LOGOUT frame names and its server, if `token` is the live
/// token of the session's current attempt (401 `bad_token` otherwise).
async fn page_session(
    deps: &Deps,
    hsid: &Hsid,
    serverid: &ServerId,
    token: Option<&str>,
) -> Result<(Session, Server), ApiError> {
    let session = named_session(deps, hsid, serverid).await?;
    let server = server_of(deps, &session).await?;
    check_token(&server, &session, token)?;
    Ok((session, server))
}

/// 401 `bad_token` unless `token` is the live token of the session's current attempt.
fn check_token(server: &Server, session: &Session, token: Option<&str>) -> Result<(), ApiError> {
    match token {
        Some(t) if server.is_live_token(&session.hsid, session.attempt, t) => Ok(()),
        _ => Err(ApiError::unauthorized(
            "bad_token",
            "PROVOKE and LOGOUT need the live token of a page the website rendered for this \
             session and attempt (the block's or footer's data-token); reload the page",
        )),
    }
}

/// The counters of a page's PROVOKE: its session's and its connection's.
fn page_counters<'a>(conn: &'a str, hsid: &'a Hsid) -> [(Counted<'a>, u32); 2] {
    [
        (Counted::Session(hsid), PAGE_PUSHES_PER_SESSION),
        (Counted::Connection(conn), PAGE_PUSHES_PER_CONNECTION),
    ]
}

/// Counts a page's PROVOKE against its own limits; 429 `push_rate_limited` past either
/// (and then neither is counted).
async fn count_page_push(
    deps: &Deps,
    server: &Server,
    conn: &str,
    hsid: &Hsid,
) -> Result<Window, ApiError> {
    let now = deps.clock.now();
    let window = push_window(&server.settings, now);
    let mut taken = Vec::new();
    for (counted, limit) in page_counters(conn, hsid) {
        let refusal = match limits::take(deps, &server.serverid, counted, window, limit).await {
            Ok(true) => {
                taken.push(counted);
                continue;
            }
            Ok(false) => limits::refused(
                "push_rate_limited",
                format!(
                    "a page may send at most {PAGE_PUSHES_PER_SESSION} PROVOKE frames per \
                     session and {PAGE_PUSHES_PER_CONNECTION} per connection in {} s",
                    server.settings.push_window
                ),
                window,
                now,
            ),
            Err(e) => e,
        };
        for counted in taken {
            limits::adjust(deps, &server.serverid, counted, window, -1).await;
        }
        return Err(refusal);
    }
    Ok(window)
}

/// PROVOKE: a push to the session's last account, from a page the website rendered (its
/// live token), within the page's limits and then provokeLogin's checks and limits.
/// CONFIRMPROVOKE and MATCH reach the page from the change of the session.
pub async fn provoke_frame(
    deps: &Deps,
    conn: &str,
    hsid: &Hsid,
    serverid: &ServerId,
    token: Option<&str>,
) -> Result<(), ApiError> {
    let (session, server) = page_session(deps, hsid, serverid, token).await?;
    let account = last_account(deps, &server, Some(&session)).await?;
    let window = count_page_push(deps, &server, conn, hsid).await?;
    if let Err(e) = provoke(deps, &server, session, vec![account], None).await {
        // Nothing was pushed: the page's counts go back too.
        for (counted, _) in page_counters(conn, hsid) {
            limits::adjust(deps, &server.serverid, counted, window, -1).await;
        }
        return Err(e);
    }
    Ok(())
}

/// LOGOUT: ends the session's login (idempotent), from a page the website rendered.
pub async fn logout_frame(
    deps: &Deps,
    hsid: &Hsid,
    serverid: &ServerId,
    token: Option<&str>,
) -> Result<(), ApiError> {
    let (session, server) = page_session(deps, hsid, serverid, token).await?;
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
