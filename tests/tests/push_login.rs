//! Push login (SPEC sections 4 and 6): what is published (read back from moto's record of
//! SNS, or the local outbox), who is reached, the rate limit under concurrency, the fraud
//! block and number matching.

use std::sync::Arc;

use nsauth::ids::Nonce;
use nsauth_tests::{Stack, moto_messages};
use reqwest::Method;
use serde_json::{Value, json};

use nsauth_tests::new_nonce as nonce;

fn hsid_of(stack: &Stack, nonce: &str) -> String {
    Nonce::parse(Some(nonce))
        .unwrap()
        .hsid(&stack.serverid)
        .to_string()
}

fn login_link(stack: &Stack, nonce: &str) -> String {
    format!(
        "nsauth://login/{}/{}",
        stack.serverid,
        hsid_of(stack, nonce)
    )
}

async fn provoke(stack: &Stack, path: &str, nonce: &str, ctx: Option<Value>) -> (u16, Value) {
    stack.call(Method::POST, path, Some(nonce), ctx).await
}

/// provokeLoginOnAccount on a new browser session.
async fn push_account(stack: &Stack, accountid: u64) -> (u16, Value) {
    let path = format!("/accounts/{accountid}/provokelogin");
    provoke(stack, &path, &nonce(), None).await
}

