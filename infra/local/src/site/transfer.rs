//! The demo website's transfers: once logged in, its page asks the phone to confirm a
//! transfer (v2.2 transaction signing), as a bank's backend would.
//!
//! - `POST /demo/transactions` (JSON `{"amount", "benificiary" or "beneficiary",
//!   "description"}`): createTransaction for the browser session's nonce; the answer is
//!   createTransaction's, with the transaction link's QR code (`qr`, inline SVG) and the
//!   way into the phone simulator (`simulator`).
//! - `GET /demo/transactions/{tid}`: getTransactionResult, only for a transaction of this
//!   browser session (its `hsid` is the session's); 404 otherwise.
//!
//! The page (`/local/demo.js`) shows the QR code and polls the result (at once on the
//! footer's `nsauth:transaction` event), then checks the phone's signature itself with
//! WebCrypto: `pk` over the bytes of `signed`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use nsauth::ids::Nonce;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::{Ctx, cookie_nonce, method_not_allowed, response};

const PREFIX: &str = "/demo/transactions";
/// What the form can send (three bounded fields) and more.
const MAX_BODY: usize = 16 * 1024;

pub(super) fn serves(path: &str) -> bool {
    path == PREFIX || path.starts_with("/demo/transactions/")
}

fn answer(status: u16, body: &Value) -> hyper::Response<Full<Bytes>> {
    response(
        status,
        "application/json",
        Bytes::from(body.to_string()),
        None,
    )
}

fn error(status: u16, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    answer(status, &json!({ "error": code, "message": message }))
}

/// An API answer passed on: its status and JSON (or an error for a body that is not JSON).
fn passed_on(status: u16, body: &str) -> hyper::Response<Full<Bytes>> {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => answer(status, &v),
        Err(_) => error(502, "bad_answer", "the API's answer is not JSON"),
    }
}

pub(super) async fn handle(
    ctx: &Ctx<'_>,
    parts: &Parts,
    body: Incoming,
) -> hyper::Response<Full<Bytes>> {
    let Some(nonce) = cookie_nonce(ctx.demo, &parts.headers) else {
        return error(
            401,
            "no_session",
            "this browser has no demo website session: open /demo first",
        );
    };
    let path = parts.uri.path();
    if path == PREFIX {
        if parts.method != hyper::Method::POST {
            return method_not_allowed("POST");
        }
        return create(ctx, parts, body, &nonce).await;
    }
    if parts.method != hyper::Method::GET {
        return method_not_allowed("GET");
    }
    let tid = &path[PREFIX.len() + 1..];
    result(ctx, tid, &nonce).await
}

/// `POST /demo/transactions`.
async fn create(
    ctx: &Ctx<'_>,
    parts: &Parts,
    body: Incoming,
    nonce: &str,
) -> hyper::Response<Full<Bytes>> {
    // JSON only: a form of another site cannot send it without the browser asking first.
    let json_type = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !json_type {
        return error(
            415,
            "unsupported_media_type",
            "send the transfer as application/json",
        );
    }
    let read = Limited::new(body, MAX_BODY).collect();
    let bytes = match tokio::time::timeout(ctx.body_timeout, read).await {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(_)) => return error(413, "payload_too_large", "the transfer is too large"),
        Err(_) => return crate::guard::body_timeout(),
    };
    let form: Value = match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        _ => return error(400, "bad_body", "the transfer is not a JSON object"),
    };
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| form.get(*n).and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    };
    // What a website sends: its own fields, in v2.2's spelling.
    let content = json!({
        "amount": field(&["amount"]),
        "benificiary": field(&["benificiary", "beneficiary"]),
        "description": field(&["description"]),
    });
    let (status, text) = ctx
        .api(
            "POST",
            "/sessions/transactions",
            Some(nonce),
            Some(content.to_string()),
        )
        .await;
    let Ok(mut created) = serde_json::from_str::<Value>(&text) else {
        return error(502, "bad_answer", "the API's answer is not JSON");
    };
    if status != 200 {
        return answer(status, &created);
    }
    let link = created["txlink"].as_str().unwrap_or("").to_string();
    let qr = nsauth::qr::svg(&link, 200)
        .ok()
        .and_then(|s| s.find("<svg").map(|i| s[i..].to_string()))
        .unwrap_or_default();
    created["qr"] = json!(qr);
    created["simulator"] = json!(format!(
        "/phone?link={}",
        utf8_percent_encode(&link, NON_ALPHANUMERIC)
    ));
    answer(200, &created)
}

/// `GET /demo/transactions/{tid}`.
async fn result(ctx: &Ctx<'_>, tid: &str, nonce: &str) -> hyper::Response<Full<Bytes>> {
    let not_found = || {
        error(
            404,
            "not_found",
            "no such transaction in this browser session",
        )
    };
    // The tid goes into an API path: its shape first.
    if tid.len() != 43
        || !tid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return not_found();
    }
    let Ok(nonce) = Nonce::parse(Some(nonce)) else {
        return not_found();
    };
    let (status, text) = ctx
        .api("GET", &format!("/transactions/{tid}"), None, None)
        .await;
    if status != 200 {
        return passed_on(status, &text);
    }
    let Ok(result) = serde_json::from_str::<Value>(&text) else {
        return error(502, "bad_answer", "the API's answer is not JSON");
    };
    // Another browser's transaction is not this one's business.
    if result["hsid"].as_str() != Some(nonce.hsid(&ctx.demo.serverid).as_str()) {
        return not_found();
    }
    answer(200, &result)
}
