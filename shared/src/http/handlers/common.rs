//! Pieces several handlers share: resolving the website's session, writing transitions
//! with a re-read on a lost race, and updating every session of an account.

use lambda_http::Request;
use serde::Serialize;

use crate::apikey::Permission;
use crate::clock::{UnixTime, rfc3339};
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::auth;
use crate::http::request::{body, header, origin};
use crate::http::routes::PathParams;
use crate::ids::{Hsid, Nonce, ServerId};
use crate::server::Server;
use crate::session::{Session, SessionState};
use crate::settings::ServerSettings;
use crate::store::StoreError;
use crate::usercontext::{SessionInfo, UserContext};

/// A website backend call on a session: the server, the hsid of its nonce, and the
/// session if it exists.
pub struct WebsiteSession {
    pub server: Server,
    pub hsid: Hsid,
    pub session: Option<Session>,
}

/// Checks the key (with `needs`) and the nonce, reading the session at the same time.
pub async fn website_session(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
    needs: Permission,
) -> Result<WebsiteSession, ApiError> {
    let presented = auth::presented(req, params.get("serverid"))?;
    let nonce = Nonce::parse(header(req, "x-nonce").or_else(|| {
        // Present but not visible ASCII: report it as invalid, not as missing.
        req.headers().contains_key("x-nonce").then_some("")
    }))?;
    let hsid = nonce.hsid(&presented.serverid);
    let (auth_read, session_read) = tokio::join!(
        deps.store
            .get_server_and_key(&presented.serverid, presented.key.keyid()),
        deps.store.get_session(&hsid),
    );
    let (server, record) = auth_read?;
    // The key decides before anything about the session is used or created.
    let server = auth::verify(&presented, server, record, needs)?;
    let session = session_read?
        .map(|s| own(s, &server.serverid))
        .transpose()?;
    Ok(WebsiteSession {
        server,
        hsid,
        session,
    })
}

/// The session, created as a new pending one if the nonce was never seen.
pub async fn ensure_session(
    deps: &Deps,
    ws: &WebsiteSession,
    req: &Request,
) -> Result<Session, ApiError> {
    ensure_session_with(deps, ws, req, None).await
}

/// [`ensure_session`], a new session starting with `context` when one is given.
pub async fn ensure_session_with(
    deps: &Deps,
    ws: &WebsiteSession,
    req: &Request,
    context: Option<&UserContext>,
) -> Result<Session, ApiError> {
    if let Some(s) = &ws.session {
        return Ok(s.clone());
    }
    let context = match context {
        Some(c) => c.clone(),
        None => {
            let mut c = UserContext::default();
            c.fill_from(&origin(req));
            c
        }
    };
    let fresh = Session::new_pending(
        ws.server.serverid.clone(),
        ws.hsid.clone(),
        &ws.server.settings,
        context,
        deps.clock.now(),
    );
    match deps.store.create_session(&fresh).await {
        Ok(()) => {
            tracing::info!(hsid = %fresh.hsid, "session started");
            Ok(fresh)
        }
        // Another request created it between our read and write: use theirs.
        Err(StoreError::ConditionFailed) => own(
            deps.store
                .get_session(&fresh.hsid)
                .await?
                .ok_or(ApiError::Unavailable)?,
            &ws.server.serverid,
        ),
        Err(e) => Err(e.into()),
    }
}

/// The UserContext of a call's optional body (push calls, getQrLogin, getHtmlLogin), with
/// ip and useragent filled from the request where the website left them out; `None` (no
/// body) keeps the session's.
pub fn body_context(req: &Request) -> Result<Option<UserContext>, ApiError> {
    let b = body(req);
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut ctx = UserContext::from_body(b)?;
    ctx.fill_from(&origin(req));
    Ok(Some(ctx))
}

/// A session read by hsid must belong to the server asking. Another server's session under
/// the same hsid would need a SHA-256 collision on 128 bits; refuse rather than mix them.
pub fn own(session: Session, serverid: &ServerId) -> Result<Session, ApiError> {
    if &session.serverid == serverid {
        Ok(session)
    } else {
        tracing::error!(hsid = %session.hsid, "hsid of another server");
        Err(ApiError::Internal)
    }
}

/// Applies `change` to the session and writes the result on condition that nobody wrote
/// in between; on a lost race, re-reads and applies `change` again (it decides anew, so
/// of two approvals the second sees the first and is refused). `Ok(None)`: nothing to do.
pub async fn transition<F>(
    deps: &Deps,
    mut current: Session,
    change: F,
) -> Result<Option<Session>, ApiError>
where
    F: Fn(&Session, UnixTime) -> Result<Option<Session>, ApiError>,
{
    for _ in 0..4 {
        let Some(next) = change(&current, deps.clock.now())? else {
            return Ok(None);
        };
        match deps.store.update_session(&next, current.version).await {
            Ok(()) => return Ok(Some(next)),
            Err(StoreError::ConditionFailed) => {
                current = deps
                    .store
                    .get_session(&current.hsid)
                    .await?
                    .ok_or_else(|| ApiError::not_found("the session is gone"))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(
        "conflict",
        "the session is changing too fast; retry the call",
    ))
}

/// Applies `change` to every session the account logged in to (its index), page by page.
pub async fn for_account_sessions<F>(
    deps: &Deps,
    serverid: &ServerId,
    accountid: u64,
    change: F,
) -> Result<(), ApiError>
where
    F: Fn(&Session, UnixTime) -> Option<Session>,
{
    let mut cursor: Option<String> = None;
    loop {
        let page = deps
            .store
            .account_sessions(serverid, accountid, 100, cursor.as_deref())
            .await?;
        for s in page.items {
            transition(deps, s, |cur, now| Ok(change(cur, now))).await?;
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(()),
        }
    }
}

/// A session as the phone's and the website's session lists show it.
#[derive(Serialize)]
pub struct SessionListEntry {
    pub hsid: String,
    pub state: SessionState,
    pub loggedin: bool,
    pub accountid: Option<u64>,
    pub login_at: Option<String>,
    pub expires: Option<String>,
    pub sessioninfo: SessionInfo,
}

pub fn list_entry(s: &Session, settings: &ServerSettings, now: UnixTime) -> SessionListEntry {
    let st = s.status(settings, now);
    SessionListEntry {
        hsid: s.hsid.to_string(),
        state: st.state,
        loggedin: st.loggedin,
        accountid: st.accountid,
        login_at: s.login_at.map(rfc3339),
        expires: st.expires,
        sessioninfo: s.context.sessioninfo.clone(),
    }
}

/// `limit` and `cursor` of a listing.
pub fn paging(q: &[(String, String)]) -> Result<(u32, Option<String>), ApiError> {
    use crate::http::request::query_param;
    let limit = match query_param(q, "limit") {
        None => 20,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return Err(ApiError::invalid_field("limit", "must be 1 to 100")),
        },
    };
    let cursor = match query_param(q, "cursor") {
        None | Some("") => None,
        Some(c) if crate::store::SessionCursor::decode(c).is_some() => Some(c.to_string()),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "cursor",
                "not a cursor this API handed out",
            ));
        }
    };
    Ok((limit, cursor))
}

/// 409 for a refused transition, naming the state.
pub fn refused(e: crate::session::TransitionRefused) -> ApiError {
    ApiError::conflict("session_state", format!("{e}"))
}