async fn endpoint_of(stack: &Stack, accountid: u64) -> String {
    stack
        .stored_account(accountid)
        .await
        .push
        .unwrap()
        .endpoint_arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provoke_login_publishes_one_complete_message_on_moto() {
    let Some((stack, _sns, _app)) = Stack::moto_with_sns().await else {
        return;
    };
    let (phone, acc, n) = stack.phone_with_push("alice", "device-token-A").await;
    let endpoint = endpoint_of(&stack, acc).await;
    // After the first login, the website logs out; then it pushes a new login.
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    assert!(moto_messages(&endpoint).await.is_empty());
    let ctx = json!({"announceinfo": {"info": {"action": "Log in to Demo"}, "ip": "198.51.100.7"},
                     "sessioninfo": {"info": {"browser": "Firefox"}}});
    let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, Some(ctx)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["pushed"], 1);
    let number = v["match"]
        .as_str()
        .expect("number matching is on for pushes")
        .to_string();
    let st = stack.status(&n).await;
    assert_eq!(
        (st["state"].clone(), st["match"].clone()),
        (json!("pending"), json!(number))
    );

    let msgs = moto_messages(&endpoint).await;
    assert_eq!(msgs.len(), 1, "exactly one message: {msgs:?}");
    let m = &msgs[0];
    let raw = m.to_string();
    for secret in [n.as_str(), stack.apikey.as_str(), "alice", "nsk_"] {
        assert!(!raw.contains(secret), "the push must not carry {secret:?}");
    }
    let hsid = hsid_of(&stack, &n);
    let apns: Value = serde_json::from_str(m["APNS"].as_str().unwrap()).unwrap();
    assert_eq!(m["APNS_SANDBOX"], m["APNS"]);
    assert_eq!(apns["aps"]["alert"]["title"], "Demo website");
    assert_eq!(
        apns["aps"]["alert"]["body"],
        "Log in to Demo (from 198.51.100.7)"
    );
    assert_eq!(apns["aps"]["mutable-content"], 1);
    let ns = &apns["nsauth"];
    assert_eq!(ns["serverid"], stack.serverid.to_string());
    assert_eq!(ns["hsid"], hsid);
    assert_eq!(ns["servername"], "Demo website");
    assert_eq!(ns["announceinfo"]["info"]["action"], "Log in to Demo");
    let choices: Vec<String> = serde_json::from_value(ns["choices"].clone()).unwrap();
    assert_eq!(choices.len(), 3);
    assert!(choices.contains(&number));
    let fcm: Value = serde_json::from_str(m["GCM"].as_str().unwrap()).unwrap();
    let msg = &fcm["fcmV1Message"]["message"];
    let data = &msg["data"];
    assert_eq!(data["hsid"], hsid);
    assert_eq!(data["serverid"], stack.serverid.to_string());
    assert_eq!(data["servername"], "Demo website");
    assert_eq!(data["title"], "Demo website");
    assert_eq!(data["body"], "Log in to Demo (from 198.51.100.7)");
    assert_eq!(data["choices"], choices.join(","));
    let announce: Value = serde_json::from_str(data["announceinfo"].as_str().unwrap()).unwrap();
    assert_eq!(announce, ns["announceinfo"]);
    assert_eq!(
        msg["android"]["ttl"], "300s",
        "the session's remaining login time"
    );
    assert_eq!(msg["android"]["collapse_key"], hsid);
    assert_eq!(msg["android"]["priority"], "high");

    // The phone completes the login from the pushed hsid, picking the right number.
    let link = format!(
        "nsauth://login/{}/{}",
        ns["serverid"].as_str().unwrap(),
        ns["hsid"].as_str().unwrap()
    );
    let shown = phone.show(&link).await.unwrap();
    assert_eq!(shown["choices"], json!(choices));
    assert_eq!(shown["announceinfo"]["info"]["action"], "Log in to Demo");
    phone.approve(&link, Some(&number), None).await.unwrap();
    let st = stack.status(&n).await;
    assert_eq!(
        (st["loggedin"].clone(), st["accountid"].clone()),
        (json!(true), json!(acc))
    );
    assert!(
        st.get("match").is_none(),
        "no match once the attempt is over: {st}"
    );
    let a = stack
        .call(Method::GET, &format!("/accounts/{acc}"), None, None)
        .await
        .1;
    // v2.2's Account: int64 milliseconds since the epoch.
    assert_eq!(a["lastprovoke"], json!(nsauth_tests::START * 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limit_holds_under_concurrency_on_moto() {
    // The counters on dynalite (atomic conditional writes, as DynamoDB), the pushes on
    // moto's SNS: moto's DynamoDB does not lock an item between condition and write.
    let Some((stack, _sns, _app)) = Stack::dynalite_with_moto_sns().await else {
        return;
    };
    let stack = Arc::new(stack);
    let (_phone, acc, _) = stack.phone_with_push("rita", "device-token-R").await;
    let endpoint = endpoint_of(&stack, acc).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let stack = stack.clone();
        tasks.push(tokio::spawn(async move {
            let n = nonce();
            let resp = nsauth_tests::http()
                .post(format!(
                    "{}/accounts/{acc}/provokelogin",
                    stack.sessions_url().trim_end_matches("/sessions")
                ))
                .header("X-apikey", &stack.apikey)
                .header("X-nonce", &n)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = resp.json().await.unwrap();
            (status, retry, body)
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert_eq!(body["error"], "push_rate_limited");
                assert_eq!(
                    retry.as_deref(),
                    Some("600"),
                    "the window ends 600 s after START"
                );
            }
            s => panic!("unexpected {s}: {body}"),
        }
    }
    assert_eq!((ok, limited), (5, 15));
    assert_eq!(
        moto_messages(&endpoint).await.len(),
        5,
        "never more than push_limit published"
    );
    // Later in the window the wait is shorter; after it, pushes work again.
    stack.clock.advance(590);
    let (status, v) = push_account(&stack, acc).await;
    assert_eq!(
        (status, v["error"].clone()),
        (429, json!("push_rate_limited")),
        "{v}"
    );
    stack.clock.advance(10);
    let (status, v) = push_account(&stack, acc).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(moto_messages(&endpoint).await.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_endpoint_is_skipped_and_marked_on_moto() {
    let Some((stack, sns, _app)) = Stack::moto_with_sns().await else {
        return;
    };
    let (_p1, a1, _) = stack.phone_with_push("sam", "device-token-S1").await;
    let (_p2, a2, _) = stack.phone_with_push("sam", "device-token-S2").await;
    let e1 = endpoint_of(&stack, a1).await;
    let e2 = endpoint_of(&stack, a2).await;
    sns.set_endpoint_attributes()
        .endpoint_arn(&e1)
        .attributes("Enabled", "false")
        .send()
        .await
        .unwrap();
    let (status, v) = provoke(&stack, "/users/sam/provokelogin", &nonce(), None).await;
    assert_eq!(
        (status, v["pushed"].clone()),
        (200, json!(1)),
        "the other account is still reached: {v}"
    );
    assert_eq!(moto_messages(&e2).await.len(), 1);
    let acc1 = stack
        .store()
        .get_account(&stack.serverid, a1)
        .await
        .unwrap()
        .unwrap();
    assert!(
        acc1.push.unwrap().disabled,
        "marked disabled on the account"
    );
    // Next time it is skipped without a publish; a new token brings it back.
    let (status, v) = push_account(&stack, a1).await;
    assert_eq!(
        (status, v["error"].clone()),
        (409, json!("cannot_provoke")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("disabled"));
}

macro_rules! on_memory {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            super_tests::$name(nsauth_tests::Stack::memory().await).await;
        }
    )*};
}

on_memory!(
    provoke_on_user_reaches_exactly_its_unblocked_accounts,
    cannot_provoke_without_a_login,
    fraud_reports_block_pushes_until_unblocked,
    number_matching_wrong_pick_cancels_and_counts,
    number_matching_off_and_always,
    wanted_pushes_are_refunded,
    disabled_local_endpoint_is_marked,
);

mod super_tests {
    use super::*;

    fn outbox(stack: &Stack, token: &str) -> Vec<nsauth::push::OutboxEntry> {
        stack.local_push.as_ref().unwrap().outbox_for(token)
    }

    pub async fn provoke_on_user_reaches_exactly_its_unblocked_accounts(stack: Stack) {
        let (_a1, _, _) = stack.phone_with_push("alice", "tok-a1").await;
        let (_a2, _, _) = stack.phone_with_push("alice", "tok-a2").await;
        let (_a3, a3, _) = stack.phone_with_push("alice", "tok-a3").await;
        let (_b1, _, _) = stack.phone_with_push("bob", "tok-b1").await;
        stack
            .call(
                Method::PUT,
                &format!("/accounts/{a3}?blocked=true"),
                None,
                None,
            )
            .await;
        let n = nonce();
        let (status, v) = provoke(&stack, "/users/alice/provokelogin", &n, None).await;
        assert_eq!((status, v["pushed"].clone()), (200, json!(2)), "{v}");
        assert_eq!(outbox(&stack, "tok-a1").len(), 1);
        assert_eq!(outbox(&stack, "tok-a2").len(), 1);
        assert!(outbox(&stack, "tok-a3").is_empty(), "blocked: skipped");
        assert!(outbox(&stack, "tok-b1").is_empty(), "another user: never");
        let m = &outbox(&stack, "tok-a1")[0];
        assert_eq!(
            m.attributes["AWS.SNS.MOBILE.APNS.COLLAPSE_ID"],
            hsid_of(&stack, &n)
        );
        assert_eq!(m.attributes["AWS.SNS.MOBILE.APNS.TTL"], "300");
        // The session records both pushed accounts; a user with no accounts gets 409.
        let (status, v) = provoke(&stack, "/users/nobody/provokelogin", &nonce(), None).await;
        assert_eq!(
            (status, v["error"].clone()),
            (409, json!("cannot_provoke")),
            "{v}"
        );
        // A logged-in session is not pushed.
        let (phone, _, n0) = stack.phone_with_push("carl", "tok-c").await;
        drop(phone);
        let (status, v) = provoke(&stack, "/users/carl/provokelogin", &n0, None).await;
        assert_eq!(
            (status, v["error"].clone()),
            (409, json!("session_state")),
            "{v}"
        );
    }

    pub async fn cannot_provoke_without_a_login(stack: Stack) {
        stack.phone_with_push("dora", "tok-d").await;
        let n = nonce();
        stack.status(&n).await;
        let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, None).await;
        assert_eq!(
            (status, v["error"].clone()),
            (409, json!("cannot_provoke")),
            "{v}"
        );
        let (status, v) = provoke(&stack, "/sessions/provokelogin", &nonce(), None).await;
        assert_eq!(
            (status, v["error"].clone()),
            (409, json!("cannot_provoke")),
            "never seen: {v}"
        );
        assert!(outbox(&stack, "tok-d").is_empty());
        // Bad input on the push calls.
        let (status, v) = provoke(&stack, "/accounts/0/provokelogin", &nonce(), None).await;
        assert_eq!(
            (status, v["error"].clone()),
            (400, json!("invalid_field")),
            "{v}"
        );
        let (status, v) = provoke(&stack, "/accounts/4242/provokelogin", &nonce(), None).await;
        assert_eq!(status, 404, "{v}");
        let (status, v) = stack
            .call(
                Method::POST,
                "/users/dora/provokelogin",
                Some(&nonce()),
                Some(json!([1])),
            )
            .await;
        assert_eq!(
            (status, v["error"].clone()),
            (400, json!("invalid_json")),
            "{v}"
        );
        let (status, v) = stack
            .call(Method::POST, "/users/dora/provokelogin", None, None)
            .await;
        assert_eq!(
            (status, v["error"].clone()),
            (400, json!("invalid_nonce")),
            "{v}"
        );
        assert!(
            outbox(&stack, "tok-d").is_empty(),
            "refused calls push nothing"
        );
    }

    pub async fn fraud_reports_block_pushes_until_unblocked(stack: Stack) {
        let (phone, acc, _) = stack.phone_with_push("eve", "tok-e").await;
        for _ in 0..3 {
            let (_, login) = stack.new_session(None).await;
            phone.deny(&login, true).await.unwrap();
            stack.clock.advance(1);
        }
        let path = format!("/accounts/{acc}/provokelogin");
        let (status, v) = provoke(&stack, &path, &nonce(), None).await;
        assert_eq!(
            (status, v["error"].clone()),
            (409, json!("cannot_provoke")),
            "{v}"
        );
        assert!(v["message"].as_str().unwrap().contains("fraud"), "{v}");
        assert!(outbox(&stack, "tok-e").is_empty());
        // The phone itself still works (pushes are blocked, not the account).
        phone.sessions(&stack.serverid.to_string()).await.unwrap();
        stack
            .call(
                Method::PUT,
                &format!("/accounts/{acc}?blocked=false"),
                None,
                None,
            )
            .await;
        let (status, v) = provoke(&stack, &path, &nonce(), None).await;
        assert_eq!((status, v["pushed"].clone()), (200, json!(1)), "{v}");
    }

    pub async fn number_matching_wrong_pick_cancels_and_counts(stack: Stack) {
        let (phone, acc, _) = stack.phone_with_push("finn", "tok-f").await;
        let path = format!("/accounts/{acc}/provokelogin");
        let n = nonce();
        let (_, v) = provoke(&stack, &path, &n, None).await;
        let number = v["match"].as_str().unwrap().to_string();
        let link = login_link(&stack, &n);
        let choices: Vec<String> =
            serde_json::from_value(phone.show(&link).await.unwrap()["choices"].clone()).unwrap();
        let wrong = choices.iter().find(|c| **c != number).unwrap();
        // Approving without a number is refused and changes nothing.
        let e = phone.approve(&link, None, None).await.unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(400), Some("invalid_field")));
        assert_eq!(stack.status(&n).await["state"], "scanned");
        stack.clock.advance(1);
        let e = phone.approve(&link, Some(wrong), None).await.unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(409), Some("wrong_match")),
            "{e}"
        );
        assert_eq!(stack.status(&n).await["state"], "cancelled");
        // It counted twice (the push and the wrong pick): 3 more pushes fit in the window.
        let mut ok = 0;
        for _ in 0..5 {
            if provoke(&stack, &path, &nonce(), None).await.0 == 200 {
                ok += 1;
            }
        }
        assert_eq!(ok, 3);
    }

    pub async fn number_matching_off_and_always(stack: Stack) {
        let (phone, acc, _) = stack.phone_with_push("gus", "tok-g").await;
        stack.set_setting("number_match", "off").await;
        let n = nonce();
        let (status, v) = provoke(&stack, &format!("/accounts/{acc}/provokelogin"), &n, None).await;
        assert_eq!(status, 200);
        assert!(v.get("match").is_none(), "{v}");
        let link = login_link(&stack, &n);
        assert_eq!(phone.show(&link).await.unwrap()["choices"], Value::Null);
        phone.approve(&link, None, None).await.unwrap();
        assert_eq!(stack.status(&n).await["loggedin"], true);
        // always: QR logins need the number too, and getSession shows it.
        stack.set_setting("number_match", "always").await;
        let (n2, login) = stack.new_session(None).await;
        let number = stack.status(&n2).await["match"]
            .as_str()
            .unwrap()
            .to_string();
        let shown = phone.show(&login).await.unwrap();
        assert!(
            shown["choices"]
                .as_array()
                .unwrap()
                .contains(&json!(number))
        );
        stack.clock.advance(1);
        let e = phone.approve(&login, None, None).await.unwrap_err();
        assert_eq!(e.status(), Some(400));
        phone.approve(&login, Some(&number), None).await.unwrap();
        assert_eq!(stack.status(&n2).await["loggedin"], true);
    }

    pub async fn wanted_pushes_are_refunded(stack: Stack) {
        let (phone, acc, _) = stack.phone_with_push("hal", "tok-h").await;
        let path = format!("/accounts/{acc}/provokelogin");
        // Eight pushes the user approves, all in one window: none is refused.
        for i in 0..8 {
            let n = nonce();
            let (status, v) = provoke(&stack, &path, &n, None).await;
            assert_eq!(status, 200, "push {i}: {v}");
            let number = v["match"].as_str().unwrap().to_string();
            phone
                .approve(&login_link(&stack, &n), Some(&number), None)
                .await
                .unwrap();
            stack.clock.advance(1);
        }
        // A denied push counts twice: after two denials (4) one push fits, then 429.
        for _ in 0..2 {
            let n = nonce();
            provoke(&stack, &path, &n, None).await;
            phone.deny(&login_link(&stack, &n), false).await.unwrap();
            stack.clock.advance(1);
        }
        assert_eq!(provoke(&stack, &path, &nonce(), None).await.0, 200);
        let (status, _) = provoke(&stack, &path, &nonce(), None).await;
        assert_eq!(status, 429);
    }

    pub async fn disabled_local_endpoint_is_marked(stack: Stack) {
        let (_p, acc, _) = stack.phone_with_push("ida", "tok-i").await;
        let endpoint = endpoint_of(&stack, acc).await;
        stack.local_push.as_ref().unwrap().disable(&endpoint);
        let (status, v) = push_account(&stack, acc).await;
        assert_eq!((status, v["pushed"].clone()), (200, json!(0)), "{v}");
        let a = stack
            .store()
            .get_account(&stack.serverid, acc)
            .await
            .unwrap()
            .unwrap();
        assert!(a.push.unwrap().disabled);
        let (_, v) = stack
            .call(Method::GET, &format!("/accounts/{acc}"), None, None)
            .await;
        assert_eq!(v["push"], false);
    }
}

