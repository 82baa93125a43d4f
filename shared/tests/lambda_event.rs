//! The handlers as Lambda runs them: real API Gateway HTTP API (payload 2.0) events,
//! turned into requests by lambda_http exactly as in a deployed function.

use std::sync::Arc;

use base64::Engine;
use nsauth::Deps;
use nsauth::clock::{Clock, ManualClock};
use nsauth::config::Config;
use nsauth::http::dispatch;
use nsauth::http::routes::Function;
use nsauth::ids::Nonce;
use nsauth::service::admin;
use nsauth::settings::ServerSettings;
use nsauth::store::{MemoryStore, Store};
use serde_json::json;

fn event(method: &str, path: &str, headers: serde_json::Value, body: Option<&[u8]>) -> String {
    let (body, b64) = match body {
        Some(b) => (
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
            true,
        ),
        None => (serde_json::Value::Null, false),
    };
    json!({
        "version": "2.0",
        "routeKey": format!("{method} /servers/{{serverid}}/sessions"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api1",
            "domainName": "api1.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "api1",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "Backend/2"},
            "requestId": "r1",
            "routeKey": format!("{method} /servers/{{serverid}}/sessions"),
            "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_800_000_000_000i64
        },
        "pathParameters": {"serverid": path.split('/').nth(2).unwrap_or("")},
        "body": body,
        "isBase64Encoded": b64
    })
    .to_string()
}

async fn deps() -> (Deps, String, String) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let (server, key) = admin::create_server(
        store.as_ref(),
        ServerSettings::named("Lambda test").unwrap(),
        None,
        clock.now(),
    )
    .await
    .unwrap();
    let deps = Deps::new(
        store,
        Arc::new(nsauth::push::LocalPush::new()),
        clock,
        Arc::new(Config {
            table: "t".into(),
            api_base: None,
            ws_url: None,
            key_cache_seconds: 0,
        }),
    );
    (deps, server.serverid.to_string(), key.expose().to_string())
}

fn body_json(r: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    serde_json::from_slice(r.body().as_ref()).unwrap()
}

#[tokio::test]
async fn get_session_from_an_api_gateway_event() {
    let (deps, sid, key) = deps().await;
    let nonce = Nonce::generate();
    let path = format!("/servers/{sid}/sessions");
    let ev = event(
        "GET",
        &path,
        json!({"x-apikey": key, "x-nonce": nonce.expose(), "user-agent": "Backend/2",
               "host": "api1.execute-api.eu-west-1.amazonaws.com"}),
        None,
    );
    let req = lambda_http::request::from_str(&ev).unwrap();
    let resp = dispatch(&deps, Function::GetSession.routes(), req).await;
    assert_eq!(resp.status(), 200);
    let st = body_json(&resp);
    assert_eq!(st["state"], "pending");
    let sid = nsauth::ids::ServerId::parse(&sid).unwrap();
    let stored = deps
        .sessions
        .get_session(&nonce.hsid(&sid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.context.sessioninfo.ip, "203.0.113.9",
        "sourceIp of the event"
    );
    assert_eq!(stored.context.sessioninfo.useragent, "Backend/2");
}

#[tokio::test]
async fn create_session_with_a_base64_body() {
    let (deps, sid, key) = deps().await;
    let path = format!("/servers/{sid}/sessions");
    let ctx = br#"{"announceinfo":{"info":{"action":"Pay 10 EUR"}}}"#;
    let ev = event(
        "POST",
        &path,
        json!({"x-apikey": key, "content-type": "application/json",
               "host": "api1.execute-api.eu-west-1.amazonaws.com"}),
        Some(ctx),
    );
    let req = lambda_http::request::from_str(&ev).unwrap();
    let resp = dispatch(&deps, Function::CreateSession.routes(), req).await;
    assert_eq!(resp.status(), 201);
    let created = body_json(&resp);
    let hsid = nsauth::ids::Hsid::parse(created["hsid"].as_str().unwrap()).unwrap();
    let stored = deps.sessions.get_session(&hsid).await.unwrap().unwrap();
    assert_eq!(stored.context.announceinfo.info["action"], "Pay 10 EUR");
}

#[tokio::test]
async fn a_function_serves_only_its_own_routes() {
    let (deps, sid, key) = deps().await;
    let path = format!("/servers/{sid}/sessions");
    let ev = event(
        "GET",
        &path,
        json!({"x-apikey": key, "x-nonce": Nonce::generate().expose()}),
        None,
    );
    let req = lambda_http::request::from_str(&ev).unwrap();
    let resp = dispatch(&deps, Function::CreateSession.routes(), req).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(body_json(&resp)["error"], "method_not_allowed");
}

#[tokio::test]
async fn oversized_event_body_is_413() {
    let (deps, sid, key) = deps().await;
    let path = format!("/servers/{sid}/sessions");
    let big = vec![b' '; 64 * 1024 + 1];
    let ev = event("POST", &path, json!({"x-apikey": key}), Some(&big));
    let req = lambda_http::request::from_str(&ev).unwrap();
    let resp = dispatch(&deps, Function::CreateSession.routes(), req).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(body_json(&resp)["error"], "payload_too_large");
}

/// API Gateway sends requests no route matches to one function (the `$default` route); its
/// answer describes the whole API: 405 with the methods other functions serve, else 404.
#[tokio::test]
async fn unmatched_requests_get_the_apis_json_errors() {
    let (deps, sid, key) = deps().await;
    let path = format!("/servers/{sid}/sessions");
    let ev = event("PATCH", &path, json!({"x-apikey": key}), None);
    let req = lambda_http::request::from_str(&ev).unwrap();
    let resp = dispatch(&deps, Function::LoginBlock.routes(), req).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST, GET");
    assert_eq!(body_json(&resp)["error"], "method_not_allowed");
    let ev = event("GET", "/nope/at/all", json!({}), None);
    let req = lambda_http::request::from_str(&ev).unwrap();
    let resp = dispatch(&deps, Function::LoginBlock.routes(), req).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(body_json(&resp)["error"], "not_found");
}

#[tokio::test]
async fn nested_arrays_are_not_objects() {
    let (deps, sid, key) = deps().await;
    let path = format!("/servers/{sid}/sessions");
    let ctx = br#"{"announceinfo": [{"action":"x"}, "1.2.3.4", "ua", ""]}"#;
    let ev = event("POST", &path, json!({"x-apikey": key}), Some(ctx));
    let req = lambda_http::request::from_str(&ev).unwrap();
    let resp = dispatch(&deps, Function::CreateSession.routes(), req).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp)["error"], "invalid_field");
}
