//! DynamoDB or SNS failing under the handlers: a service that hangs or refuses connections
//! gives every caller a JSON 503 `service_unavailable` in time, and leaves stored data as it
//! was.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::lambda_runtime::Context;
use lambda_http::{Body, RequestExt};
use nsauth::Deps;
use nsauth::clock::ManualClock;
use nsauth::config::Config;
use nsauth::http::dispatch_guarded;
use nsauth::http::routes::Function;
use nsauth::push::{LocalPush, PlatformApps, SnsPush};
use nsauth::store::{DynamoStore, MemoryStore, TableSpec};
use nsauth_tests::proxy::{FaultyProxy, Mode};
use nsauth_tests::{
    START, Stack, assert_error, dynamo_client, dynamo_config, http, moto_messages, new_nonce,
    unique_name,
};

/// A DynamoDB client as the functions build it (`nsauth::aws::timeouts`), for `endpoint`.
fn client_with_production_timeouts(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        dynamo_config(endpoint)
            .timeout_config(nsauth::aws::timeouts())
            .build(),
    )
}

/// getSession's raw answer: status, Retry-After and JSON body.
async fn get_session(stack: &Stack, nonce: &str) -> (u16, Option<String>, serde_json::Value) {
    let resp = http()
        .get(stack.sessions_url())
        .header("X-apikey", &stack.apikey)
        .header("X-nonce", nonce)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, retry, body)
}

/// A website call as Lambda hands it to a function: `ms_left` before the deadline.
fn lambda_request(
    method: &str,
    uri: &str,
    apikey: &str,
    nonce: &str,
    ms_left: u64,
) -> lambda_http::Request {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut ctx = Context::default();
    ctx.deadline = now_ms + ms_left;
    lambda_http::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("X-apikey", apikey)
        .header("X-nonce", nonce)
        .body(Body::Empty)
        .unwrap()
        .with_lambda_context(ctx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_hanging_or_refusing_answers_503_and_keeps_stored_data() {
    let Some(moto) = nsauth_tests::moto() else {
        return;
    };
    let table = unique_name("nsauth-outage");
    TableSpec::create(&dynamo_client(&moto), &table, true, true)
        .await
        .expect("create table");
    let proxy = FaultyProxy::start(&moto).await;
    let store = DynamoStore::new(client_with_production_timeouts(&proxy.url), table);
    let stack = Stack::over(Arc::new(store)).await;
    let (nonce, _) = stack.new_session(None).await;
    let before = stack.status(&nonce).await;
    let unseen = new_nonce();

    for mode in [Mode::Hang, Mode::Drop] {
        proxy.set(mode);
        // In Lambda an answer after the function's 10 s timeout is no answer at all.
        let (known, fresh, created) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(
                get_session(&stack, &nonce),
                get_session(&stack, &unseen),
                stack.call(reqwest::Method::POST, "/sessions", None, None),
            )
        })
        .await
        .unwrap_or_else(|_| panic!("{mode:?}: no answer within the function's 10 s"));
        for (status, retry, body) in [known, fresh] {
            assert_error(status, &body, 503, "service_unavailable");
            assert_eq!(retry.as_deref(), Some("1"), "{mode:?}: Retry-After");
            let message = body["message"].as_str().unwrap();
            assert!(
                !message.contains("127.0.0.1") && !message.contains("dispatch"),
                "{mode:?}: the message leaks internals: {message}"
            );
        }
        assert_error(created.0, &created.1, 503, "service_unavailable");
    }

    proxy.set(Mode::Forward);
    assert_eq!(
        stack.status(&nonce).await,
        before,
        "the session is unchanged"
    );
    // The nonce first seen during the outage was not stored half-way: it starts now.
    assert_eq!(stack.status(&unseen).await["state"], "pending");
}

