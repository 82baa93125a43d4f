//! The phone protocol end to end over HTTP: the reference authenticator as "the phone",
//! the website's calls with its API key, on the in-memory store and on DynamoDB + SNS
//! (moto). Every refusal also checks that stored data is left as it was.

use base64::Engine;
use nsauth::ids::{Hsid, Nonce};
use nsauth_authenticator::Authenticator;
use nsauth_tests::{Stack, on_atomic_stores, on_both_stores};
use reqwest::Method;
use serde_json::{Value, json};

on_both_stores!(
    refusals_of_signed_requests,
    replayed_approve_has_no_second_effect,
    approve_after_expiry_deny_and_logout,
    blocked_account_is_refused,
    enrol_token_is_single_use_and_expires,
    account_of_another_server,
    website_account_and_user_calls,
    in_app_login_and_session_pages,
);
// Concurrent conditional writes: on the stores that make them atomic, as DynamoDB does.
on_atomic_stores!(two_phones_approve_at_once);

use nsauth_tests::new_nonce as nonce;

fn hsid_of_link(link: &str) -> String {
    link.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

/// A phone enrolled on the stack's server through a website session; returns the phone,
/// its account id and the nonce of the session it was logged in to.
async fn enrolled(stack: &Stack, userid: &str) -> (Authenticator, u64, String) {
    let n = nonce();
    let link = stack
        .enrol_link(&n, &format!("?userid={userid}&name=Test"))
        .await;
    let mut phone = stack.phone();
    let acc = phone.enrol(&link, "Test phone", None).await.expect("enrol");
    (phone, acc.accountid, n)
}

async fn state_of(stack: &Stack, nonce: &str) -> String {
    stack.status(nonce).await["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_on_moto_with_sns() {
    let Some((stack, sns, app)) = Stack::moto_with_sns().await else {
        return;
    };
    end_to_end(&stack, Some((&sns, &app))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_in_memory() {
    end_to_end(&Stack::memory().await, None).await;
}

async fn end_to_end(stack: &Stack, sns: Option<(&aws_sdk_sns::Client, &String)>) {
    let sid = stack.serverid.to_string();
    // 1. A website session asks for an enrolment link with a userid; the phone enrols.
    let n1 = nonce();
    let link = stack
        .enrol_link(&n1, "?userid=alice&name=Alice%27s%20phone")
        .await;
    assert!(
        link.starts_with(&format!("nsauth://enrol/{sid}/")),
        "{link}"
    );
    assert!(
        link.contains("?api=http%3A%2F%2F127%2E0%2E0%2E1%3A"),
        "{link}"
    );
    let mut phone = stack.phone();
    let acc = phone
        .enrol(&link, "Pixel", Some(("fcm", "device-token-1")))
        .await
        .unwrap();
    assert_eq!(acc.userid.as_deref(), Some("alice"));
    let st = stack.status(&n1).await;
    assert_eq!(st["state"], "loggedin", "{st}");
    assert_eq!(st["userid"], "alice");
    assert_eq!(st["accountid"], acc.accountid);
    let spki = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(acc.publickey())
        .unwrap();
    assert_eq!(
        st["pk"],
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    let stored = stack
        .store()
        .get_account(&stack.serverid, acc.accountid)
        .await
        .unwrap()
        .unwrap();
    let endpoint = stored
        .push
        .expect("a push endpoint was created")
        .endpoint_arn;
    if let Some((sns, app)) = sns {
        let eps = sns
            .list_endpoints_by_platform_application()
            .platform_application_arn(app.as_str())
            .send()
            .await
            .unwrap();
        let ours: Vec<_> = eps
            .endpoints()
            .iter()
            .filter(|e| e.endpoint_arn() == Some(endpoint.as_str()))
            .collect();
        assert_eq!(ours.len(), 1, "the endpoint exists in SNS");
        assert_eq!(ours[0].attributes().unwrap()["Token"], "device-token-1");
    }

    // 2. On a new session the phone shows, approves, and the website sees the login.
    let (n2, login) = stack
        .new_session(Some(
            json!({"announceinfo": {"info": {"action": "Log in to Demo"}},
                                  "sessioninfo": {"info": {"browser": "Firefox on Linux"}}}),
        ))
        .await;
    let shown = phone.show(&login).await.unwrap();
    assert_eq!(shown["serverid"], sid);
    assert_eq!(shown["servername"], "Demo website");
    assert_eq!(shown["announceinfo"]["info"]["action"], "Log in to Demo");
    assert_eq!(shown["state"], "scanned");
    assert_eq!(
        state_of(stack, &n2).await,
        "scanned",
        "the website sees the scan"
    );
    phone.approve(&login, None, None).await.unwrap();
    let st = stack.status(&n2).await;
    assert_eq!(
        (st["loggedin"].clone(), st["accountid"].clone()),
        (json!(true), json!(acc.accountid))
    );

    // 3. Both sessions are listed, newest login first, with their sessioninfo.
    stack.clock.advance(1);
    let (status, list) = stack
        .call(
            Method::GET,
            &format!("/accounts/{}/sessions", acc.accountid),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let hsid1 = Nonce::parse(Some(&n1))
        .unwrap()
        .hsid(&stack.serverid)
        .to_string();
    let hsid2 = hsid_of_link(&login);
    let listed: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["hsid"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{list}");
    assert!(
        listed.contains(&hsid1.as_str()) && listed.contains(&hsid2.as_str()),
        "{list}"
    );
    let on_phone = phone.sessions(&sid).await.unwrap();
    let s2 = on_phone["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["hsid"] == hsid2)
        .unwrap();
    assert_eq!(s2["sessioninfo"]["info"]["browser"], "Firefox on Linux");
    assert_eq!(s2["loggedin"], true);
    assert_eq!(on_phone["sessions"].as_array().unwrap().len(), 2);

    // 4. Logout from the website ends the first, logout from the phone the second.
    let (status, after) = stack
        .call(Method::POST, "/sessions/logout", Some(&n1), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(after["state"], "loggedout");
    assert_eq!(state_of(stack, &n1).await, "loggedout");
    let out = phone.logout(&sid, &hsid2).await.unwrap();
    assert_eq!(out["state"], "loggedout");
    let st = stack.status(&n2).await;
    assert_eq!(
        (st["state"].clone(), st["userid"].clone()),
        (json!("loggedout"), Value::Null)
    );
    assert_eq!(st["canprovoke"], true, "canprovoke stays after logout");

    // 5. The phone removes its account: the push endpoint goes, and with it canprovoke.
    phone.remove_account(&sid).await.unwrap();
    assert!(
        stack
            .store()
            .get_account(&stack.serverid, acc.accountid)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(stack.status(&n2).await["canprovoke"], false);
    if let Some((sns, app)) = sns {
        let eps = sns
            .list_endpoints_by_platform_application()
            .platform_application_arn(app.as_str())
            .send()
            .await
            .unwrap();
        assert!(
            eps.endpoints()
                .iter()
                .all(|e| e.endpoint_arn() != Some(endpoint.as_str()))
        );
    }
}

async fn refusals_of_signed_requests(stack: Stack) {
    let (phone, _, _) = enrolled(&stack, "bob").await;
    let sid = stack.serverid.to_string();
    let (n, login) = stack.new_session(None).await;
    let path = format!("/app/v1/sessions/{}/approve", hsid_of_link(&login));
    let before = stack
        .store()
        .get_session(&Hsid::parse(&hsid_of_link(&login)).unwrap())
        .await
        .unwrap();

    // A signature made by another key for this account.
    let mut other = stack.phone();
    let other_link = stack.enrol_link(&nonce(), "").await;
    other.enrol(&other_link, "Other", None).await.unwrap();
    let mut forged = phone.signed(&sid, "POST", &path, b"{}".to_vec()).unwrap();
    let theirs = other.signed(&sid, "POST", &path, b"{}".to_vec()).unwrap();
    let sig_of = |h: &str| h.rsplit("sig=").next().unwrap().to_string();
    let mine_sig = sig_of(&forged.authorization);
    forged.authorization = forged
        .authorization
        .replace(&mine_sig, &sig_of(&theirs.authorization));
    let (status, body) = phone.send(forged).await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );

    // The body changed after signing.
    let mut changed = phone
        .signed(&sid, "POST", &path, br#"{"userinput":"a"}"#.to_vec())
        .unwrap();
    changed.body = br#"{"userinput":"b"}"#.to_vec();
    let (status, body) = phone.send(changed).await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );

    // A timestamp 121 s old, and one 121 s ahead.
    for skew in [-121, 121] {
        let old = phone
            .signed_at(&sid, "POST", &path, b"{}".to_vec(), phone.now() + skew)
            .unwrap();
        let (status, body) = phone.send(old).await.unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("stale_timestamp")),
            "{body}"
        );
    }
    // At the edge of the window it is accepted.
    let edge = phone
        .signed_at(&sid, "GET", "/app/v1/sessions", vec![], phone.now() - 120)
        .unwrap();
    assert_eq!(phone.send(edge).await.unwrap().0, 200);

    // The path changed after signing (another session).
    let mut moved = phone.signed(&sid, "POST", &path, b"{}".to_vec()).unwrap();
    moved.url = moved.url.replace(
        &hsid_of_link(&login),
        &Nonce::generate().hsid(&stack.serverid).to_string(),
    );
    let (status, body) = phone.send(moved).await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );

    // An account id that does not exist, and a missing header.
    let mut unknown = phone.signed(&sid, "POST", &path, b"{}".to_vec()).unwrap();
    unknown.authorization = unknown
        .authorization
        .replace(",account=", ",account=9")
        .replace("account=9", "account=9999");
    let (status, body) = phone.send(unknown).await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(
        matches!(body["error"].as_str(), Some("bad_signature")),
        "an unknown account is answered as a bad signature: {body}"
    );
    let resp = nsauth_tests::http()
        .post(format!("{}{path}", stack.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let after = stack
        .store()
        .get_session(&Hsid::parse(&hsid_of_link(&login)).unwrap())
        .await
        .unwrap();
    assert_eq!(before, after, "no refused request changed the session");
    assert_eq!(state_of(&stack, &n).await, "pending");
}

async fn replayed_approve_has_no_second_effect(stack: Stack) {
    let (phone, _, _) = enrolled(&stack, "carol").await;
    let sid = stack.serverid.to_string();
    let n = nonce();
    // The website shows the QR (a login attempt begins); the phone approves.
    let link = stack.enrol_link(&n, "").await; // begins the attempt
    drop(link);
    let hsid = Nonce::parse(Some(&n))
        .unwrap()
        .hsid(&stack.serverid)
        .to_string();
    let captured = phone
        .signed(
            &sid,
            "POST",
            &format!("/app/v1/sessions/{hsid}/approve"),
            b"{}".to_vec(),
        )
        .unwrap();
    let (status, body) = phone.send(captured.clone()).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(state_of(&stack, &n).await, "loggedin");
    // Logged out, and a new attempt begins on the same browser session.
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    stack.enrol_link(&n, "").await;
    assert_eq!(state_of(&stack, &n).await, "pending");
    // Replaying the captured approval does not log in again.
    let (status, body) = phone.send(captured).await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("replayed_request")),
        "{body}"
    );
    assert_eq!(state_of(&stack, &n).await, "pending");
}

async fn approve_after_expiry_deny_and_logout(stack: Stack) {
    let (phone, _, _) = enrolled(&stack, "dave").await;
    // After expiry.
    let (n, login) = stack.new_session(None).await;
    stack.clock.advance(301);
    let e = phone.approve(&login, None, None).await.unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some("session_state")),
        "{e}"
    );
    assert_eq!(state_of(&stack, &n).await, "expired");
    // After deny.
    let (n, login) = stack.new_session(None).await;
    let d = phone.deny(&login, false).await.unwrap();
    assert_eq!(d["state"], "cancelled");
    stack.clock.advance(1);
    let e = phone.approve(&login, None, None).await.unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some("session_state")),
        "{e}"
    );
    assert_eq!(state_of(&stack, &n).await, "cancelled");
    // After logout.
    let (n, login) = stack.new_session(None).await;
    phone.approve(&login, None, None).await.unwrap();
    stack
        .call(Method::POST, "/sessions/logout", Some(&n), None)
        .await;
    stack.clock.advance(1);
    let e = phone.approve(&login, None, None).await.unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some("session_state")),
        "{e}"
    );
    assert_eq!(state_of(&stack, &n).await, "loggedout");
}

