//! The website's account and user calls (SPEC section 4).

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};

use crate::account::{parse_accountid, validate_userid};
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{PathParams, page, query, query_param, required_userid, website_call};
use crate::http::response::json;
use crate::service::accounts;
use crate::service::listings::{self, ACCOUNT_COLUMNS, Column, Filter, Listing, USER_COLUMNS};

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
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        _ => Err(ApiError::invalid_field(
            "blocked",
            "must be true or false (or 1 or 0)",
        )),
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
    // v2.2 answers an invalid user name with 403; a missing one is a bad request.
    let userid = query(req).and_then(|q| match query_param(&q, "userid") {
        None => required_userid(&q),
        Some(v) => validate_userid("userid", v)
            .map_err(|e| ApiError::forbidden("invalid_userid", e.to_string())),
    });
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

/// `GET /servers/{serverid}/users/{userid}/accounts` (and `/users/{userid}`, its older
/// path): the user's accounts, a page at a time.
pub async fn get_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let userid = validate_userid("userid", params.get("userid"));
    let listing = listing(req, ACCOUNT_COLUMNS);
    json(
        StatusCode::OK,
        &listings::user_accounts(deps, &call, userid, listing).await?,
    )
}

/// `GET /servers/{serverid}/accounts?filter=&limit=&marker=&sort=`
pub async fn all_accounts(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let listing = listing(req, ACCOUNT_COLUMNS);
    let filter = query(req).and_then(|q| Filter::parse(query_param(&q, "filter")));
    json(
        StatusCode::OK,
        &listings::all_accounts(deps, &call, listing, filter).await?,
    )
}

/// `GET /servers/{serverid}/users?filter=&search=&limit=&marker=&sort=`
pub async fn users(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let listing = listing(req, USER_COLUMNS);
    let q = query(req).unwrap_or_default();
    let filter = query(req).and_then(|q| Filter::parse(query_param(&q, "filter")));
    let search = query_param(&q, "search").map(String::from);
    json(
        StatusCode::OK,
        &listings::users(deps, &call, listing, filter, search).await?,
    )
}

/// `DELETE /servers/{serverid}/users/{userid}/accounts`: the user's accounts go, none is
/// no error.
pub async fn delete_user_accounts(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let userid = validate_userid("userid", params.get("userid"));
    json(
        StatusCode::OK,
        &accounts::delete_user_accounts(deps, &call, userid).await?,
    )
}

fn listing(req: &Request, columns: &[(&str, Column)]) -> Result<Listing, ApiError> {
    let q = query(req)?;
    Listing::parse(
        query_param(&q, "limit"),
        query_param(&q, "marker"),
        query_param(&q, "sort"),
        columns,
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
