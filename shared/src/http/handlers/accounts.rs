//! The website's account and user calls (SPEC section 4).

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};

use crate::account::{parse_accountid, validate_userid};
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{PathParams, page, query, query_param, required_userid, website_call};
use crate::http::response::json;
use crate::service::accounts;

/// `GET /servers/{serverid}/accounts/{accountid}`
pub async fn get_account(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let id = parse_accountid(params.get("accountid"));
    json(StatusCode::OK, &accounts::get(deps, &call, id).await?)
}

/// `PUT /servers/{serverid}/accounts/{accountid}?blocked=true|false`
pub async fn update_account(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let id = parse_accountid(params.get("accountid"));
    let blocked = query(req).and_then(|q| match query_param(&q, "blocked") {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        _ => Err(ApiError::invalid_field("blocked", "must be true or false")),
    });
    json(
        StatusCode::OK,
        &accounts::update_blocked(deps, &call, id, blocked).await?,
    )
}

/// `DELETE /servers/{serverid}/accounts/{accountid}`
pub async fn delete_account(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let id = parse_accountid(params.get("accountid"));
    json(StatusCode::OK, &accounts::delete(deps, &call, id).await?)
}

/// `PUT /servers/{serverid}/accounts/{accountid}/user?userid=`
pub async fn update_account_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let id = parse_accountid(params.get("accountid"));
    let userid = query(req).and_then(|q| required_userid(&q));
    json(
        StatusCode::OK,
        &accounts::update_user(deps, &call, id, userid).await?,
    )
}

/// `GET /servers/{serverid}/accounts/{accountid}/sessions?limit=&cursor=`
pub async fn account_sessions(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let id = parse_accountid(params.get("accountid"));
    json(
        StatusCode::OK,
        &accounts::sessions(deps, &call, id, page(req)).await?,
    )
}

/// `GET /servers/{serverid}/users/{userid}`
pub async fn get_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let userid = validate_userid("userid", params.get("userid"));
    json(
        StatusCode::OK,
        &accounts::get_user(deps, &call, userid).await?,
    )
}

/// `DELETE /servers/{serverid}/users/{userid}`: removes every account of the user.
pub async fn delete_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let userid = validate_userid("userid", params.get("userid"));
    json(
        StatusCode::OK,
        &accounts::delete_user(deps, &call, userid).await?,
    )
}
