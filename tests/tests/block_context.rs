//! getQrLogin and getHtmlLogin with a UserContext (SPEC section 4): the v2.2 API sends it as
//! the body of the GET, and the POST alias takes the same. On both stores (concurrent
//! writes on the in-memory store and dynalite: see `on_atomic_stores`).

use nsauth::clock::Clock;
use nsauth_authenticator::Authenticator;
use nsauth_tests::{Stack, assert_error, hsid_of, http, on_atomic_stores, on_both_stores};
use reqwest::Method;
use serde_json::{Value, json};

on_both_stores!(
    block_calls_carry_the_usercontext,
    bad_contexts_are_refused_and_change_nothing,
    footer_carries_the_end_of_the_login,
);
on_atomic_stores!(concurrent_contexts_lose_no_write);

use nsauth_tests::new_nonce as nonce;

fn ctx(action: &str) -> Value {
    json!({
        "announceinfo": {"info": {"action": action}, "ip": "198.51.100.7", "useragent": "Browser/1.0"},
        "sessioninfo": {"info": {"where": "Checkout"}}
    })
}

/// A block call with a raw body (none when `body` is None): status and text.
async fn block_call(
    stack: &Stack,
    method: Method,
    what: &str,
    nonce: &str,
    body: Option<String>,
) -> (u16, String) {
    let mut req = http()
        .request(method, format!("{}/{what}", stack.sessions_url()))
        .header("X-apikey", &stack.apikey)
        .header("X-nonce", nonce);
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// A block call with the UserContext `ctx(action)` as its body: the status.
async fn with_context(stack: &Stack, method: Method, what: &str, nonce: &str, action: &str) -> u16 {
    block_call(stack, method, what, nonce, Some(ctx(action).to_string()))
        .await
        .0
}

/// The announceinfo action stored on the session of `nonce`.
async fn stored_action(stack: &Stack, nonce: &str) -> Option<String> {
    let session = stack.stored_session(nonce).await?;
    session.context.announceinfo.info.get("action").cloned()
}

async fn enrolled(stack: &Stack) -> Authenticator {
    let link = stack.enrol_link(&nonce(), "?userid=ctx-user").await;
    let mut phone = stack.phone();
    phone.enrol(&link, "Test phone", None).await.expect("enrol");
    phone
}

async fn block_calls_carry_the_usercontext(stack: Stack) {
    let phone = enrolled(&stack).await;
    let n = nonce();

    // A never-seen nonce: the POST alias of getHtmlLogin starts the session with the context.
    let (status, html) = block_call(
        &stack,
        Method::POST,
        "html/login",
        &n,
        Some(ctx("Pay 10 EUR").to_string()),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"class="nsauth-block""#), "{html}");
    assert_eq!(
        stored_action(&stack, &n).await.as_deref(),
        Some("Pay 10 EUR")
    );

    // The v2.2 way, a GET with a body, replaces the pending session's context: one write,
    // and none for the same context again. A call without a body keeps it.
    stack.counting.reset();
    let body = Some(ctx("Pay 20 EUR").to_string());
    let (status, link) = block_call(&stack, Method::GET, "qr/login", &n, body.clone()).await;
    assert_eq!(status, 200, "{link}");
    let (status, again) = block_call(&stack, Method::GET, "qr/login", &n, body).await;
    assert_eq!((status, &again), (200, &link));
    let (status, _) = block_call(&stack, Method::GET, "html/login", &n, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        stack.counting.counts().get("update_session").copied(),
        Some(1),
        "{:?}",
        stack.counting.counts()
    );
    assert_eq!(
        stored_action(&stack, &n).await.as_deref(),
        Some("Pay 20 EUR")
    );

    // The phone shows what the website gave, ip and user agent included.
    let shown = phone.show(&link).await.expect("show");
    assert_eq!(
        shown["announceinfo"]["info"]["action"], "Pay 20 EUR",
        "{shown}"
    );
    assert_eq!(shown["announceinfo"]["ip"], "198.51.100.7", "{shown}");
    assert_eq!(shown["announceinfo"]["useragent"], "Browser/1.0", "{shown}");

    // Scanned: the user decides on what was shown; a new context changes nothing.
    assert_eq!(
        with_context(&stack, Method::POST, "html/login", &n, "Pay 1000 EUR").await,
        200
    );
    assert_eq!(
        stored_action(&stack, &n).await.as_deref(),
        Some("Pay 20 EUR")
    );

    // Approved: the phone lists the session with the sessioninfo given; logged in, a
    // context changes nothing either.
    phone.approve(&link, None, None).await.expect("approve");
    let hsid = hsid_of(&stack, &n);
    let listed = phone.sessions(stack.serverid.as_str()).await.unwrap();
    let entry = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["hsid"] == hsid.as_str())
        .unwrap_or_else(|| panic!("{hsid} in {listed}"));
    assert_eq!(entry["sessioninfo"]["info"]["where"], "Checkout", "{entry}");
    assert_eq!(
        with_context(&stack, Method::POST, "qr/login", &n, "Changed").await,
        200
    );
    assert_eq!(
        stored_action(&stack, &n).await.as_deref(),
        Some("Pay 20 EUR")
    );
    assert_eq!(stack.status(&n).await["state"], "loggedin");

    // After logout the next attempt begins with the new context.
    let (status, v) = stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        with_context(&stack, Method::POST, "qr/login", &n, "Second login").await,
        200
    );
    assert_eq!(
        stored_action(&stack, &n).await.as_deref(),
        Some("Second login")
    );
    assert_eq!(stack.status(&n).await["state"], "pending");
}

