//! The phone's retry contract (issue 13, item 2; docs/phone-protocol.md "Retries"): an
//! approval, denial, logout or transaction answer whose answer the phone did not get (a
//! timeout, a 503 after the write) can be sent again, the same signed request or signed
//! anew, and answers as the first one did, with no second effect; a different call still
//! gets 409, and a replay whose effect is not there is still refused. On memory and moto.

use nsauth::ids::{Hsid, Nonce};
use nsauth_authenticator::Authenticator;
use nsauth_tests::{Stack, new_nonce, on_both_stores};
use reqwest::Method;
use serde_json::{Value, json};

on_both_stores!(
    approvals_answer_the_same_when_sent_again,
    denials_and_logouts_answer_the_same_when_sent_again,
    transaction_answers_answer_the_same_when_sent_again
);

async fn phone(stack: &Stack, userid: &str) -> (Authenticator, u64) {
    let n = new_nonce();
    let link = stack.enrol_link(&n, &format!("?userid={userid}")).await;
    let mut phone = stack.phone();
    let acc = phone.enrol(&link, "Phone", None).await.expect("enrol");
    (phone, acc.accountid)
}

/// A new browser session with a login attempt under way: (nonce, hsid).
async fn attempt(stack: &Stack) -> (String, String) {
    let n = new_nonce();
    let (status, _) = stack
        .call(Method::GET, "/sessions/qr/login", Some(&n), None)
        .await;
    assert_eq!(status, 200);
    let hsid = Nonce::parse(Some(&n))
        .unwrap()
        .hsid(&stack.serverid)
        .to_string();
    (n, hsid)
}

fn signed(
    phone: &Authenticator,
    stack: &Stack,
    method: &str,
    path: &str,
    body: Value,
) -> nsauth_authenticator::SignedRequest {
    phone
        .signed(
            &stack.serverid.to_string(),
            method,
            path,
            serde_json::to_vec(&body).unwrap(),
        )
        .unwrap()
}

async fn stored(stack: &Stack, hsid: &str) -> nsauth::session::Session {
    stack
        .store()
        .get_session(&Hsid::parse(hsid).unwrap())
        .await
        .unwrap()
        .unwrap()
}

