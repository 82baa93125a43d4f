//! DynamoDB requests per operation (issue 12): each store call is one request (a
//! BatchGetItem of server, key or account, and session counts once), so the counts are
//! deterministic and asserted here. How many of them run one after another (the latency)
//! is in docs/performance.md; the benchmark measures time, never a test.

use std::collections::BTreeMap;

use nsauth_tests::{Stack, hsid_of, new_nonce};
use reqwest::Method;

/// The store calls since the last reset, by name, and reset.
fn taken(stack: &Stack) -> BTreeMap<&'static str, usize> {
    let c = stack.counting.counts();
    stack.counting.reset();
    c
}

fn total(c: &BTreeMap<&'static str, usize>) -> usize {
    c.values().sum()
}

fn calls(list: &[&'static str]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for c in list {
        *m.entry(*c).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_login_takes_eleven_requests_and_one_per_poll() {
    let stack = Stack::memory().await;
    let n0 = new_nonce();
    let link = stack.enrol_link(&n0, "?userid=rt").await;
    let mut phone = stack.phone();
    taken(&stack);
    phone.enrol(&link, "Phone", None).await.unwrap();
    assert_eq!(
        taken(&stack),
        calls(&[
            // at once
            "remember_request",
            "claim_public_key",
            "get_server",
            "allocate_accountid",
            // then
            "use_enrol_token",
            // then at once
            "create_account",
            "get_session",
            // then the login, then the account finished
            "update_session",
            "update_account",
        ]),
        "enrolment"
    );

    let mut whole = 0;
    let (status, v) = stack.call(Method::POST, "/sessions", None, None).await;
    assert_eq!(status, 201, "{v}");
    let n = v["nonce"].as_str().unwrap().to_string();
    let url = v["loginurl"].as_str().unwrap().to_string();
    let c = taken(&stack);
    assert_eq!(
        c,
        calls(&["get_server_and_role", "create_session"]),
        "createSession"
    );
    whole += total(&c);

    stack.status(&n).await;
    let c = taken(&stack);
    assert_eq!(c, calls(&["get_session_with_role"]), "a getSession poll");
    whole += total(&c);

    phone.show(&url).await.unwrap();
    let c = taken(&stack);
    assert_eq!(
        c,
        calls(&["get_session_with_account", "update_session"]),
        "show"
    );
    whole += total(&c);

    phone.approve(&url, None, None).await.unwrap();
    let c = taken(&stack);
    assert_eq!(
        c,
        calls(&[
            "get_session_with_account",
            // at once
            "remember_request",
            "count_push",
            // at once
            "update_session",
            "update_account",
        ]),
        "approve"
    );
    whole += total(&c);

    let st = stack.status(&n).await;
    assert_eq!(st["state"], "loggedin");
    let c = taken(&stack);
    assert_eq!(c, calls(&["get_session_with_role"]), "the final poll");
    whole += total(&c);
    assert_eq!(whole, 11, "a whole QR login");

    // A retry of the approval whose answer was lost, signed anew: one read and the record
    // that it was taken (so that a copy of it cannot be replayed onto a later attempt);
    // nothing counted, the session not written.
    stack.clock.advance(1);
    phone.approve(&url, None, None).await.unwrap();
    assert_eq!(
        taken(&stack),
        calls(&["get_session_with_account", "remember_request"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_in_app_logins() {
    let stack = Stack::memory().await;
    let (phone, _acc, n) = stack.phone_with_push("pushed", "device-token").await;
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    taken(&stack);
    let (status, v) = stack
        .call(Method::POST, "/sessions/provokelogin", Some(&n), None)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        taken(&stack),
        calls(&[
            "get_session_with_role",
            "get_account",
            "count_push",
            "update_session",
            // after the push went out
            "update_account",
        ]),
        "provokeLogin"
    );
    let link = format!("nsauth://login/{}/{}", stack.serverid, hsid_of(&stack, &n));
    phone
        .approve(&link, v["match"].as_str(), None)
        .await
        .unwrap();
    assert_eq!(
        taken(&stack),
        calls(&[
            "get_session_with_account",
            "remember_request",
            "count_push",
            // at once: the login, lastlogin, the push no longer counted
            "update_session",
            "update_account",
            "adjust_push_count",
        ]),
        "approve of a push"
    );

    let nonce = phone
        .inapp(&stack.serverid.to_string(), None)
        .await
        .unwrap();
    assert_eq!(
        taken(&stack),
        calls(&[
            "get_server_and_account",
            "remember_request",
            "count_push",
            "create_session",
            "update_account",
        ]),
        "in-app login"
    );
    let st = stack.status(&nonce).await;
    assert_eq!(st["state"], "loggedin");
    assert_eq!(taken(&stack), calls(&["get_session_with_role"]));
}
