//! The phone API (SPEC 5.2, 5.3): enrolment and the signed session calls.

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};

use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{
    PathParams, api_base, json_object, page, query, query_param, signed_call, user_context,
};
use crate::http::response::json;
use crate::ids::Hsid;
use crate::service::{phone, transactions};
use crate::transaction::{TransactionApproval, TransactionId};
use crate::wire::{ApproveRequest, DenyRequest, EnrolRequest, PushRegistration, TransferRequest};

fn tid(params: &PathParams) -> Result<TransactionId, ApiError> {
    TransactionId::parse(params.get("tid"))
        .ok_or_else(|| ApiError::invalid_field("tid", "not a transaction id"))
}

fn hsid(params: &PathParams) -> Result<Hsid, ApiError> {
    Hsid::parse(params.get("hsid"))
        .ok_or_else(|| ApiError::invalid_field("hsid", "not a session handle"))
}

/// `POST /app/v1/enrol`, signed with `account=new` by the key being enrolled.
pub async fn enrol(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    let body = json_object::<EnrolRequest>(req, "an enrolment JSON object");
    json(StatusCode::CREATED, &phone::enrol(deps, &call, body).await?)
}

/// `GET /app/v1/sessions/{hsid}`: what the phone shows; pending becomes scanned.
pub async fn show(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    let q = query(req)?;
    let code = phone::ScannedCode {
        t: query_param(&q, "t").map(String::from),
        m: query_param(&q, "m").map(String::from),
    };
    json(
        StatusCode::OK,
        &phone::show(deps, &call, hsid(params), &code).await?,
    )
}

/// `GET /app/v1/pushes`: the login requests pushed to this account, to fetch.
pub async fn pushes(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    json(StatusCode::OK, &phone::pending_pushes(deps, &call).await?)
}

/// `POST /app/v1/transfer` `{"remove_after"?}`: a link to enrol a new phone to this
/// account's user.
pub async fn transfer(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    let body = json_object::<TransferRequest>(req, r#"{"remove_after": false}"#);
    let base = api_base(req, deps.config.api_base.as_deref());
    json(
        StatusCode::CREATED,
        &phone::transfer(deps, &call, body, &base).await?,
    )
}

/// `POST /app/v1/sessions/{hsid}/approve`
pub async fn approve(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    let body = json_object::<ApproveRequest>(req, "a JSON object");
    json(
        StatusCode::OK,
        &phone::approve(deps, &call, hsid(params), body).await?,
    )
}

/// `POST /app/v1/sessions/{hsid}/deny`
pub async fn deny(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    let body = json_object::<DenyRequest>(req, r#"{"reason": "user" | "fraud"}"#);
    json(
        StatusCode::OK,
        &phone::deny(deps, &call, hsid(params), body).await?,
    )
}

/// `POST /app/v1/sessions/{hsid}/logout`
pub async fn logout(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    json(
        StatusCode::OK,
        &phone::logout(deps, &call, hsid(params)).await?,
    )
}

/// `GET /app/v1/sessions?limit=&cursor=`: this account's sessions, newest login first.
pub async fn list(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    json(
        StatusCode::OK,
        &phone::sessions(deps, &call, page(req)).await?,
    )
}

/// `POST /app/v1/inapp`: a new session, already logged in for this account.
pub async fn inapp(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    json(
        StatusCode::CREATED,
        &phone::inapp(deps, &call, user_context(req)).await?,
    )
}

/// `PUT /app/v1/push` `{"platform", "token"}`: a new push token.
pub async fn push_token(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    let body = json_object::<PushRegistration>(req, r#"{"platform", "token"}"#);
    json(StatusCode::OK, &phone::set_push(deps, &call, body).await?)
}

/// `DELETE /app/v1/account`: the phone removes its own account.
pub async fn delete_account(
    deps: &Deps,
    _params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    json(StatusCode::OK, &phone::remove(deps, &call).await?)
}

/// `GET /app/v1/transactions/{tid}`: what the phone shows, and the text to sign.
pub async fn show_transaction(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    json(
        StatusCode::OK,
        &transactions::show(deps, &call, tid(params)).await?,
    )
}

/// `POST /app/v1/transactions/{tid}/approve` `{"signature"}`
pub async fn approve_transaction(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    let body = json_object::<TransactionApproval>(req, r#"{"signature": "<base64url r||s>"}"#);
    json(
        StatusCode::OK,
        &transactions::approve(deps, &call, tid(params), body).await?,
    )
}

/// `POST /app/v1/transactions/{tid}/decline`
pub async fn decline_transaction(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = signed_call(req)?;
    json(
        StatusCode::OK,
        &transactions::decline(deps, &call, tid(params)).await?,
    )
}