async fn blocked_account_is_refused(stack: Stack) {
    let (phone, accountid, n0) = enrolled(&stack, "erin").await;
    assert_eq!(stack.status(&n0).await["canprovoke"], true);
    let (status, v) = stack
        .call(
            Method::PUT,
            &format!("/accounts/{accountid}?blocked=true"),
            None,
            None,
        )
        .await;
    assert_eq!((status, v["blocked"].clone()), (200, json!(true)), "{v}");
    assert_eq!(
        stack.status(&n0).await["canprovoke"],
        false,
        "a blocked account cannot be provoked"
    );
    let (n, login) = stack.new_session(None).await;
    for e in [
        phone.show(&login).await.unwrap_err(),
        phone.approve(&login, None, None).await.unwrap_err(),
    ] {
        assert_eq!(
            (e.status(), e.code()),
            (Some(401), Some("account_blocked")),
            "{e}"
        );
    }
    assert_eq!(state_of(&stack, &n).await, "pending");
    stack
        .call(
            Method::PUT,
            &format!("/accounts/{accountid}?blocked=false"),
            None,
            None,
        )
        .await;
    assert_eq!(stack.status(&n0).await["canprovoke"], true);
    stack.clock.advance(1);
    phone.approve(&login, None, None).await.unwrap();
    assert_eq!(state_of(&stack, &n).await, "loggedin");
}