async fn bad_contexts_are_refused_and_change_nothing(stack: Stack) {
    let n = nonce();
    assert_eq!(
        with_context(&stack, Method::GET, "html/login", &n, "Original").await,
        200
    );
    let too_many: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    let bad = [
        "not json".to_string(),
        "[1, 2]".to_string(),
        json!({"announceinfo": []}).to_string(),
        json!({"announceinfo": {"info": too_many}}).to_string(),
        json!({"sessioninfo": {"info": {"k": "x".repeat(513)}}}).to_string(),
    ];
    for fresh in [false, true] {
        let nonce = if fresh { nonce() } else { n.clone() };
        for body in &bad {
            for (method, what) in [
                (Method::GET, "qr/login"),
                (Method::POST, "qr/login"),
                (Method::GET, "html/login"),
                (Method::POST, "html/login"),
            ] {
                let (status, text) =
                    block_call(&stack, method.clone(), what, &nonce, Some(body.clone())).await;
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{method} {what} {body}: not JSON ({e}): {text}"));
                assert_eq!(status, 400, "{method} {what} {body}: {v}");
                let code = v["error"].as_str().unwrap_or_default();
                assert!(
                    code == "invalid_json" || code == "invalid_field",
                    "{method} {what} {body}: {v}"
                );
                assert_error(status, &v, 400, code);
            }
        }
        if fresh {
            // Refused before anything was stored: the nonce is still unknown.
            assert!(stack.stored_session(&nonce).await.is_none());
        }
    }
    assert_eq!(stored_action(&stack, &n).await.as_deref(), Some("Original"));
    // A wrong key is refused before the body is read.
    let resp = http()
        .post(format!("{}/html/login", stack.sessions_url()))
        .header(
            "X-apikey",
            "nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        )
        .header("X-nonce", &n)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

/// A logged-in page's footer carries the end of the login (session_lifetime), which writes
/// nothing when it comes: the block script asks again then (tests/browser/block.test.js).
async fn footer_carries_the_end_of_the_login(stack: Stack) {
    let n = nonce();
    let link = stack.enrol_link(&n, "?userid=footer-user").await;
    let mut phone = stack.phone();
    phone.enrol(&link, "Test phone", None).await.expect("enrol");
    assert_eq!(stack.status(&n).await["state"], "loggedin");
    let session = stack.stored_session(&n).await.unwrap();
    let (status, footer) = block_call(&stack, Method::GET, "html/footer", &n, None).await;
    assert_eq!(status, 200);
    assert!(
        footer.contains(&format!(r#"data-expires="{}""#, session.expires_at)),
        "{footer}"
    );
    // The login has ended: no watcher, and getSession agrees.
    stack
        .clock
        .advance(session.expires_at - stack.clock.now() + 1);
    assert_eq!(stack.status(&n).await["state"], "loggedout");
    let (status, footer) = block_call(&stack, Method::GET, "html/footer", &n, None).await;
    assert_eq!(status, 200);
    assert!(!footer.contains("nsauth-footer"), "{footer}");
}

/// Tabs of one browser session asking for the block at once, each with its own context:
/// every answer is the block or a JSON 409 `conflict` (the retries ran out), every 200 is
/// exactly one write, the session stays pending in the same attempt, and what is stored is
/// the context of one of the answered calls.
async fn concurrent_contexts_lose_no_write(stack: Stack) {
    let n = nonce();
    assert_eq!(
        with_context(&stack, Method::GET, "html/login", &n, "First").await,
        200
    );
    let hsid = hsid_of(&stack, &n);
    let before = stack.store().get_session(&hsid).await.unwrap().unwrap();
    let actions: Vec<String> = (0..8).map(|i| format!("Tab {i}")).collect();
    let answers = futures_util::future::join_all(actions.iter().enumerate().map(|(i, a)| {
        let method = if i % 2 == 0 {
            Method::POST
        } else {
            Method::GET
        };
        block_call(&stack, method, "html/login", &n, Some(ctx(a).to_string()))
    }))
    .await;
    let mut answered = Vec::new();
    for (action, (status, text)) in actions.iter().zip(&answers) {
        match status {
            200 => answered.push(action.clone()),
            409 => {
                let v: Value = serde_json::from_str(text).unwrap();
                assert_error(409, &v, 409, "conflict");
            }
            other => panic!("{action}: {other} {text}"),
        }
    }
    assert!(!answered.is_empty(), "{answers:?}");
    let after = stack.store().get_session(&hsid).await.unwrap().unwrap();
    assert_eq!(
        after.version - before.version,
        answered.len() as u64,
        "one write per answered call"
    );
    assert_eq!(after.expires_at, before.expires_at, "the same attempt");
    assert_eq!(stack.status(&n).await["state"], "pending");
    let action = after.context.announceinfo.info["action"].clone();
    assert!(answered.contains(&action), "{action} not in {answered:?}");
}
