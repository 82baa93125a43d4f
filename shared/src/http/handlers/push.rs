//! Push login (SPEC sections 4 and 6): provokeLogin, provokeLoginOnUser and
//! provokeLoginOnAccount.

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};

use crate::account::{parse_accountid, validate_userid};
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{PathParams, optional_user_context, session_call};
use crate::http::response::json;
use crate::service::push;

/// `POST /servers/{serverid}/sessions/provokelogin` + X-nonce: push to the session's last
/// account.
pub async fn provoke_login(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    let context = optional_user_context(req);
    json(
        StatusCode::OK,
        &push::provoke_login(deps, &call, context).await?,
    )
}

/// `POST /servers/{serverid}/users/{userid}/provokelogin` + X-nonce: push to every
/// account of the user that can be pushed.
pub async fn provoke_login_on_user(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    let userid = validate_userid("userid", params.get("userid"));
    let context = optional_user_context(req);
    json(
        StatusCode::OK,
        &push::provoke_login_on_user(deps, &call, userid, context).await?,
    )
}

/// `POST /servers/{serverid}/accounts/{accountid}/provokelogin` + X-nonce.
pub async fn provoke_login_on_account(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    let id = parse_accountid(params.get("accountid"));
    let context = optional_user_context(req);
    json(
        StatusCode::OK,
        &push::provoke_login_on_account(deps, &call, id, context).await?,
    )
}
