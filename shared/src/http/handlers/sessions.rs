//! The website's session calls (SPEC sections 3 and 4): createSession, getSession, logout,
//! registerUser and getQrEnrol.

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};

use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{
    PathParams, api_base, enrol_link_request, query, required_userid, session_call, user_context,
    website_call,
};
use crate::http::response::{json, link_or_image};
use crate::service::sessions;

/// `POST /servers/{serverid}/sessions`
pub async fn create_session(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let created = sessions::create(deps, &call, user_context(req)).await?;
    json(StatusCode::CREATED, &created)
}

/// `GET /servers/{serverid}/sessions` + X-nonce
pub async fn get_session(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    json(StatusCode::OK, &sessions::status(deps, &call).await?)
}

/// `POST /servers/{serverid}/sessions/logout` + X-nonce
pub async fn logout(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    json(StatusCode::OK, &sessions::logout(deps, &call).await?)
}

/// `POST /servers/{serverid}/sessions/registeruser?userid=` + X-nonce
pub async fn register_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    let userid = query(req).and_then(|q| required_userid(&q));
    json(
        StatusCode::OK,
        &sessions::register_user(deps, &call, userid).await?,
    )
}

/// `GET /servers/{serverid}/sessions/qr/enrol?name=&userid=&img=&s=` + X-nonce
pub async fn qr_enrol(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    let request = query(req).and_then(|q| enrol_link_request(&q));
    let base = api_base(req, deps.config.api_base.as_deref());
    let link = sessions::enrol_link(deps, &call, request, &base).await?;
    link_or_image(link.link, link.image)
}
