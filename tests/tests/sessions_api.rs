//! createSession and getSession over HTTP against the local stack, each test run twice:
//! on the in-memory store and on DynamoDB (moto's server).

use base64::Engine;
use nsauth::apikey::{ApiKey, Permission};
use nsauth::ids::Nonce;
use nsauth::session::{LoginInfo, SessionState};
use nsauth::settings::ServerSettings;
use nsauth_tests::{Stack, assert_error, hsid_of, http, json, on_atomic_stores, on_both_stores};
use serde_json::json;

on_both_stores!(
    create_then_get,
    unseen_nonce_becomes_pending_once,
    pending_expires_at_login_timeout,
    login_status_while_logged_in_and_after,
    api_key_checks,
    nonce_validation,
    body_limits_and_bad_bodies,
    get_session_costs_one_session_read,
    malformed_requests_get_json_errors,
);
on_atomic_stores!(concurrent_first_reads_create_one_session);

use nsauth_tests::new_nonce as nonce;

async fn get(stack: &Stack, nonce: &str) -> (u16, serde_json::Value) {
    json(
        http()
            .get(stack.sessions_url())
            .header("X-apikey", &stack.apikey)
            .header("X-nonce", nonce)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn create_then_get(stack: Stack) {
    let ctx = json!({"announceinfo": {"info": {"action": "Log in to Demo"}, "ip": "192.0.2.10"}});
    let resp = http()
        .post(format!("{}/", stack.sessions_url()))
        .header("X-apikey", &stack.apikey)
        .header("User-Agent", "DemoBackend/1.0")
        .json(&ctx)
        .send()
        .await
        .unwrap();
    let (status, created) = json(resp).await;
    assert_eq!(status, 201, "{created}");
    let nonce = created["nonce"].as_str().unwrap();
    assert!(Nonce::parse(Some(nonce)).is_ok());
    assert_eq!(nonce.len(), 22, "128 bits as base64url");
    let hsid = hsid_of(&stack, nonce);
    assert_eq!(created["hsid"], hsid.as_str());
    let link = format!("nsauth://login/{}/{}", stack.serverid, hsid);
    assert_eq!(created["loginurl"], link);
    let qr = base64::engine::general_purpose::STANDARD
        .decode(created["loginqrdata"].as_str().unwrap())
        .unwrap();
    assert_eq!(qr, link.as_bytes());
    assert_eq!(created["expires"], "2027-01-15T08:05:00Z", "START + 300 s");

    let (status, st) = get(&stack, nonce).await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(
        st,
        json!({"loggedin": false, "canprovoke": false,
               "hsid": hsid.as_str(), "loginqrdata": created["loginqrdata"],
               "state": "pending", "expires": "2027-01-15T08:05:00Z"}),
        "a field without a value is left out, never null"
    );

    let stored = stack.store().get_session(&hsid).await.unwrap().unwrap();
    let a = &stored.context.announceinfo;
    assert_eq!(a.info["action"], "Log in to Demo");
    assert_eq!(a.ip, "192.0.2.10", "the website's ip is kept");
    assert_eq!(
        a.useragent, "DemoBackend/1.0",
        "missing useragent filled from the request"
    );
    assert_eq!(
        stored.context.sessioninfo.ip, "127.0.0.1",
        "missing ip filled from the request"
    );
}

async fn unseen_nonce_becomes_pending_once(stack: Stack) {
    let n = nonce();
    let (status, first) = get(&stack, &n).await;
    assert_eq!(status, 200);
    assert_eq!(first["state"], "pending");
    assert_eq!(first["hsid"], hsid_of(&stack, &n).as_str());
    stack.clock.advance(100);
    let (_, second) = get(&stack, &n).await;
    assert_eq!(
        second["expires"], first["expires"],
        "a read does not begin a new attempt"
    );
    let stored = stack.stored_session(&n).await.unwrap();
    assert_eq!(stored.version, 1);
}

async fn pending_expires_at_login_timeout(stack: Stack) {
    let n = nonce();
    let (_, st) = get(&stack, &n).await;
    assert_eq!(st["state"], "pending");
    stack.clock.advance(299);
    let (_, st) = get(&stack, &n).await;
    assert_eq!(st["state"], "pending");
    stack.clock.advance(1);
    let (status, st) = get(&stack, &n).await;
    assert_eq!(status, 200);
    assert_eq!(st["state"], "expired");
    assert_eq!(st["expires"], serde_json::Value::Null);
    assert_eq!(st["loggedin"], false);
    // The item still exists and still says pending: expiry is decided at read time.
    let stored = stack.stored_session(&n).await.unwrap();
    assert_eq!(stored.state, SessionState::Pending);
    assert_eq!(stack.counting.counts().get("update_session"), None);
}

async fn login_status_while_logged_in_and_after(stack: Stack) {
    let n = nonce();
    get(&stack, &n).await;
    let hsid = hsid_of(&stack, &n);
    let settings = ServerSettings::default();
    let s = stack.store().get_session(&hsid).await.unwrap().unwrap();
    let now = nsauth_tests::START + 10;
    let inn = s
        .approve(
            LoginInfo {
                verification: None,
                channel: None,
                proximity: None,
                accountid: 12,
                userid: Some("alice".into()),
                pk: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQc=".into(),
            },
            &settings,
            now,
        )
        .unwrap();
    stack.store().update_session(&inn, s.version).await.unwrap();
    stack.clock.set(now + 1);
    let (_, st) = get(&stack, &n).await;
    assert_eq!(st["loggedin"], true, "{st}");
    assert_eq!(st["state"], "loggedin");
    assert_eq!(st["userid"], "alice");
    assert_eq!(st["accountid"], 12);
    assert_eq!(st["pk"], "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQc=");
    assert_eq!(st["canprovoke"], true);
    assert_eq!(st["expires"], "2027-01-15T20:00:10Z", "login + 43200 s");
    stack.clock.set(now + 43_200);
    let (_, st) = get(&stack, &n).await;
    assert_eq!(st["state"], "loggedout");
    assert_eq!(st["loggedin"], false);
    assert_eq!(
        (st.get("userid"), st.get("accountid"), st.get("pk")),
        (None, None, None),
        "left out, not null: {st}"
    );
    assert_eq!(
        st["canprovoke"], true,
        "canprovoke survives the end of the login"
    );
}

async fn api_key_checks(stack: Stack) {
    let n = nonce();
    let call = |key: Option<String>, sid: String| {
        let mut req = http()
            .get(format!("{}/servers/{sid}/sessions", stack.base))
            .header("X-nonce", &n);
        if let Some(k) = key {
            req = req.header("X-apikey", k);
        }
        async move { json(req.send().await.unwrap()).await }
    };
    let sid = stack.serverid.to_string();
    let (other_sid, other_key) = stack.other_server().await;

    let cases: Vec<(&str, Option<String>, String)> = vec![
        ("missing key", None, sid.clone()),
        (
            "wrong key",
            Some(ApiKey::generate().expose().into()),
            sid.clone(),
        ),
        ("garbage key", Some("letmein".into()), sid.clone()),
        (
            "another server's key",
            Some(other_key.expose().into()),
            sid.clone(),
        ),
        (
            "unknown server",
            Some(stack.apikey.clone()),
            nsauth::ids::ServerId::generate().to_string(),
        ),
        (
            "malformed server id",
            Some(stack.apikey.clone()),
            "not-a-server".into(),
        ),
        (
            "our key on the other server",
            Some(stack.apikey.clone()),
            other_sid.to_string(),
        ),
    ];
    for (what, key, sid) in cases {
        let (status, body) = call(key, sid).await;
        assert_error(status, &body, 401, "invalid_api_key");
        assert!(
            !body.to_string().contains(&n),
            "{what}: the nonce is not echoed"
        );
    }
    // Same key id, altered secret: found by id, refused by hash.
    let mut forged = stack.apikey.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = call(Some(forged), sid.clone()).await;
    assert_error(status, &body, 401, "invalid_api_key");

    // A key without the sessions permission: 403.
    let now = nsauth_tests::START;
    let accounts_only = nsauth::service::admin::create_key(
        stack.store(),
        &stack.serverid,
        vec![Permission::Accounts],
        "a".into(),
        now,
    )
    .await
    .unwrap();
    let (status, body) = call(Some(accounts_only.expose().into()), sid.clone()).await;
    assert_error(status, &body, 403, "missing_permission");
    assert!(body["message"].as_str().unwrap().contains("sessions"));

    // A revoked key stops working at once.
    let k = nsauth::service::admin::create_key(
        stack.store(),
        &stack.serverid,
        vec![Permission::Sessions],
        "r".into(),
        now,
    )
    .await
    .unwrap();
    let (status, _) = call(Some(k.expose().into()), sid.clone()).await;
    assert_eq!(status, 200);
    nsauth::service::admin::revoke_key(stack.store(), &stack.serverid, k.keyid(), now)
        .await
        .unwrap();
    let hsid2 = Nonce::generate();
    let (status, body) = json(
        http()
            .get(stack.sessions_url())
            .header("X-apikey", k.expose())
            .header("X-nonce", hsid2.expose())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 401, "invalid_api_key");
    assert!(body["message"].as_str().unwrap().contains("revoked"));
    assert!(
        stack
            .store()
            .get_session(&hsid2.hsid(&stack.serverid))
            .await
            .unwrap()
            .is_none(),
        "a refused call creates no session"
    );
    // createSession checks the key too, and creates nothing when it fails.
    stack.counting.reset();
    let (status, body) = json(
        http()
            .post(stack.sessions_url())
            .header("X-apikey", other_key.expose())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 401, "invalid_api_key");
    assert_eq!(stack.counting.counts().get("create_session"), None);
}

async fn nonce_validation(stack: Stack) {
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("too short", Some("a".repeat(21))),
        ("too long", Some("a".repeat(129))),
        ("bad characters", Some("abcdefghijklmnopqrstuvw:xyz".into())),
        ("space", Some("abcdefghijklmnop qrstuvwxyz".into())),
        (
            "hex under 32",
            Some("0123456789abcdef0123456789abcde".into()),
        ),
        ("non-ascii", Some("abcdefghijklmnopqrstuvwxyzé".into())),
    ];
    stack.counting.reset();
    for (what, n) in cases {
        let mut req = http()
            .get(stack.sessions_url())
            .header("X-apikey", &stack.apikey);
        if let Some(n) = &n {
            req = req.header("X-nonce", n.as_bytes());
        }
        let (status, body) = json(req.send().await.unwrap()).await;
        assert_error(status, &body, 400, "invalid_nonce");
        assert!(
            body["message"].as_str().unwrap().contains("X-nonce") || what == "hex under 32",
            "{what}: {body}"
        );
    }
    let counts = stack.counting.counts();
    assert_eq!(counts.get("create_session"), None, "{counts:?}");
    assert_eq!(
        counts.get("get_session"),
        None,
        "nothing is read for a bad nonce: {counts:?}"
    );
    // The edges that are valid.
    for ok in [
        "g".repeat(22),
        "a".repeat(128),
        "0123456789abcdef".repeat(2),
        "A+/=_-".repeat(4),
        // PHP session ids (`,` `-`), dotted ids of other frameworks.
        "a,b-c,d-e,f-g,h-i,j-k,l".to_string(),
        "abc.def.ghi.jkl.mno.pqr.st".to_string(),
    ] {
        let (status, body) = get(&stack, &ok).await;
        assert_eq!(status, 200, "{ok}: {body}");
    }
}

async fn body_limits_and_bad_bodies(stack: Stack) {
    let post = |body: Vec<u8>| {
        http()
            .post(stack.sessions_url())
            .header("X-apikey", &stack.apikey)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    stack.counting.reset();
    let mut big = br#"{"announceinfo":{"info":{"a":"b"}}}"#.to_vec();
    big.resize(64 * 1024 + 1, b' ');
    let (status, body) = json(post(big.clone()).await.unwrap()).await;
    assert_error(status, &body, 413, "payload_too_large");
    big.truncate(64 * 1024);
    let (status, body) = json(post(big).await.unwrap()).await;
    assert_eq!(status, 201, "exactly 64 KiB is accepted: {body}");
    let (status, body) = json(post(vec![b'x'; 1024 * 1024]).await.unwrap()).await;
    assert_error(status, &body, 413, "payload_too_large");

    stack.counting.reset();
    for (bad, code, names) in [
        (&b"{not json"[..], "invalid_json", ""),
        (b"[]", "invalid_json", ""),
        (b"\xff\xfe", "invalid_json", ""),
        (
            br#"{"announceinfo":{"ip":"999.1.1.1"}}"#,
            "invalid_field",
            "announceinfo.ip",
        ),
        (
            br#"{"sessioninfo":{"logo":"***"}}"#,
            "invalid_field",
            "sessioninfo.logo",
        ),
    ] {
        let (status, body) = json(post(bad.to_vec()).await.unwrap()).await;
        assert_error(status, &body, 400, code);
        assert!(body["message"].as_str().unwrap().contains(names), "{body}");
    }
    assert_eq!(
        stack.counting.counts().get("create_session"),
        None,
        "bad bodies store nothing"
    );
}

async fn get_session_costs_one_session_read(stack: Stack) {
    let n = nonce();
    get(&stack, &n).await;
    stack.counting.reset();
    let (status, _) = get(&stack, &n).await;
    assert_eq!(status, 200);
    let counts = stack.counting.counts();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        vec![("get_session_with_role", 1)],
        "one (consistent) read of server, key and session together, and no write"
    );
}

async fn malformed_requests_get_json_errors(stack: Stack) {
    let sid = stack.serverid.to_string();
    let long = "x".repeat(5000);
    let cases: Vec<(reqwest::Method, String, u16, &str)> = vec![
        (reqwest::Method::GET, "/".into(), 404, "not_found"),
        (
            reqwest::Method::GET,
            format!("/servers/{sid}/nope"),
            404,
            "not_found",
        ),
        // getServer: a website key may not read the server's configuration.
        (
            reqwest::Method::GET,
            format!("/servers/{sid}"),
            403,
            "missing_permission",
        ),
        (
            reqwest::Method::GET,
            format!("/servers/{sid}/sessions/nope"),
            404,
            "not_found",
        ),
        (
            reqwest::Method::GET,
            format!("/servers/{sid}/sessions//"),
            404,
            "not_found",
        ),
        (
            reqwest::Method::GET,
            "/servers/%ff%fe/sessions".into(),
            404,
            "not_found",
        ),
        (
            reqwest::Method::GET,
            format!("/servers/{long}/sessions"),
            404,
            "not_found",
        ),
        (
            reqwest::Method::DELETE,
            format!("/servers/{sid}/sessions"),
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::PUT,
            format!("/servers/{sid}/sessions/"),
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::OPTIONS,
            format!("/servers/{sid}/sessions"),
            405,
            "method_not_allowed",
        ),
    ];
    for (method, path, want, code) in cases {
        let (status, body) = json(
            http()
                .request(method, format!("{}{path}", stack.base))
                .header("X-apikey", &stack.apikey)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(status, &body, want, code);
    }
    // Odd header bytes and duplicates never crash a handler.
    let (status, body) = json(
        http()
            .get(stack.sessions_url())
            .header("X-apikey", &b"nsk_\xff\xfe"[..])
            .header("X-nonce", nonce())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 401, "invalid_api_key");
    let (status, body) = json(
        http()
            .get(stack.sessions_url())
            .header("X-apikey", &stack.apikey)
            .header("X-nonce", &b"\xffabcdefghijklmnopqrstuvwxyz"[..])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 400, "invalid_nonce");
    // The stack still serves after all of that.
    assert_eq!(get(&stack, &nonce()).await.0, 200);
}

async fn concurrent_first_reads_create_one_session(stack: Stack) {
    let n = nonce();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = stack.sessions_url();
        let key = stack.apikey.clone();
        let n = n.clone();
        tasks.push(tokio::spawn(async move {
            json(
                http()
                    .get(url)
                    .header("X-apikey", key)
                    .header("X-nonce", n)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }));
    }
    let mut expires = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        expires.push(body["expires"].clone());
    }
    expires.dedup();
    assert_eq!(expires.len(), 1, "all readers see the one session");
    let stored = stack.stored_session(&n).await.unwrap();
    assert_eq!(stored.version, 1, "created once, never overwritten");
}