async fn enrol_token_is_single_use_and_expires(stack: Stack) {
    let n = nonce();
    let link = stack.enrol_link(&n, "?userid=frank").await;
    let mut first = stack.phone();
    first.enrol(&link, "One", None).await.unwrap();
    let mut second = stack.phone();
    let e = second.enrol(&link, "Two", None).await.unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some("token_used")),
        "{e}"
    );
    let link2 = stack.enrol_link(&nonce(), "?userid=frank").await;
    stack.clock.advance(601);
    let e = second.enrol(&link2, "Two", None).await.unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some("token_expired")),
        "{e}"
    );
    let (_, user) = stack.call(Method::GET, "/users/frank", None, None).await;
    assert_eq!(user["accounts"].as_array().unwrap().len(), 1, "{user}");
    assert!(second.accounts().is_empty());
    // A token that never existed.
    let fake = link2.replace(
        &link2.rsplit('/').next().unwrap()[..22],
        "AAAAAAAAAAAAAAAAAAAAAA",
    );
    let e = second.enrol(&fake, "Two", None).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
}

async fn account_of_another_server(stack: Stack) {
    let (phone_a, _, _) = enrolled(&stack, "gina").await;
    let (sid_b, key_b) = stack.other_server().await;
    // A session of server B.
    let resp = nsauth_tests::http()
        .post(format!("{}/servers/{sid_b}/sessions", stack.base))
        .header("X-apikey", key_b.expose())
        .send()
        .await
        .unwrap();
    let created: Value = resp.json().await.unwrap();
    let hsid_b = created["hsid"].as_str().unwrap().to_string();
    let sid_a = stack.serverid.to_string();
    for (method, path) in [
        ("GET", format!("/app/v1/sessions/{hsid_b}")),
        ("POST", format!("/app/v1/sessions/{hsid_b}/approve")),
    ] {
        let body = if method == "GET" {
            vec![]
        } else {
            b"{}".to_vec()
        };
        let req = phone_a.signed(&sid_a, method, &path, body).unwrap();
        let (status, v) = phone_a.send(req).await.unwrap();
        assert_eq!(
            (status, v["error"].as_str()),
            (409, Some("no_account")),
            "{v}"
        );
    }
    let stored = stack
        .store()
        .get_session(&Hsid::parse(&hsid_b).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.state,
        nsauth::session::SessionState::Pending,
        "not logged in"
    );
    assert_eq!(stored.login, None);
    assert_eq!(
        stored.event,
        Some(nsauth::session::SessionEvent::NoAccounts),
        "the website side learns NOACCOUNTS"
    );
}