/// A DynamoDB that accepts connections and never answers, behind a client without any
/// timeout: only the request budget of `dispatch_guarded` can end the request, and it
/// must do so before the Lambda deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_answers_503_before_its_lambda_deadline() {
    // The upstream is never reached: the proxy hangs from its first connection on.
    let hole = FaultyProxy::start("http://127.0.0.1:9").await;
    hole.set(Mode::Hang);
    let url = hole.url.clone();
    let deps = Deps::new(
        Arc::new(DynamoStore::new(dynamo_client(&url), "never-answers")),
        Arc::new(LocalPush::new()),
        Arc::new(ManualClock::new(START)),
        Arc::new(Config {
            table: "never-answers".into(),
            api_base: None,
            ws_url: None,
            key_cache_seconds: 0,
        }),
    );
    let req = lambda_request(
        "GET",
        "/servers/AAECAwQFBgcICQoLDA0ODw/sessions",
        "nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        &new_nonce(),
        2_000,
    );

    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(20),
        dispatch_guarded(deps, Function::GetSession.routes(), req),
    )
    .await
    .expect("an answer, not a hang");
    let took = started.elapsed();

    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_error(503, &body, 503, "service_unavailable");
    // Lambda would have ended the invocation at the deadline, with no answer of ours.
    assert!(
        took < Duration::from_millis(2_000),
        "answered after {took:?}"
    );
}

/// SNS failing under a push to a user's three devices: the publishes run side by side, so
/// all three give up within one SDK operation timeout (3.5 s) and the push call answers a
/// JSON 503 itself, inside a Lambda budget (5.5 s) that three publishes one after another
/// (10.5 s) would overrun. Answering itself matters: it gives back the rate-limit counts
/// and marks no endpoint disabled, so after the outage every device is pushed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_hanging_answers_503_and_gives_the_counts_back() {
    let Some(moto) = nsauth_tests::moto() else {
        return;
    };
    let proxy = FaultyProxy::start(&moto).await;
    let app = nsauth_tests::fcm_platform_app(&nsauth_tests::sns_client(&moto)).await;
    let sns = aws_sdk_sns::Client::from_conf(
        nsauth_tests::sns_config(&proxy.url)
            .timeout_config(nsauth::aws::timeouts())
            .build(),
    );
    let push = Arc::new(SnsPush::new(
        sns,
        PlatformApps {
            fcm: Some(app),
            ..Default::default()
        },
    ));
    let stack = Stack::with_push(Arc::new(MemoryStore::new()), push, None).await;
    let mut endpoints = Vec::new();
    for i in 0..3 {
        let (_, acc, _) = stack.phone_with_push("una", &format!("tok-una-{i}")).await;
        let account = stack.stored_account(acc).await;
        endpoints.push(account.push.expect("an endpoint").endpoint_arn);
    }
    stack.set_setting("push_limit", "1").await;
    let nonce = new_nonce();
    // provokeLoginOnUser as Lambda runs it, with 6 s left before the deadline.
    let push_to_una = || async {
        let req = lambda_request(
            "POST",
            &format!("/servers/{}/users/una/provokelogin", stack.serverid),
            &stack.apikey,
            &nonce,
            6_000,
        );
        let resp = dispatch_guarded(stack.deps.clone(), Function::PushLogin.routes(), req).await;
        let retry = resp.headers().get("retry-after").cloned();
        let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        (resp.status().as_u16(), retry, body)
    };

    proxy.set(Mode::Hang);
    let (status, retry, body) = push_to_una().await;
    assert_error(status, &body, 503, "service_unavailable");
    assert_eq!(retry.as_ref().map(|v| v.as_bytes()), Some(&b"1"[..]));
    for e in &endpoints {
        assert!(moto_messages(e).await.is_empty(), "nothing reached SNS");
    }

    proxy.set(Mode::Forward);
    let (status, _, body) = push_to_una().await;
    assert_eq!(
        (status, body["pushed"].clone()),
        (200, serde_json::json!(3)),
        "every count was given back and no endpoint marked disabled: {body}"
    );
    for e in &endpoints {
        assert_eq!(moto_messages(e).await.len(), 1, "{e}");
    }
}