/// A push login done as by hand on the local stack: the website pushes, the phone reads its
/// inbox (the local outbox), and approves with the number the website shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_login_through_the_local_outbox() {
    let stack = Stack::memory().await;
    let (phone, acc, n) = stack.phone_with_push("lou", "tok-local").await;
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    let ctx = json!({"announceinfo": {"info": {"action": "Sign in to the demo"}}});
    let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, Some(ctx)).await;
    assert_eq!(status, 200, "{v}");
    let number = v["match"].as_str().unwrap().to_string();
    let inbox = phone.inbox(None).await.unwrap();
    assert_eq!(inbox.len(), 1);
    let push = &inbox[0];
    assert_eq!(push.hsid, hsid_of(&stack, &n));
    assert_eq!(push.servername, "Demo website");
    assert!(push.body.contains("Sign in to the demo"), "{}", push.body);
    assert!(push.choices.as_ref().unwrap().contains(&number));
    phone
        .approve(&push.link, Some(&number), None)
        .await
        .unwrap();
    let st = stack.status(&n).await;
    assert_eq!(
        (st["loggedin"].clone(), st["accountid"].clone()),
        (json!(true), json!(acc))
    );
}

/// A phone showing the request decides on the announceinfo it showed: a push with another
/// UserContext is refused (409 `session_state`), counts nothing and changes nothing; the
/// same context or none still pushes. Once the attempt is over, any context goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanned_session_keeps_what_the_phone_shows() {
    let stack = Stack::memory().await;
    stack.set_setting("push_limit", "3").await;
    stack.set_setting("number_match", "off").await;
    let (phone, acc, n) = stack.phone_with_push("sky", "tok-scan").await;
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    let first = json!({"announceinfo": {"info": {"action": "Log in"}}});
    let other = json!({"announceinfo": {"info": {"action": "Pay 500 EUR"}}});
    let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, Some(first.clone())).await;
    assert_eq!(status, 200, "{v}");
    let shown = phone.show(&login_link(&stack, &n)).await.unwrap();
    assert_eq!(shown["announceinfo"]["info"]["action"], "Log in");
    assert_eq!(stack.status(&n).await["state"], "scanned");
    let before = stack.stored_session(&n).await.unwrap();

    for path in [
        "/sessions/provokelogin".to_string(),
        format!("/accounts/{acc}/provokelogin"),
        "/users/sky/provokelogin".to_string(),
    ] {
        let (status, v) = provoke(&stack, &path, &n, Some(other.clone())).await;
        assert_eq!(
            (status, v["error"].clone()),
            (409, json!("session_state")),
            "{path}: {v}"
        );
        assert!(v["message"].as_str().unwrap().contains("showing"), "{v}");
    }
    assert_eq!(
        stack.stored_session(&n).await.unwrap(),
        before,
        "nothing stored"
    );
    assert_eq!(phone.inbox(None).await.unwrap().len(), 1, "nothing pushed");

    // The refusals counted nothing: two more pushes fit in the limit of 3.
    let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, Some(first.clone())).await;
    assert_eq!(status, 200, "the same context: {v}");
    let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, None).await;
    assert_eq!(status, 200, "no context: {v}");
    let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, None).await;
    assert_eq!(
        (status, v["error"].clone()),
        (429, json!("push_rate_limited"))
    );
    let inbox = phone.inbox(None).await.unwrap();
    assert_eq!(inbox.len(), 3);
    assert!(inbox.iter().all(|p| p.body.contains("Log in")), "{inbox:?}");

    // The attempt ends unanswered: a new one takes the other context.
    stack.clock.advance(3600);
    stack.set_setting("push_limit", "10").await;
    let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, Some(other)).await;
    assert_eq!(status, 200, "{v}");
    let s = stack.stored_session(&n).await.unwrap();
    assert_eq!(s.context.announceinfo.info["action"], "Pay 500 EUR");
    assert_eq!(stack.status(&n).await["state"], "pending");
}