async fn approvals_answer_the_same_when_sent_again(stack: Stack) {
    let (p, acc) = phone(&stack, "ret").await;
    let (other, _) = phone(&stack, "ret2").await;
    let (n, hsid) = attempt(&stack).await;
    let path = format!("app/v1/sessions/{hsid}/approve");
    let req = signed(&p, &stack, "POST", &path, json!({}));
    let (status, v) = p.send(req.clone()).await.unwrap();
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("loggedin")),
        "{v}"
    );
    let after_first = stored(&stack, &hsid).await;
    let lastlogin = stack.stored_account(acc).await.lastlogin;
    // The answer was lost: the same signed request again answers the same, writes nothing.
    stack.clock.advance(1);
    let (status, v) = p.send(req.clone()).await.unwrap();
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("loggedin")),
        "{v}"
    );
    // Signed anew: the same.
    let anew = signed(&p, &stack, "POST", &path, json!({}));
    let (status, v) = p.send(anew.clone()).await.unwrap();
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("loggedin")),
        "{v}"
    );
    assert_eq!(stored(&stack, &hsid).await, after_first, "no second write");
    assert_eq!(
        stack.stored_account(acc).await.lastlogin,
        lastlogin,
        "no second login"
    );
    // Another account's approval is a different call: 409 as before.
    let (status, v) = other
        .send(signed(&other, &stack, "POST", &path, json!({})))
        .await
        .unwrap();
    nsauth_tests::assert_error(status, &v, 409, "session_state");
    // The login counted once against login_limit: with a limit of 2, one more login fits.
    stack.set_setting("login_limit", "2").await;
    let (_, hsid2) = attempt(&stack).await;
    let (status, v) = p
        .send(signed(
            &p,
            &stack,
            "POST",
            &format!("app/v1/sessions/{hsid2}/approve"),
            json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(status, 200, "the retries counted no login: {v}");
    // After a logout and a new attempt, the old request is a replay (its effect is gone).
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    stack
        .call(Method::GET, "/sessions/qr/login", Some(&n), None)
        .await;
    let (status, v) = p.send(req).await.unwrap();
    nsauth_tests::assert_error(status, &v, 401, "replayed_request");
    // So is the retry signed anew, though it was answered from the session's state: a
    // captured copy of it must not log the new attempt in.
    let (status, v) = p.send(anew).await.unwrap();
    nsauth_tests::assert_error(status, &v, 401, "replayed_request");
    assert_eq!(stack.status(&n).await["state"], "pending");
}

async fn denials_and_logouts_answer_the_same_when_sent_again(stack: Stack) {
    let (p, acc) = phone(&stack, "den").await;
    let (_, hsid) = attempt(&stack).await;
    let path = format!("app/v1/sessions/{hsid}/deny");
    let req = signed(&p, &stack, "POST", &path, json!({"reason": "fraud"}));
    let (status, v) = p.send(req.clone()).await.unwrap();
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("cancelled")),
        "{v}"
    );
    stack.clock.advance(1);
    let (status, v) = p.send(req).await.unwrap();
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("cancelled")),
        "{v}"
    );
    let (status, v) = p
        .send(signed(
            &p,
            &stack,
            "POST",
            &path,
            json!({"reason": "fraud"}),
        ))
        .await
        .unwrap();
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("cancelled")),
        "{v}"
    );
    assert_eq!(
        stack.stored_account(acc).await.fraud_reports,
        1,
        "one fraud report, however often it was sent"
    );
    // An approval after the denial is a different call: 409.
    let (status, v) = p
        .send(signed(
            &p,
            &stack,
            "POST",
            &format!("app/v1/sessions/{hsid}/approve"),
            json!({}),
        ))
        .await
        .unwrap();
    nsauth_tests::assert_error(status, &v, 409, "session_state");

    // Logout: the same request again answers loggedout; as a replay after a new login it
    // is refused and the new login stays.
    let (n, hsid) = attempt(&stack).await;
    p.send(signed(
        &p,
        &stack,
        "POST",
        &format!("app/v1/sessions/{hsid}/approve"),
        json!({}),
    ))
    .await
    .unwrap();
    let logout = signed(
        &p,
        &stack,
        "POST",
        &format!("app/v1/sessions/{hsid}/logout"),
        json!({}),
    );
    let (status, v) = p.send(logout.clone()).await.unwrap();
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("loggedout")),
        "{v}"
    );
    let (status, v) = p.send(logout.clone()).await.unwrap();
    assert_eq!(
        (status, v["state"].clone()),
        (200, json!("loggedout")),
        "{v}"
    );
    stack.clock.advance(1);
    stack
        .call(Method::GET, "/sessions/qr/login", Some(&n), None)
        .await;
    p.send(signed(
        &p,
        &stack,
        "POST",
        &format!("app/v1/sessions/{hsid}/approve"),
        json!({}),
    ))
    .await
    .unwrap();
    let (status, v) = p.send(logout).await.unwrap();
    nsauth_tests::assert_error(status, &v, 401, "replayed_request");
    assert_eq!(stack.status(&n).await["state"], "loggedin");
}

async fn transaction_answers_answer_the_same_when_sent_again(stack: Stack) {
    let n = new_nonce();
    let link = stack.enrol_link(&n, "?userid=tx").await;
    let mut p = stack.phone();
    p.enrol(&link, "Phone", None).await.unwrap();
    let sid = stack.serverid.to_string();
    for (decline, amount) in [(false, "1"), (true, "2")] {
        let (_, created) = stack
            .call(
                Method::POST,
                "/sessions/transactions",
                Some(&n),
                Some(json!({"amount": amount})),
            )
            .await;
        let tid = created["tid"].as_str().unwrap().to_string();
        let (_, shown) = p
            .send(
                p.signed(&sid, "GET", &format!("app/v1/transactions/{tid}"), vec![])
                    .unwrap(),
            )
            .await
            .unwrap();
        let (path, body, want) = if decline {
            (
                format!("app/v1/transactions/{tid}/decline"),
                json!({}),
                "declined",
            )
        } else {
            let sig = p
                .transaction_signature(&sid, shown["signed"].as_str().unwrap())
                .unwrap();
            (
                format!("app/v1/transactions/{tid}/approve"),
                json!({"signature": sig, "verification": "pin"}),
                "approved",
            )
        };
        let req = signed(&p, &stack, "POST", &path, body);
        let (status, v) = p.send(req.clone()).await.unwrap();
        assert_eq!((status, v["state"].clone()), (200, json!(want)), "{v}");
        let (_, first) = stack
            .call(Method::GET, &format!("/transactions/{tid}"), None, None)
            .await;
        let (status, v) = p.send(req).await.unwrap();
        assert_eq!((status, v["state"].clone()), (200, json!(want)), "{v}");
        let (_, again) = stack
            .call(Method::GET, &format!("/transactions/{tid}"), None, None)
            .await;
        assert_eq!(first, again, "no second effect");
    }
}
