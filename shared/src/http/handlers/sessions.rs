//! The website's session calls (SPEC sections 3 and 4): createSession, getSession, logout,
//! registerUser and getQrEnrol.

use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use lambda_http::{Body, Request};
use serde::Serialize;

use super::common::{self, ensure_session, website_session};
use crate::account::{MAX_DESCRIPTION_CHARS, validate_userid};
use crate::apikey::Permission;
use crate::clock::rfc3339;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::auth;
use crate::http::request::{api_base, body, origin, query, query_param};
use crate::http::response::json;
use crate::http::routes::PathParams;
use crate::ids::Nonce;
use crate::links;
use crate::phone::enrol::{self, EnrolToken, TOKEN_LIFETIME_SECONDS};
use crate::qr::{self, QrFormat};
use crate::session::{Session, SessionState};
use crate::store::StoreError;
use crate::usercontext::UserContext;

#[derive(Serialize)]
struct Created<'a> {
    nonce: &'a str,
    hsid: &'a str,
    loginqrdata: String,
    loginurl: String,
    expires: String,
}

/// `POST /servers/{serverid}/sessions`: the server picks a 128-bit nonce and starts a
/// pending session with the optional UserContext of the body.
pub async fn create_session(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let presented = auth::presented(req, params.get("serverid"))?;
    let (server, record) = deps
        .store
        .get_server_and_key(&presented.serverid, presented.key.keyid())
        .await?;
    let server = auth::verify(&presented, server, record, Permission::Sessions)?;
    let mut context = UserContext::from_body(body(req))?;
    context.fill_from(&origin(req));
    let now = deps.clock.now();
    // A collision of 128 random bits does not happen; the loop only makes sure that even
    // then no existing session is overwritten.
    for _ in 0..3 {
        let nonce = Nonce::generate();
        let hsid = nonce.hsid(&server.serverid);
        let session = Session::new_pending(
            server.serverid.clone(),
            hsid,
            &server.settings,
            context.clone(),
            now,
        );
        match deps.store.create_session(&session).await {
            Ok(()) => {
                let link = session.login_link(&server.settings);
                tracing::info!(hsid = %session.hsid, "session created");
                return json(
                    StatusCode::CREATED,
                    &Created {
                        nonce: nonce.expose(),
                        hsid: session.hsid.as_str(),
                        loginqrdata: links::login_qr_data(&link),
                        loginurl: link,
                        expires: rfc3339(session.expires_at),
                    },
                );
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Internal)
}

/// `GET /servers/{serverid}/sessions` + X-nonce: the LoginStatus. A nonce never seen
/// before becomes a new pending session. On an existing session this is one consistent
/// read of the session (beside the key check, which runs at the same time).
pub async fn get_session(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let ws = website_session(deps, params, req, Permission::Sessions).await?;
    let session = ensure_session(deps, &ws, req).await?;
    json(
        StatusCode::OK,
        &session.status(&ws.server.settings, deps.clock.now()),
    )
}

/// `POST /servers/{serverid}/sessions/logout` + X-nonce: ends the login; idempotent.
/// Answers the LoginStatus after it.
pub async fn logout(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let ws = website_session(deps, params, req, Permission::Sessions).await?;
    let session = ensure_session(deps, &ws, req).await?;
    let settings = &ws.server.settings;
    let after = common::transition(deps, session.clone(), |s, now| Ok(s.logout(settings, now)))
        .await?
        .unwrap_or(session);
    if after.state == SessionState::LoggedOut {
        tracing::info!(hsid = %after.hsid, "logged out by the website");
    }
    json(StatusCode::OK, &after.status(settings, deps.clock.now()))
}

/// `POST /servers/{serverid}/sessions/registeruser?userid=` + X-nonce: sets the userid of
/// the account logged in to the session (and of its logged-in sessions).
pub async fn register_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let ws = website_session(deps, params, req, Permission::Users).await?;
    let q = query(req)?;
    let userid = validate_userid(
        "userid",
        query_param(&q, "userid")
            .ok_or_else(|| ApiError::invalid_field("userid", "is required"))?,
    )?;
    let now = deps.clock.now();
    let login = ws
        .session
        .as_ref()
        .filter(|s| s.state_at(now) == SessionState::LoggedIn)
        .and_then(|s| s.login.clone())
        .ok_or_else(|| {
            ApiError::conflict(
                "not_logged_in",
                "no account is logged in to this session; registerUser needs a login",
            )
        })?;
    super::accounts::set_userid(deps, &ws.server, login.accountid, Some(userid)).await?;
    let session = deps
        .store
        .get_session(&ws.hsid)
        .await?
        .ok_or(ApiError::Unavailable)?;
    json(
        StatusCode::OK,
        &session.status(&ws.server.settings, deps.clock.now()),
    )
}

/// `GET /servers/{serverid}/sessions/qr/enrol?name=&userid=&img=&s=` + X-nonce: an
/// enrolment link (or its QR image) for this browser session. Asking for it begins a new
/// login attempt unless one is under way or the session is logged in.
pub async fn qr_enrol(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let ws = website_session(deps, params, req, Permission::Sessions).await?;
    let q = query(req)?;
    let image = qr::image_params(query_param(&q, "img"), query_param(&q, "s"))?;
    let userid = query_param(&q, "userid")
        .filter(|u| !u.is_empty())
        .map(|u| validate_userid("userid", u))
        .transpose()?;
    let name = query_param(&q, "name").unwrap_or("").trim().to_string();
    if name.chars().count() > MAX_DESCRIPTION_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "name",
            format!("at most {MAX_DESCRIPTION_CHARS} characters, no control characters"),
        ));
    }
    let settings = &ws.server.settings;
    let session = ensure_session(deps, &ws, req).await?;
    common::transition(deps, session, |s, now| {
        Ok(s.begin_attempt(settings, None, now))
    })
    .await?;
    let now = deps.clock.now();
    let token = enrol::generate_token();
    let record = EnrolToken {
        serverid: ws.server.serverid.clone(),
        token_hash: enrol::token_hash(&token),
        hsid: ws.hsid.clone(),
        userid,
        name,
        created: now,
        expires_at: now + TOKEN_LIFETIME_SECONDS,
        used: None,
        ttl: now + TOKEN_LIFETIME_SECONDS + 86_400,
    };
    deps.store.put_enrol_token(&record).await?;
    let link = enrol::enrol_link(
        &settings.link_base,
        &ws.server.serverid,
        &token,
        &api_base(req, deps.config.api_base.as_deref()),
    );
    link_or_image(link, image)
}

/// The raw link as text, or its QR code.
pub fn link_or_image(
    link: String,
    image: Option<(QrFormat, u32)>,
) -> Result<Response<Body>, ApiError> {
    let (body, content_type) = match image {
        None => (Body::Text(link), "text/plain; charset=utf-8"),
        Some((QrFormat::Svg, s)) => (Body::Text(qr::svg(&link, s)?), QrFormat::Svg.content_type()),
        Some((QrFormat::Png, s)) => (
            Body::Binary(qr::png(&link, s)?),
            QrFormat::Png.content_type(),
        ),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
