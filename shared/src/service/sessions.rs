//! The website's session calls (SPEC sections 3 and 4): createSession, getSession, logout,
//! registerUser and getQrEnrol.

use serde::Serialize;

use crate::apikey::Permission;
use crate::clock::rfc3339;
use crate::deps::Deps;
use crate::enrol::{self, TOKEN_LIFETIME_SECONDS};
use crate::enrolment::EnrolToken;
use crate::error::ApiError;
use crate::ids::{Hsid, Nonce};
use crate::links;
use crate::qr::QrFormat;
use crate::server::Server;
use crate::service::Checked;
use crate::service::accounts;
use crate::service::versioned;
use crate::service::website::{self, SessionCall, WebsiteCall};
use crate::session::{LoginStatus, Session, SessionState};
use crate::store::StoreError;
use crate::usercontext::UserContext;

/// The answer of createSession.
#[derive(Debug, Serialize)]
pub struct Created {
    pub nonce: String,
    pub hsid: String,
    pub loginqrdata: String,
    pub loginurl: String,
    pub expires: String,
}

/// A session with a nonce the server picks (128 random bits), made by `build` from its
/// hsid and written unless one exists. A collision of 128 random bits does not happen; the
/// loop only makes sure that even then no existing session is overwritten.
pub(crate) async fn create_with_new_nonce(
    deps: &Deps,
    server: &Server,
    build: impl Fn(Hsid) -> Result<Session, ApiError>,
) -> Result<(Nonce, Session), ApiError> {
    for _ in 0..3 {
        let nonce = Nonce::generate();
        let session = build(nonce.hsid(&server.serverid))?;
        match deps.sessions.create_session(&session).await {
            Ok(()) => return Ok((nonce, session)),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Internal)
}

/// createSession: the server picks the nonce and starts a pending session with the
/// optional UserContext of the body (ip and useragent filled from the request).
pub async fn create(
    deps: &Deps,
    call: &WebsiteCall,
    context: Checked<UserContext>,
) -> Result<Created, ApiError> {
    let server = website::authorise(deps, &call.credentials, &[Permission::Sessions])
        .await?
        .server;
    let mut context = context?;
    context.fill_from(&call.origin);
    let now = deps.clock.now();
    let (nonce, session) = create_with_new_nonce(deps, &server, |hsid| {
        Ok(Session::new_pending(
            server.serverid.clone(),
            hsid,
            &server.settings,
            context.clone(),
            now,
        ))
    })
    .await?;
    let link = session.login_link(&server.settings);
    tracing::info!(hsid = %session.hsid, "session created");
    Ok(Created {
        nonce: nonce.expose().to_string(),
        hsid: session.hsid.to_string(),
        loginqrdata: links::login_qr_data(&link),
        loginurl: link,
        expires: rfc3339(session.expires_at),
    })
}

/// getSession: the LoginStatus. A nonce never seen before becomes a new pending session.
/// On an existing session this is one consistent read of the session (beside the key
/// check, which runs at the same time).
pub async fn status(deps: &Deps, call: &SessionCall) -> Result<LoginStatus, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let session = ws.ensure(deps, None).await?;
    Ok(session.status(&ws.server.settings, deps.clock.now()))
}

/// The website's logout: ends the login; idempotent. Answers the LoginStatus after it.
pub async fn logout(deps: &Deps, call: &SessionCall) -> Result<LoginStatus, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let session = ws.ensure(deps, None).await?;
    let settings = &ws.server.settings;
    let after = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| Ok(s.logout(settings, now)),
    )
    .await?;
    if after.state == SessionState::LoggedOut {
        tracing::info!(hsid = %after.hsid, "logged out by the website");
    }
    Ok(after.status(settings, deps.clock.now()))
}

/// registerUser: sets the userid of the account logged in to the session (and of its
/// logged-in sessions).
pub async fn register_user(
    deps: &Deps,
    call: &SessionCall,
    userid: Checked<String>,
) -> Result<LoginStatus, ApiError> {
    let ws = website::open(deps, call, &[Permission::Users]).await?;
    let userid = userid?;
    let now = deps.clock.now();
    let logged_in = ws
        .session
        .clone()
        .filter(|s| s.state_at(now) == SessionState::LoggedIn)
        .and_then(|s| Some((s.login.as_ref()?.accountid, s)));
    let Some((accountid, session)) = logged_in else {
        return Err(ApiError::conflict(
            "not_logged_in",
            "no account is logged in to this session; registerUser needs a login",
        ));
    };
    let account = accounts::set_userid(deps, &ws.server, accountid, Some(userid)).await?;
    // This session answers with the new userid at once (the update reads it again if the
    // sweep wrote it first); the account's other sessions follow with the sweep.
    let settings = &ws.server.settings;
    let session = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| Ok(s.reconciled(account.accountid, Some(&account), settings, now)),
    )
    .await?;
    Ok(session.status(settings, deps.clock.now()))
}

/// What getQrEnrol asks for: the userid and name for the new account, and the image the
/// link is wanted as (none: the link's text).
pub struct EnrolLinkRequest {
    pub userid: Option<String>,
    pub name: String,
    pub image: Option<(QrFormat, u32)>,
}

/// An enrolment link, and the image it was asked for as.
pub struct EnrolLink {
    pub link: String,
    pub image: Option<(QrFormat, u32)>,
    /// When the link's token expires.
    pub expires_at: crate::clock::UnixTime,
    /// The session's state as the link is handed out (getHtmlEnrol's block: a session
    /// logged in already stays so, and its block waits for ENROLLED rather than LOGIN).
    pub session_state: SessionState,
}

/// getQrEnrol: an enrolment link for this browser session, with a single-use token.
/// Asking for it begins a new login attempt unless one is under way or the session is
/// logged in. `api_base` is the API's public URL, which the link carries.
pub async fn enrol_link(
    deps: &Deps,
    call: &SessionCall,
    request: Checked<EnrolLinkRequest>,
    api_base: &str,
) -> Result<EnrolLink, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let request = request?;
    // A userid binds the new account to a user, as registerUser does: the same permission.
    if request.userid.is_some() {
        ws.require(Permission::Users)?;
    }
    let settings = &ws.server.settings;
    let session = ws.ensure(deps, None).await?;
    let session = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| Ok(s.begin_attempt(settings, None, now)),
    )
    .await?;
    let now = deps.clock.now();
    let token = enrol::generate_token();
    let record = EnrolToken {
        serverid: ws.server.serverid.clone(),
        token_hash: enrol::token_hash(&token),
        hsid: ws.hsid.clone(),
        userid: request.userid,
        name: request.name,
        created: now,
        expires_at: now + TOKEN_LIFETIME_SECONDS,
        used: None,
        used_by: None,
        accountid: None,
        transfer_from: None,
        remove_after: false,
        ttl: now + TOKEN_LIFETIME_SECONDS + 86_400,
    };
    deps.accounts.put_enrol_token(&record).await?;
    Ok(EnrolLink {
        link: enrol::enrol_link(&settings.link_base, &ws.server.serverid, &token, api_base),
        image: request.image,
        expires_at: now + TOKEN_LIFETIME_SECONDS,
        session_state: session.state_at(now),
    })
}