/// The same refusal when the phone shows the request between the push call's read of the
/// session and its write: the conditional write fails, the re-read session is scanned, and
/// the counts already taken are given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_loses_the_race_to_a_scan_gives_its_count_back() {
    let stack = Stack::memory().await;
    stack.set_setting("push_limit", "1").await;
    let (phone, acc, n) = stack.phone_with_push("ray", "tok-race").await;
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    // A new attempt (the website shows the QR code), read by the push call before the
    // phone shows it.
    let (status, _) = stack
        .call(Method::GET, "/sessions/qr/login", Some(&n), None)
        .await;
    assert_eq!(status, 200);
    let read = stack.stored_session(&n).await.unwrap();
    phone.show(&login_link(&stack, &n)).await.unwrap();
    let scanned = stack.stored_session(&n).await.unwrap();
    assert_eq!(scanned.state, nsauth::session::SessionState::Scanned);

    let server = stack
        .store()
        .get_server(&stack.serverid)
        .await
        .unwrap()
        .unwrap();
    let other: nsauth::usercontext::UserContext =
        serde_json::from_value(json!({"announceinfo": {"info": {"action": "Pay 500 EUR"}}}))
            .unwrap();
    let refused = nsauth::service::push::provoke(
        &stack.deps,
        &server,
        read,
        vec![stack.stored_account(acc).await],
        Some(other),
    )
    .await
    .expect_err("refused");
    assert_eq!(refused.code(), "session_state", "{refused}");
    assert_eq!(
        stack.stored_session(&n).await.unwrap(),
        scanned,
        "nothing stored"
    );
    assert!(
        phone.inbox(None).await.unwrap().is_empty(),
        "nothing pushed"
    );
    // The limit is 1: the count taken before the write was given back.
    let (status, v) = provoke(&stack, "/sessions/provokelogin", &n, None).await;
    assert_eq!(status, 200, "{v}");
}