async fn two_phones_approve_at_once(stack: Stack) {
    let (p1, a1, _) = enrolled(&stack, "hank").await;
    let (p2, a2, _) = enrolled(&stack, "ivy").await;
    for _ in 0..3 {
        let (n, login) = stack.new_session(None).await;
        let (r1, r2) = tokio::join!(
            p1.approve(&login, None, None),
            p2.approve(&login, None, None)
        );
        let oks = [r1.is_ok(), r2.is_ok()];
        assert_eq!(oks.iter().filter(|o| **o).count(), 1, "{r1:?} {r2:?}");
        let loser = match (r1, r2) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
            _ => unreachable!("exactly one approval won"),
        };
        assert_eq!(
            (loser.status(), loser.code()),
            (Some(409), Some("session_state"))
        );
        let winner = if oks[0] { a1 } else { a2 };
        assert_eq!(stack.status(&n).await["accountid"], winner);
        stack.clock.advance(1);
    }
}

async fn website_account_and_user_calls(stack: Stack) {
    let (phone, acc, n0) = enrolled(&stack, "").await;
    let path = format!("/accounts/{acc}");
    let (status, a) = stack.call(Method::GET, &path, None, None).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(
        (
            a["accountid"].clone(),
            a["id"].clone(),
            a.get("userid"),
            a["description"].clone()
        ),
        (json!(acc), json!(acc), None, json!("Test phone"))
    );
    // registerUser on the logged-in session sets the userid, and getSession shows it.
    let (status, st) = stack
        .call(
            Method::POST,
            "/sessions/registeruser?userid=jane",
            Some(&n0),
            None,
        )
        .await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["userid"], "jane");
    assert_eq!(stack.status(&n0).await["userid"], "jane");
    let (_, user) = stack.call(Method::GET, "/users/jane", None, None).await;
    assert_eq!(user["accounts"][0]["accountid"], acc);
    // registerUser without a login is refused, and changes nothing.
    let (status, v) = stack
        .call(
            Method::POST,
            "/sessions/registeruser?userid=x",
            Some(&nonce()),
            None,
        )
        .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("not_logged_in")),
        "{v}"
    );
    // updateAccountUser moves the account and its logged-in session.
    let (status, v) = stack
        .call(Method::PUT, &format!("{path}/user?userid=june"), None, None)
        .await;
    assert_eq!((status, v["userid"].clone()), (200, json!("june")), "{v}");
    assert_eq!(stack.status(&n0).await["userid"], "june");
    let (_, old) = stack.call(Method::GET, "/users/jane", None, None).await;
    assert_eq!(old["accounts"], json!([]));
    // Bad input: named fields, nothing changed.
    for (m, p, code) in [
        (Method::GET, "/accounts/0".to_string(), "invalid_field"),
        (Method::GET, "/accounts/abc".to_string(), "invalid_field"),
        (Method::GET, "/accounts/99999".to_string(), "not_found"),
        (
            Method::PUT,
            format!("{path}?blocked=maybe"),
            "invalid_field",
        ),
        (Method::PUT, format!("{path}/user"), "invalid_field"),
        (
            Method::GET,
            format!("{path}/sessions?limit=0"),
            "invalid_field",
        ),
        (
            Method::GET,
            format!("{path}/sessions?cursor=bogus"),
            "invalid_field",
        ),
    ] {
        let (status, v) = stack.call(m, &p, None, None).await;
        assert_eq!(v["error"], code, "{p}: {v}");
        assert!(status == 400 || status == 404, "{p}: {status}");
    }
    assert_eq!(
        stack.call(Method::GET, &path, None, None).await.1["userid"],
        "june"
    );
    // A key without the accounts permission.
    let k = nsauth::service::admin::create_key(
        stack.store(),
        &stack.serverid,
        vec![nsauth::apikey::Permission::Sessions],
        "s".into(),
        0,
    )
    .await
    .unwrap();
    let resp = nsauth_tests::http()
        .put(format!(
            "{}/servers/{}{path}?blocked=true",
            stack.base, stack.serverid
        ))
        .header("X-apikey", k.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // getAccount takes 'sessions' or 'accounts' (v2.2); the block above changed nothing.
    let resp = nsauth_tests::http()
        .get(format!("{}/servers/{}{path}", stack.base, stack.serverid))
        .header("X-apikey", k.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["blocked"], json!(false), "{seen}");
    // deleteUser removes the account; its login ends and the phone is refused.
    let (status, v) = stack.call(Method::DELETE, "/users/june", None, None).await;
    assert_eq!((status, v["deleted"].clone()), (200, json!(1)), "{v}");
    assert_eq!(state_of(&stack, &n0).await, "loggedout");
    let (status, _) = stack.call(Method::GET, &path, None, None).await;
    assert_eq!(status, 404);
    let e = phone
        .sessions(&stack.serverid.to_string())
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(401), Some("bad_signature")));
}

