//! What v2.2 website clients send and expect, over HTTP: a JSON `null` body is no body,
//! `blocked=1`/`0`, permissions per call as v2.2 names them ("'sessions' or 'users'"),
//! updateAccountUser's 403 for an invalid user name, getHtmlEnrol, and getHtmlFooter's
//! `sessions` body. On memory and on DynamoDB (moto).

use nsauth::apikey::Permission;
use nsauth_tests::{Stack, new_nonce, on_both_stores};
use reqwest::Method;
use serde_json::{Value, json};

on_both_stores!(
    null_bodies_and_flags,
    permissions_as_v22_names_them,
    html_enrol_block_enrols_and_logs_in,
    footer_watches_the_sessions_of_its_body
);

fn hsid(stack: &Stack, nonce: &str) -> String {
    nsauth::ids::Nonce::parse(Some(nonce))
        .unwrap()
        .hsid(&stack.serverid)
        .to_string()
}

/// A call with a key of these permissions only.
async fn call_with(
    stack: &Stack,
    perms: &[Permission],
    method: Method,
    path: &str,
    nonce: Option<&str>,
) -> (u16, Value) {
    let key = nsauth::service::admin::create_key(
        stack.store(),
        &stack.serverid,
        perms.to_vec(),
        "test".into(),
        0,
    )
    .await
    .unwrap();
    let mut req = nsauth_tests::http()
        .request(
            method,
            format!("{}/servers/{}{path}", stack.base, stack.serverid),
        )
        .header("X-apikey", key.expose());
    if let Some(n) = nonce {
        req = req.header("X-nonce", n);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn null_bodies_and_flags(stack: Stack) {
    // `null` is no body: createSession, getQrLogin and getHtmlLogin take it.
    let (status, v) = stack
        .call(Method::POST, "/sessions", None, Some(Value::Null))
        .await;
    assert_eq!(status, 201, "{v}");
    let n = new_nonce();
    let (status, v) = stack
        .call(
            Method::POST,
            "/sessions/qr/login",
            Some(&n),
            Some(Value::Null),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(v.as_str().unwrap().starts_with("nsauth://login/"), "{v}");
    let (status, _) = stack
        .call(
            Method::POST,
            "/sessions/html/login",
            Some(&n),
            Some(Value::Null),
        )
        .await;
    assert_eq!(status, 200);
    // blocked=1 and 0 as well as true and false.
    let phone_nonce = new_nonce();
    let link = stack.enrol_link(&phone_nonce, "?userid=flag").await;
    let mut phone = stack.phone();
    let acc = phone.enrol(&link, "Phone", None).await.unwrap().accountid;
    for (value, want) in [("1", true), ("0", false), ("true", true), ("false", false)] {
        let (status, v) = stack
            .call(
                Method::PUT,
                &format!("/accounts/{acc}/?blocked={value}"),
                None,
                None,
            )
            .await;
        assert_eq!(
            (status, v["blocked"].clone()),
            (200, json!(want)),
            "{value}: {v}"
        );
    }
    let (status, v) = stack
        .call(
            Method::PUT,
            &format!("/accounts/{acc}?blocked=yes"),
            None,
            None,
        )
        .await;
    nsauth_tests::assert_error(status, &v, 400, "invalid_field");
    // updateAccountUser: an invalid user name is 403 (v2.2), a missing one 400; neither
    // changes the account.
    let (status, v) = stack
        .call(
            Method::PUT,
            &format!("/accounts/{acc}/user?userid=a%0Ab"),
            None,
            None,
        )
        .await;
    nsauth_tests::assert_error(status, &v, 403, "invalid_userid");
    let (status, v) = stack
        .call(Method::PUT, &format!("/accounts/{acc}/user"), None, None)
        .await;
    nsauth_tests::assert_error(status, &v, 400, "invalid_field");
    let (_, a) = stack
        .call(Method::GET, &format!("/accounts/{acc}"), None, None)
        .await;
    assert_eq!(a["userid"], "flag");
    assert_eq!(
        a["clientVersion"].as_str().map(|s| !s.is_empty()),
        Some(true),
        "{a}"
    );
    assert!(a["created"].is_i64() && a["lastlogin"].is_i64(), "{a}");
    assert!(
        a.get("lastprovoke").is_none(),
        "never pushed: left out, {a}"
    );
}

async fn permissions_as_v22_names_them(stack: Stack) {
    let n = new_nonce();
    let link = stack.enrol_link(&n, "?userid=perm").await;
    let mut phone = stack.phone();
    let acc = phone.enrol(&link, "Phone", None).await.unwrap().accountid;
    use Permission::{Accounts as A, Sessions as S, Users as U};
    let other = new_nonce();
    // (permissions, method, path, nonce?, allowed?)
    let cases: Vec<(&[Permission], Method, String, bool, bool)> = vec![
        (
            &[U],
            Method::POST,
            "/users/perm/provokelogin".into(),
            true,
            true,
        ),
        (
            &[A],
            Method::POST,
            "/users/perm/provokelogin".into(),
            true,
            false,
        ),
        (
            &[A],
            Method::POST,
            format!("/accounts/{acc}/provokelogin"),
            true,
            true,
        ),
        (
            &[U],
            Method::POST,
            format!("/accounts/{acc}/provokelogin"),
            true,
            false,
        ),
        (
            &[U],
            Method::POST,
            "/sessions/provokelogin".into(),
            true,
            false,
        ),
        (&[S], Method::GET, format!("/accounts/{acc}"), false, true),
        (&[U], Method::GET, format!("/accounts/{acc}"), false, false),
        (
            &[S],
            Method::GET,
            "/users/perm/accounts".into(),
            false,
            true,
        ),
        (
            &[A],
            Method::GET,
            "/users/perm/accounts".into(),
            false,
            false,
        ),
        (&[A], Method::GET, "/accounts/".into(), false, true),
        (&[S], Method::GET, "/accounts/".into(), false, false),
        (&[U], Method::GET, "/users/".into(), false, true),
        (&[A], Method::GET, "/users/".into(), false, false),
        (
            &[S],
            Method::PUT,
            format!("/accounts/{acc}/user?userid=perm"),
            false,
            false,
        ),
        (
            &[U],
            Method::PUT,
            format!("/accounts/{acc}/user?userid=perm"),
            false,
            false,
        ),
        (
            &[A],
            Method::PUT,
            format!("/accounts/{acc}/user?userid=perm"),
            false,
            true,
        ),
        (
            &[S],
            Method::DELETE,
            "/users/nobody/accounts".into(),
            false,
            false,
        ),
        (
            &[A],
            Method::DELETE,
            "/users/nobody/accounts".into(),
            false,
            true,
        ),
        (
            &[U],
            Method::DELETE,
            "/users/nobody/accounts".into(),
            false,
            true,
        ),
        (&[A], Method::DELETE, "/users/nobody".into(), false, false),
        (
            &[S],
            Method::POST,
            "/sessions/registeruser?userid=x".into(),
            true,
            false,
        ),
    ];
    for (perms, method, path, with_nonce, allowed) in cases {
        let (status, v) = call_with(
            &stack,
            perms,
            method.clone(),
            &path,
            with_nonce.then_some(other.as_str()),
        )
        .await;
        if allowed {
            assert_ne!(status, 403, "{perms:?} {method} {path}: {v}");
            assert_ne!(status, 401, "{perms:?} {method} {path}: {v}");
        } else {
            nsauth_tests::assert_error(status, &v, 403, "missing_permission");
        }
    }
    let (_, v) = call_with(
        &stack,
        &[A],
        Method::POST,
        "/users/perm/provokelogin",
        Some(&other),
    )
    .await;
    assert_eq!(
        v["message"],
        "this API key lacks the 'sessions' or 'users' permission"
    );
    // Nothing a refused call touched changed: the account is still perm's.
    let (_, a) = stack
        .call(Method::GET, &format!("/accounts/{acc}"), None, None)
        .await;
    assert_eq!(a["userid"], "perm");
}

async fn html_enrol_block_enrols_and_logs_in(stack: Stack) {
    let n = new_nonce();
    let resp = nsauth_tests::http()
        .get(format!(
            "{}/servers/{}/sessions/html/enrol?name=Laptop&userid=eve",
            stack.base, stack.serverid
        ))
        .header("X-apikey", &stack.apikey)
        .header("X-nonce", &n)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.starts_with("<div class=\"nsauth-enrol\""), "{html}");
    assert!(
        html.contains(&format!("data-hsid=\"{}\"", hsid(&stack, &n))),
        "{html}"
    );
    assert!(html.contains("<svg"), "an inline QR code");
    let link = html
        .split("data-link=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert!(link.starts_with("nsauth://enrol/"), "{link}");
    assert!(html.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))));
    // The block's link enrols, and the enrolment logs the new account in to the session.
    let mut phone = stack.phone();
    let acc = phone.enrol(&link, "Laptop", None).await.unwrap();
    assert_eq!(acc.userid.as_deref(), Some("eve"));
    let st = stack.status(&n).await;
    assert_eq!(
        (st["loggedin"].clone(), st["userid"].clone()),
        (json!(true), json!("eve"))
    );
    // A second device enrolled from the logged-in session: the block says the session is
    // logged in (so it waits for ENROLLED, not LOGIN); the login stays the first device's
    // and the session records the enrolment (the ENROLLED frame's cue).
    let resp = nsauth_tests::http()
        .get(format!(
            "{}/servers/{}/sessions/html/enrol?name=Tablet",
            stack.base, stack.serverid
        ))
        .header("X-apikey", &stack.apikey)
        .header("X-nonce", &n)
        .send()
        .await
        .unwrap();
    let html = resp.text().await.unwrap();
    assert!(html.contains("data-session=\"loggedin\""), "{html}");
    let link2 = html
        .split("data-link=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let mut tablet = stack.phone();
    let second = tablet.enrol(&link2, "Tablet", None).await.unwrap();
    let st = stack.status(&n).await;
    assert_eq!(st["accountid"], json!(acc.accountid), "{st}");
    let stored = stack
        .store()
        .get_session(&nsauth::ids::Hsid::parse(&hsid(&stack, &n)).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.enrolled, Some(second.accountid));
    // A userid binds the account to a user: the key needs 'users' as well (our deviation,
    // as for getQrEnrol); without a userid 'sessions' is enough.
    let (status, v) = call_with(
        &stack,
        &[Permission::Sessions],
        Method::GET,
        "/sessions/html/enrol?userid=mallory",
        Some(&new_nonce()),
    )
    .await;
    nsauth_tests::assert_error(status, &v, 403, "missing_permission");
    let (status, _) = call_with(
        &stack,
        &[Permission::Sessions],
        Method::GET,
        "/sessions/html/enrol?name=x",
        Some(&new_nonce()),
    )
    .await;
    assert_eq!(status, 200);
}

async fn footer_watches_the_sessions_of_its_body(stack: Stack) {
    let (_, _, logged) = stack.phone_with_push("fay", "tok-fay").await;
    let pending = new_nonce();
    let me = new_nonce();
    let footer = |body: Value| {
        let stack = &stack;
        let me = me.clone();
        async move {
            let resp = nsauth_tests::http()
                .get(format!(
                    "{}/servers/{}/sessions/html/footer",
                    stack.base, stack.serverid
                ))
                .header("X-apikey", &stack.apikey)
                .header("X-nonce", &me)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let sid = stack.serverid.to_string();
    let (status, html) = footer(json!({"sessions": [
        {"serverid": sid, "sessionid": logged},
        {"serverid": sid, "sessionid": pending},
    ]}))
    .await;
    assert_eq!(status, 200, "{html}");
    // The logged-in one is watched (REGISTER only: no token); the pending one is not, nor
    // is the page's own session, which nobody is logged in to.
    assert!(
        html.contains(&format!("data-hsid=\"{}\"", hsid(&stack, &logged))),
        "{html}"
    );
    assert!(!html.contains(&hsid(&stack, &pending)), "{html}");
    assert!(!html.contains(&hsid(&stack, &me)), "{html}");
    assert!(html.contains("data-token=\"\""), "{html}");
    // `null` and an empty object are no sessions; bad entries are 400.
    for body in [Value::Null, json!({})] {
        let (status, html) = footer(body).await;
        assert_eq!(status, 200);
        assert!(!html.contains("nsauth-footer"), "{html}");
    }
    let too_many: Vec<Value> = (0..11)
        .map(|_| json!({"serverid": sid, "sessionid": new_nonce()}))
        .collect();
    for body in [
        json!({"sessions": [{"serverid": "x", "sessionid": logged}]}),
        json!({"sessions": [{"serverid": sid, "sessionid": "short"}]}),
        json!({"sessions": too_many}),
        json!({"sessions": "all"}),
        json!([]),
        json!([[sid, logged]]),
        json!({"sessions": [[sid, logged]]}),
    ] {
        let (status, text) = footer(body.clone()).await;
        assert_eq!(status, 400, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(
            v["error"] == "invalid_field" || v["error"] == "invalid_json",
            "{v}"
        );
    }
}