/// The local push service with one endpoint whose publishes fail as an SNS outage does.
struct OneEndpointDown {
    inner: Arc<nsauth::push::LocalPush>,
    down: std::sync::Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl nsauth::push::PushSender for OneEndpointDown {
    async fn create_endpoint(
        &self,
        platform: nsauth::account::Platform,
        token: &str,
        user_data: &str,
    ) -> Result<String, nsauth::push::PushError> {
        self.inner.create_endpoint(platform, token, user_data).await
    }
    async fn delete_endpoint(&self, arn: &str) -> Result<(), nsauth::push::PushError> {
        self.inner.delete_endpoint(arn).await
    }
    async fn publish(
        &self,
        arn: &str,
        message: &nsauth::push::PushMessage,
    ) -> Result<(), nsauth::push::PushError> {
        if self.down.lock().unwrap().as_deref() == Some(arn) {
            return Err(nsauth::push::PushError::Unavailable("timed out".into()));
        }
        self.inner.publish(arn, message).await
    }
}

/// SNS failing for one of a user's devices: the others are still pushed and the call
/// answers 200 with `pushed` counting them (a 503 is only for a call that pushed nothing);
/// the failed device gets its count back and is not marked disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_sns_fails_for_does_not_stop_the_others() {
    let local = Arc::new(nsauth::push::LocalPush::new());
    let push = Arc::new(OneEndpointDown {
        inner: local.clone(),
        down: Default::default(),
    });
    let stack = Stack::with_push(
        Arc::new(nsauth::store::MemoryStore::new()),
        push.clone(),
        Some(local),
    )
    .await;
    stack.set_setting("push_limit", "1").await;
    let (_p1, a1, _) = stack.phone_with_push("vic", "tok-v1").await;
    let (_p2, a2, _) = stack.phone_with_push("vic", "tok-v2").await;
    *push.down.lock().unwrap() = Some(endpoint_of(&stack, a1).await);

    let (status, v) = provoke(&stack, "/users/vic/provokelogin", &nonce(), None).await;
    assert_eq!((status, v["pushed"].clone()), (200, json!(1)), "{v}");
    let v1 = stack.local_push.as_ref().unwrap().outbox_for("tok-v1");
    let v2 = stack.local_push.as_ref().unwrap().outbox_for("tok-v2");
    assert_eq!((v1.len(), v2.len()), (0, 1));
    assert!(!stack.stored_account(a1).await.push.unwrap().disabled);

    // Only the delivered push was counted (limit 1): the failed device can be pushed,
    // the other is limited.
    *push.down.lock().unwrap() = None;
    let (status, v) = push_account(&stack, a1).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = push_account(&stack, a2).await;
    assert_eq!(
        (status, v["error"].clone()),
        (429, json!("push_rate_limited"))
    );
}