async fn in_app_login_and_session_pages(stack: Stack) {
    let (phone, acc, _) = enrolled(&stack, "kim").await;
    let sid = stack.serverid.to_string();
    let mut nonces = Vec::new();
    for i in 0..4 {
        stack.clock.advance(10);
        let n = phone
            .inapp(
                &sid,
                Some(json!({"sessioninfo": {"info": {"n": i.to_string()}}})),
            )
            .await
            .unwrap();
        let st = stack.status(&n).await;
        assert_eq!(
            (st["loggedin"].clone(), st["accountid"].clone()),
            (json!(true), json!(acc))
        );
        nonces.push(n);
    }
    // Five sessions (enrolment + four in-app), two a page, newest first.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for page in 0..3 {
        let q = if cursor.is_empty() {
            "?limit=2".to_string()
        } else {
            format!("?limit=2&cursor={cursor}")
        };
        let (status, v) = stack
            .call(
                Method::GET,
                &format!("/accounts/{acc}/sessions{q}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let items = v["sessions"].as_array().unwrap();
        assert_eq!(
            items.len(),
            if page < 2 { 2 } else { 1 },
            "page {page}: {v}"
        );
        seen.extend(items.iter().map(|s| {
            s["sessioninfo"]["info"]["n"]
                .as_str()
                .unwrap_or("enrol")
                .to_string()
        }));
        match v["next"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => assert_eq!(page, 2, "only the last page has no next"),
        }
    }
    assert_eq!(seen, ["3", "2", "1", "0", "enrol"]);
}

use nsauth_tests::decode_png_qr;

async fn enrol_qr_images(stack: Stack) {
    let n = nonce();
    for (q, size) in [
        ("?img=png", 500),
        ("?img=png&s=200", 200),
        ("?img=png&s=2000&userid=x", 2000),
    ] {
        let resp = nsauth_tests::http()
            .get(format!(
                "{}/sessions/qr/enrol{q}",
                stack.sessions_url().trim_end_matches("/sessions")
            ))
            .header("X-apikey", &stack.apikey)
            .header("X-nonce", &n)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "image/png");
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), size);
        let link = decode_png_qr(&bytes);
        assert!(
            link.starts_with(&format!("nsauth://enrol/{}/", stack.serverid)),
            "{link}"
        );
        // The decoded link enrols a phone (each image has its own token).
        let mut phone = stack.phone();
        phone.enrol(&link, "From QR", None).await.unwrap();
    }
    let (status, svg) = stack
        .call(
            Method::GET,
            "/sessions/qr/enrol?img=svg&s=300",
            Some(&n),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let svg = svg.as_str().unwrap();
    assert!(
        svg.starts_with("<?xml") && svg.contains("<svg") && svg.contains("300"),
        "{svg}"
    );
    // v2.2 clients' sizes: out of range is clamped, `s` without `img` is ignored.
    for (q, want) in [("?img=svg&s=99", "100"), ("?img=svg&s=5000", "2000")] {
        let (status, svg) = stack
            .call(
                Method::GET,
                &format!("/sessions/qr/enrol{q}"),
                Some(&n),
                None,
            )
            .await;
        assert_eq!(status, 200, "{q}");
        assert!(
            svg.as_str().unwrap().contains(&format!("width=\"{want}\"")),
            "{q}"
        );
    }
    let (status, raw) = stack
        .call(Method::GET, "/sessions/qr/enrol?s=300", Some(&n), None)
        .await;
    assert_eq!(status, 200);
    assert!(
        raw.as_str().unwrap().starts_with("nsauth://enrol/"),
        "{raw}"
    );
    for q in ["?img=gif", "?img=png&s=x", "?userid=", "?name=%00"] {
        let (status, v) = stack
            .call(
                Method::GET,
                &format!("/sessions/qr/enrol{q}"),
                Some(&n),
                None,
            )
            .await;
        if q == "?userid=" {
            assert_eq!(status, 200, "an empty userid means none: {v}");
            continue;
        }
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("invalid_field")),
            "{q}: {v}"
        );
    }
}

on_both_stores!(enrol_qr_images);
