//! The website's transaction calls (v2.2 createTransaction, getTransactionResult).

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};

use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{PathParams, json_object, session_call, website_call};
use crate::http::response::json;
use crate::service::transactions;
use crate::transaction::{TransactionContent, TransactionId};

/// `POST /servers/{serverid}/sessions/transactions` + X-nonce, body
/// `{"amount", "benificiary", "description"}`: 200 (as v2.2 has it) with the id.
pub async fn create_transaction(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    let body = json_object::<TransactionContent>(
        req,
        r#"a Transaction {"amount", "benificiary", "description"}"#,
    );
    json(
        StatusCode::OK,
        &transactions::create(deps, &call, body).await?,
    )
}

/// `GET /servers/{serverid}/transactions/{transactionid}`
pub async fn transaction_result(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let tid = TransactionId::parse(params.get("transactionid"))
        .ok_or_else(|| ApiError::invalid_field("transactionid", "not a transaction id"));
    json(
        StatusCode::OK,
        &transactions::result(deps, &call, tid).await?,
    )
}
