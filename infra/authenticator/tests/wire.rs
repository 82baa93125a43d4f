//! What goes over the wire, against a scripted fake HTTP server (no nsauth server needed):
//! the request line is exactly the signed path, the body is exactly the hashed bytes, and the
//! signature verifies as the server checks it. Also the answers: the stored account after
//! enrolment, error mapping, and forgetting the key after removal; the stored push tokens and
//! the inbox read from the local push outbox; transactions shown, checked, signed and
//! declined.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nsauth_authenticator::{Authenticator, Error, PushRegistration, PushedLogin, TransactionState};
use nsauth_protocol::push::{OutboxEntry, PushMessage};
use nsauth_protocol::signing::{AccountRef, AuthHeader, Canonical, canonical_bytes, verify};
use nsauth_protocol::transaction::{SIGNED_TYPE, SignedTransaction, signed_content};
use nsauth_protocol::usercontext::SessionInfo;
use nsauth_protocol::wire::Platform;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const S: &str = "AAECAwQFBgcICQoLDA0ODw";
const S2: &str = "BBECAwQFBgcICQoLDA0ODw";
const H: &str = "5KvIv6Y0y8IgLQULP8ZR_Q";
const TOKEN: &str = "q-_0123456789abcdefABC";
const NOW: i64 = 1_800_000_000;

#[derive(Debug)]
struct Received {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The bytes a server checks the signature over: what was received, with the `Host`
    /// header and the server and account of the `Authorization` header.
    fn canonical(&self, h: &AuthHeader) -> Vec<u8> {
        canonical_bytes(&Canonical {
            method: &self.method,
            host: self.header("host").unwrap_or(""),
            path_with_query: &self.target,
            serverid: &h.serverid,
            account: h.account,
            ts: h.ts,
            body: &self.body,
        })
    }

    /// The server's check: parse the header, verify over the bytes actually received.
    fn verify_with(&self, publickey: &str) -> AuthHeader {
        let h = AuthHeader::parse(self.header("authorization")).unwrap();
        verify(publickey, &self.canonical(&h), &h.sig).unwrap();
        h
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A one-request-per-connection HTTP/1.1 server answering from a script.
struct Fake {
    base: String,
    answers: Arc<Mutex<VecDeque<(u16, String)>>>,
    received: mpsc::UnboundedReceiver<Received>,
}

impl Fake {
    async fn start() -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let answers: Arc<Mutex<VecDeque<(u16, String)>>> = Arc::default();
        let (tx, received) = mpsc::unbounded_channel();
        let script = answers.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = Vec::new();
                let head_end = loop {
                    let mut chunk = [0u8; 4096];
                    let n = sock.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "connection closed mid-request");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
                let mut lines = head.split("\r\n");
                let mut request_line = lines.next().unwrap().split(' ');
                let method = request_line.next().unwrap().to_string();
                let target = request_line.next().unwrap().to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    let mut chunk = [0u8; 4096];
                    let n = sock.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "connection closed mid-body");
                    body.extend_from_slice(&chunk[..n]);
                }
                let (status, answer) = script.lock().unwrap().pop_front().unwrap_or((
                    500,
                    r#"{"error":"internal","message":"no scripted answer"}"#.into(),
                ));
                let _ = tx.send(Received {
                    method,
                    target,
                    headers,
                    body,
                });
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        Fake {
            base,
            answers,
            received,
        }
    }

    fn answer(&self, status: u16, body: Value) {
        self.answers
            .lock()
            .unwrap()
            .push_back((status, body.to_string()));
    }

    async fn next(&mut self) -> Received {
        self.received.recv().await.unwrap()
    }

    fn enrol_link(&self, serverid: &str) -> String {
        let api =
            percent_encoding::utf8_percent_encode(&self.base, percent_encoding::NON_ALPHANUMERIC);
        format!("nsauth://enrol/{serverid}/{TOKEN}?api={api}")
    }
}

fn temp_file(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "nsauth-authenticator-wire-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("keys.json")
}

fn open(path: &PathBuf) -> Authenticator {
    Authenticator::open(path)
        .unwrap()
        .with_clock(Arc::new(|| NOW))
}

/// Enrols with server `serverid` (account `accountid`) on the fake.
async fn enrol(fake: &mut Fake, auth: &mut Authenticator, serverid: &str, accountid: u64) {
    fake.answer(
        201,
        json!({"serverid": serverid, "servername": "Acme", "accountid": accountid, "userid": null}),
    );
    auth.enrol(&fake.enrol_link(serverid), "test phone", None)
        .await
        .unwrap();
    fake.next().await;
}

#[tokio::test]
async fn enrol_signs_with_the_new_key_and_stores_the_account() {
    let mut fake = Fake::start().await;
    let path = temp_file("enrol");
    let mut auth = open(&path);

    // A refused enrolment stores nothing.
    fake.answer(409, json!({"error": "token_used", "message": "used"}));
    let e = auth
        .enrol(&fake.enrol_link(S), "my phone", None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(409), Some("token_used")));
    fake.next().await;
    assert!(auth.accounts().is_empty());

    fake.answer(
        201,
        json!({"serverid": S, "servername": "Acme", "accountid": 7, "userid": "alice"}),
    );
    let account = auth
        .enrol(&fake.enrol_link(S), "my phone", Some(("fcm", "push-token")))
        .await
        .unwrap();
    let r = fake.next().await;
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/app/v1/enrol")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["token"], TOKEN);
    assert_eq!(body["description"], "my phone");
    assert_eq!(
        body["push"],
        json!({"platform": "fcm", "token": "push-token"})
    );
    assert!(
        body["clientversion"]
            .as_str()
            .unwrap()
            .starts_with("nsauth-authenticator/")
    );
    let publickey = body["publickey"].as_str().unwrap();
    let h = r.verify_with(publickey);
    assert_eq!(h.account, AccountRef::New);
    assert_eq!(h.serverid.as_str(), S);
    assert_eq!(h.ts, NOW);

    assert_eq!(account.accountid, 7);
    assert_eq!(account.userid.as_deref(), Some("alice"));
    assert_eq!(account.api, fake.base);
    assert_eq!(account.publickey(), publickey);
    // The answer did not say `"push": true`: the token is not remembered.
    assert_eq!(account.push, None);
    // Stored: a fresh open sees it.
    let again = open(&path);
    assert_eq!(again.accounts(), &[account]);

    // Enrolling twice with one server is refused locally.
    let e = auth
        .enrol(&fake.enrol_link(S), "my phone", None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AlreadyEnrolled(_)), "{e:?}");

    // An answer for another server is not stored.
    fake.answer(
        201,
        json!({"serverid": S, "servername": "X", "accountid": 8}),
    );
    let e = auth
        .enrol(&fake.enrol_link(S2), "my phone", None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    fake.next().await;
    assert_eq!(auth.accounts().len(), 1);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn calls_send_what_they_sign() {
    let mut fake = Fake::start().await;
    let path = temp_file("calls");
    let mut auth = open(&path);
    enrol(&mut fake, &mut auth, S, 7).await;
    let pk = auth.account(S).unwrap().publickey();
    let link = format!("nsauth://login/{S}/{H}");

    let state = |s: &str| json!({ "state": s });
    // (what the call sent: method, target, body)
    let mut expect = Vec::new();

    fake.answer(
        200,
        json!({"serverid": S, "state": "scanned", "choices": null}),
    );
    assert_eq!(auth.show(&link).await.unwrap()["state"], "scanned");
    expect.push(("GET", format!("/app/v1/sessions/{H}"), Value::Null));

    fake.answer(200, state("loggedin"));
    let answer = auth.approve(&link, Some("42"), Some("ok")).await.unwrap();
    assert_eq!(answer, state("loggedin"));
    expect.push((
        "POST",
        format!("/app/v1/sessions/{H}/approve"),
        json!({"match": "42", "userinput": "ok", "verification": "none"}),
    ));

    fake.answer(200, state("cancelled"));
    auth.deny(&link, true).await.unwrap();
    expect.push((
        "POST",
        format!("/app/v1/sessions/{H}/deny"),
        json!({"reason": "fraud"}),
    ));

    fake.answer(200, json!({"sessions": [], "next": null}));
    auth.sessions(S).await.unwrap();
    expect.push(("GET", "/app/v1/sessions".into(), Value::Null));

    fake.answer(200, json!({"sessions": [], "next": null}));
    auth.sessions_page(S, Some(5), Some("a+b/c=d e"))
        .await
        .unwrap();
    expect.push((
        "GET",
        "/app/v1/sessions?limit=5&cursor=a%2Bb%2Fc%3Dd%20e".into(),
        Value::Null,
    ));

    fake.answer(200, state("loggedout"));
    auth.logout(S, H).await.unwrap();
    expect.push(("POST", format!("/app/v1/sessions/{H}/logout"), Value::Null));

    fake.answer(201, json!({"nonce": "N".repeat(22), "hsid": H}));
    assert_eq!(auth.inapp(S, None).await.unwrap(), "N".repeat(22));
    expect.push(("POST", "/app/v1/inapp".into(), Value::Null));

    let ctx = json!({"announceinfo": {"info": {"shop": "x"}}});
    fake.answer(201, json!({"nonce": "M".repeat(22), "hsid": H}));
    auth.inapp(S, Some(ctx.clone())).await.unwrap();
    expect.push(("POST", "/app/v1/inapp".into(), ctx));

    fake.answer(200, json!({"push": true}));
    auth.set_push(S, "apns", "t0k").await.unwrap();
    expect.push((
        "PUT",
        "/app/v1/push".into(),
        json!({"platform": "apns", "token": "t0k"}),
    ));

    for (method, target, body) in expect {
        let r = fake.next().await;
        assert_eq!(r.method, method);
        assert_eq!(r.target, target);
        if body.is_null() {
            assert!(r.body.is_empty(), "{target}: {:?}", r.body);
            assert_eq!(r.header("content-type"), None);
        } else {
            assert_eq!(r.json(), body, "{target}");
        }
        let h = r.verify_with(&pk);
        assert_eq!(h.account, AccountRef::Id(7));
        assert_eq!(h.serverid.as_str(), S);
        assert_eq!(h.ts, NOW);
    }

    // Removal forgets the key once the server said 200; an error keeps it.
    fake.answer(
        401,
        json!({"error": "replayed_request", "message": "again"}),
    );
    let e = auth.remove_account(S).await.unwrap_err();
    assert_eq!(e.code(), Some("replayed_request"));
    let r = fake.next().await;
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("DELETE", "/app/v1/account")
    );
    assert_eq!(auth.accounts().len(), 1);
    fake.answer(200, json!({"deleted": true}));
    auth.remove_account(S).await.unwrap();
    fake.next().await;
    assert!(auth.accounts().is_empty());
    assert!(open(&path).accounts().is_empty());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn errors_and_low_level_requests() {
    let mut fake = Fake::start().await;
    let path = temp_file("errors");
    let mut auth = open(&path);
    enrol(&mut fake, &mut auth, S, 7).await;
    let link = format!("nsauth://login/{S}/{H}");

    fake.answer(409, json!({"error": "wrong_match", "message": "cancelled"}));
    match auth.approve(&link, Some("13"), None).await.unwrap_err() {
        Error::Http {
            status,
            code,
            message,
        } => assert_eq!(
            (status, code.as_str(), message.as_str()),
            (409, "wrong_match", "cancelled")
        ),
        e => panic!("{e:?}"),
    }
    fake.next().await;

    // Not the JSON error shape: the status still comes through.
    fake.answers
        .lock()
        .unwrap()
        .push_back((502, "Bad Gateway".into()));
    let e = auth.sessions(S).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(502), Some("")));
    assert!(e.to_string().contains("Bad Gateway"), "{e}");
    fake.next().await;

    // A login link of a server without an account: approve refuses locally, show signs with
    // the account it has (the server then tells the website NOACCOUNTS).
    let other = format!("nsauth://login/{S2}/{H}");
    assert!(matches!(
        auth.approve(&other, None, None).await.unwrap_err(),
        Error::NoAccount(_)
    ));
    fake.answer(409, json!({"error": "no_account", "message": "no account"}));
    assert_eq!(
        auth.show(&other).await.unwrap_err().code(),
        Some("no_account")
    );
    let r = fake.next().await;
    assert_eq!(r.target, format!("/app/v1/sessions/{H}"));
    assert_eq!(
        AuthHeader::parse(r.header("authorization"))
            .unwrap()
            .serverid
            .as_str(),
        S
    );

    // Low level: change the body after signing; the status comes back, not an error.
    let mut req = auth
        .signed(
            S,
            "POST",
            &format!("/app/v1/sessions/{H}/approve"),
            b"{}".to_vec(),
        )
        .unwrap();
    req.body = br#"{"match":"42"}"#.to_vec();
    fake.answer(401, json!({"error": "bad_signature", "message": "no"}));
    let (status, answer) = auth.send(req.clone()).await.unwrap();
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("bad_signature"))
    );
    let r = fake.next().await;
    assert_eq!(r.body, req.body);
    assert_eq!(r.header("authorization"), Some(req.authorization.as_str()));
    let h = AuthHeader::parse(r.header("authorization")).unwrap();
    let pk = auth.account(S).unwrap().publickey();
    assert!(verify(&pk, &r.canonical(&h), &h.sig).is_err());

    // A key by hand: raw_key signs what the server accepts.
    let key = auth.raw_key(S).unwrap();
    assert_eq!(nsauth_protocol::signing::public_key_b64url(&key), pk);

    // Nothing listening: a transport error.
    drop(fake);
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/app/v1/sessions", dead.local_addr().unwrap());
    drop(dead);
    let mut req = auth
        .signed(S, "GET", "/app/v1/sessions", Vec::new())
        .unwrap();
    req.url = url;
    assert!(matches!(
        auth.send(req).await.unwrap_err(),
        Error::Transport { .. }
    ));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// A login push as the server builds it, and what the inbox should make of it.
fn pushed(serverid: &str, hsid: &str, choices: bool) -> (PushMessage, PushedLogin) {
    let mut announceinfo = SessionInfo::default();
    announceinfo.info.insert("action".into(), "Log in".into());
    let m = PushMessage {
        notice: false,
        new_network: false,
        serverid: serverid.into(),
        hsid: hsid.into(),
        servername: "Acme".into(),
        announceinfo,
        choices: choices.then(|| vec!["12".into(), "47".into(), "90".into()]),
        expires_in: 280,
        tid: None,
    };
    let login = PushedLogin {
        notice: false,
        serverid: serverid.into(),
        hsid: hsid.into(),
        servername: "Acme".into(),
        title: "Acme".into(),
        body: "Log in".into(),
        announceinfo: serde_json::to_value(&m.announceinfo).unwrap(),
        choices: m.choices.clone(),
        tid: None,
        link: format!("nsauth://login/{serverid}/{hsid}"),
    };
    (m, login)
}

/// The outbox entry the local stack lists for a message sent to `token`.
fn outbox_entry(m: &PushMessage, platform: Platform, token: &str) -> Value {
    serde_json::to_value(OutboxEntry {
        endpoint_arn: format!("local:endpoint/{}/e", platform.as_str()),
        platform,
        token: token.into(),
        message: serde_json::from_str(&m.sns_message()).unwrap(),
        attributes: m
            .sns_attributes()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    })
    .unwrap()
}

#[tokio::test]
async fn push_tokens_are_stored_and_the_inbox_reads_the_outbox() {
    // Visible ASCII with characters that must be encoded in a query.
    const PUSH: &str = "fcm+tok/en=1:2&x%y";
    const PUSH_ENCODED: &str = "fcm%2Btok%2Fen%3D1%3A2%26x%25y";
    const H2: &str = "6KvIv6Y0y8IgLQULP8ZR_Q";
    const S3: &str = "CCECAwQFBgcICQoLDA0ODw";
    let mut fake = Fake::start().await;
    let path = temp_file("inbox");
    let mut auth = open(&path);

    // Enrolment with a token the server takes: remembered.
    fake.answer(
        201,
        json!({"serverid": S, "servername": "Acme", "accountid": 7, "push": true}),
    );
    let account = auth
        .enrol(&fake.enrol_link(S), "phone", Some(("fcm", PUSH)))
        .await
        .unwrap();
    fake.next().await;
    let fcm = PushRegistration {
        platform: "fcm".into(),
        token: PUSH.into(),
    };
    assert_eq!(account.push, Some(fcm.clone()));
    assert_eq!(open(&path).account(S).unwrap().push, Some(fcm.clone()));

    // One the server cannot use (`"push": false`): not remembered.
    fake.answer(
        201,
        json!({"serverid": S2, "servername": "Acme", "accountid": 8, "push": false}),
    );
    let account = auth
        .enrol(&fake.enrol_link(S2), "phone", Some(("apns", "apns-token")))
        .await
        .unwrap();
    fake.next().await;
    assert_eq!(account.push, None);

    // set_push: a refusal stores nothing, a 200 stores the token (the same device token).
    fake.answer(
        400,
        json!({"error": "push_unavailable", "message": "no apns"}),
    );
    let e = auth.set_push(S2, "apns", "apns-token").await.unwrap_err();
    assert_eq!(e.code(), Some("push_unavailable"));
    fake.next().await;
    assert_eq!(auth.account(S2).unwrap().push, None);
    fake.answer(200, json!({"push": true}));
    auth.set_push(S2, "fcm", PUSH).await.unwrap();
    fake.next().await;
    assert_eq!(auth.account(S2).unwrap().push, Some(fcm.clone()));
    assert_eq!(open(&path).account(S2).unwrap().push, Some(fcm));

    // The outbox lists every message sent to the token, oldest first.
    let (m1, p1) = pushed(S, H, true);
    let (m2, p2) = pushed(S2, H, false);
    let (m3, p3) = pushed(S, H2, false);
    let outbox = json!({"messages": [
        outbox_entry(&m1, Platform::Fcm, PUSH),
        outbox_entry(&m2, Platform::Fcm, PUSH),
        outbox_entry(&m3, Platform::Fcm, PUSH),
    ]});

    // All accounts: both share the API base and the token, so one request.
    fake.answer(200, outbox.clone());
    let all = auth.inbox(None).await.unwrap();
    assert_eq!(all, vec![p1.clone(), p2.clone(), p3.clone()]);
    let r = fake.next().await;
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, format!("/local/outbox?token={PUSH_ENCODED}"));
    assert_eq!(r.header("authorization"), None, "the outbox is not signed");
    assert!(r.body.is_empty());
    assert!(fake.received.try_recv().is_err(), "one request only");

    // One server: only its pushes.
    fake.answer(200, outbox);
    assert_eq!(auth.inbox(Some(S)).await.unwrap(), vec![p1, p3]);
    assert_eq!(
        fake.next().await.target,
        format!("/local/outbox?token={PUSH_ENCODED}")
    );
    fake.answer(200, json!({"messages": []}));
    assert_eq!(auth.inbox(Some(S2)).await.unwrap(), vec![]);
    fake.next().await;

    // Not a local stack: a clear error.
    fake.answer(404, json!({"error": "not_found", "message": "no route"}));
    let e = auth.inbox(None).await.unwrap_err();
    assert!(
        matches!(&e, Error::NoOutbox { api, message } if *api == fake.base && message == "no route"),
        "{e:?}"
    );
    assert!(e.to_string().contains("not a local stack"), "{e}");
    fake.next().await;

    // Other failures and answers that are not an outbox.
    fake.answer(500, json!({"error": "internal", "message": "boom"}));
    let e = auth.inbox(None).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(500), Some("internal")));
    fake.next().await;
    fake.answer(200, json!({"pushes": []}));
    assert!(matches!(
        auth.inbox(None).await.unwrap_err(),
        Error::Protocol(_)
    ));
    fake.next().await;
    fake.answer(
        200,
        json!({"messages": [{"platform": "fcm", "token": PUSH}]}),
    );
    let e = auth.inbox(None).await.unwrap_err();
    assert!(
        matches!(&e, Error::Protocol(m) if m.contains("outbox message 0")),
        "{e:?}"
    );
    fake.next().await;

    // An account without a push token: refused locally, nothing sent.
    enrol(&mut fake, &mut auth, S3, 9).await;
    let e = auth.inbox(Some(S3)).await.unwrap_err();
    assert!(e.to_string().contains("no push token"), "{e}");
    assert!(matches!(
        auth.inbox(Some(S2.replace('B', "D").as_str())).await,
        Err(Error::NoAccount(_))
    ));
    assert!(fake.received.try_recv().is_err());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// The command line runs against the fake server: its standard error.
async fn cli(path: &std::path::Path, args: &[&str]) -> (bool, String) {
    let (ok, _, err) = cli_out(path, args).await;
    (ok, err)
}

/// The command line runs against the fake server: success, standard output and error.
async fn cli_out(path: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let (path, args): (PathBuf, Vec<String>) = (
        path.to_path_buf(),
        args.iter().map(|a| a.to_string()).collect(),
    );
    // On the blocking pool: the fake server answers on this test's runtime meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_nsauth-authenticator"))
            .arg("--file")
            .arg(path)
            .args(args)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The review's findings: the command line followed an app-to-app `return` URL whatever
/// the website's `return_urls` said, and printed control characters from it (and from the
/// server's messages) to the terminal.
#[tokio::test]
async fn cli_returns_only_to_allowed_urls_and_prints_no_control_characters() {
    let mut fake = Fake::start().await;
    let path = temp_file("cli-return");
    let mut auth = open(&path);
    enrol(&mut fake, &mut auth, S, 7).await;
    let link = |ret: &str| {
        format!(
            "nsauth://login/{S}/{H}?return={}",
            percent_encoding::utf8_percent_encode(ret, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    let shown = json!({"serverid": S, "servername": "Shop", "logo": "", "announceinfo": {},
        "state": "scanned", "choices": null, "return_urls": ["https://shop.example/"]});
    // Not on the list: approved, but no return (and the URL's escapes are not printed).
    fake.answer(200, shown.clone());
    fake.answer(200, json!({"state": "loggedin"}));
    let (ok, err) = cli(
        &path,
        &["approve", &link("https://evil.example/\u{1b}[2Jx")],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        err.contains("not returning to https://evil.example/"),
        "{err}"
    );
    assert!(!err.contains("return to https://evil"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no escape reaches the terminal: {err:?}"
    );
    // On the list: back to the website.
    fake.answer(200, shown);
    fake.answer(200, json!({"state": "loggedin"}));
    let (ok, err) = cli(&path, &["approve", &link("https://shop.example/cart")]).await;
    assert!(ok, "{err}");
    assert!(
        err.contains("app-to-app login: return to https://shop.example/cart"),
        "{err}"
    );
    // A server's message with escapes.
    fake.answer(
        409,
        json!({"error": "session_state", "message": "\u{1b}]0;owned\u{7}\u{9b}2J gone"}),
    );
    let (ok, err) = cli(&path, &["deny", &format!("nsauth://login/{S}/{H}")]).await;
    assert!(!ok);
    assert!(err.contains("owned"), "{err}");
    assert!(!err.chars().any(|c| c.is_control() && c != '\n'), "{err:?}");
}

// ---------------------------------------------------------------------------
// Transactions

/// A tid of session H (its first 16 bytes are H's).
const TID: &str = "5KvIv6Y0y8IgLQULP8ZR_QABAgMEBQYHCAkKCwwNDg8";
/// Another transaction of the same session.
const TID2: &str = "5KvIv6Y0y8IgLQULP8ZR_Q8ODQwLCgkIBwYFBAMCAQA";

fn signed_tx(serverid: &str, tid: &str, accountid: u64) -> SignedTransaction {
    SignedTransaction {
        kind: SIGNED_TYPE.into(),
        serverid: serverid.into(),
        servername: "Acme".into(),
        tid: tid.into(),
        accountid,
        amount: "EUR 12.50".into(),
        benificiary: "Bob".into(),
        description: "rent for December".into(),
        created: "2027-01-15T08:00:00Z".into(),
    }
}

/// The server's answer to GET /app/v1/transactions/{tid} for a signed text.
fn shown_tx(t: &SignedTransaction, signed: &str) -> Value {
    json!({
        "serverid": t.serverid, "servername": t.servername, "logo": "", "tid": t.tid,
        "amount": t.amount, "benificiary": t.benificiary, "description": t.description,
        "state": "new", "signed": signed, "expires": "2027-01-15T08:05:00Z",
    })
}

fn signature_bytes(b64: &str) -> [u8; 64] {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .unwrap()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn transactions_show_approve_and_decline() {
    let mut fake = Fake::start().await;
    let path = temp_file("tx");
    let mut auth = open(&path);
    enrol(&mut fake, &mut auth, S, 7).await;
    let pk = auth.account(S).unwrap().publickey();
    let t = signed_tx(S, TID, 7);
    let text = signed_content(&t);

    // Show: a signed GET, the content read from the text to sign.
    fake.answer(200, shown_tx(&t, &text));
    let got = auth.transaction(S, TID).await.unwrap();
    assert_eq!(got.signed, t);
    assert_eq!(got.shown.signed, text);
    assert_eq!(got.shown.state, TransactionState::New);
    let r = fake.next().await;
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("GET", format!("/app/v1/transactions/{TID}").as_str())
    );
    assert!(r.body.is_empty());
    assert_eq!(r.verify_with(&pk).account, AccountRef::Id(7));
    let view = got.view();
    assert_eq!(view["amount"], "EUR 12.50");
    assert_eq!(view["benificiary"], "Bob");
    assert_eq!(view["signed"], text);
    let summary = got.summary();
    assert!(summary.contains("AMOUNT:       EUR 12.50"), "{summary}");
    assert!(summary.contains("BENEFICIARY:  Bob"), "{summary}");
    assert!(
        summary.contains("description:  rent for December"),
        "{summary}"
    );

    // Approve: the user is verified first; with no PIN set, or a wrong one, nothing is
    // sent.
    let e = auth
        .approve_transaction(&got, Some("2468"))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Pin(m) if m.contains("no PIN")), "{e:?}");
    auth.set_pin("2468").unwrap();
    let e = auth.approve_transaction(&got, None).await.unwrap_err();
    assert!(
        matches!(&e, Error::Pin(m) if m.contains("give it")),
        "{e:?}"
    );
    let e = auth
        .approve_transaction(&got, Some("1357"))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Pin(m) if m == "wrong PIN"), "{e:?}");
    assert!(fake.received.try_recv().is_err(), "nothing sent");
    // The PIN is kept as a hash only, and survives reopening the file.
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(!file.contains("2468") && file.contains("\"pin\""), "{file}");
    let auth = open(&path);
    assert!(auth.has_pin());

    // The signature over the exact bytes of the text, with the account key, and the
    // verification in the signed body.
    fake.answer(200, json!({"state": "approved"}));
    let answer = auth.approve_transaction(&got, Some("2468")).await.unwrap();
    assert_eq!(answer.state, TransactionState::Approved);
    let r = fake.next().await;
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        (
            "POST",
            format!("/app/v1/transactions/{TID}/approve").as_str()
        )
    );
    assert_eq!(r.verify_with(&pk).account, AccountRef::Id(7));
    let body = r.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["verification"], "pin");
    let signature = body["signature"].as_str().unwrap();
    assert_eq!(signature.len(), 86, "base64url of r || s");
    let sig = signature_bytes(signature);
    verify(&pk, text.as_bytes(), &sig).unwrap();
    assert_eq!(auth.transaction_signature(S, &text).unwrap(), signature);
    // A changed amount is not what was signed.
    let tampered = text.replace("EUR 12.50", "EUR 912.50");
    assert!(verify(&pk, tampered.as_bytes(), &sig).is_err());

    // Decline: body {}.
    fake.answer(200, json!({"state": "declined"}));
    let answer = auth.decline_transaction(S, TID2).await.unwrap();
    assert_eq!(answer.state, TransactionState::Declined);
    let r = fake.next().await;
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        (
            "POST",
            format!("/app/v1/transactions/{TID2}/decline").as_str()
        )
    );
    assert_eq!(r.json(), json!({}));
    r.verify_with(&pk);

    // The server's errors come through.
    fake.answer(
        409,
        json!({"error": "transaction_closed", "message": "declined"}),
    );
    let e = auth
        .approve_transaction(&got, Some("2468"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some("transaction_closed"))
    );
    fake.next().await;
    fake.answer(
        403,
        json!({"error": "not_your_transaction", "message": "no"}),
    );
    let e = auth.transaction(S, TID).await.unwrap_err();
    assert_eq!(e.code(), Some("not_your_transaction"));
    fake.next().await;

    // Refused locally, nothing sent: a bad tid, no account for the server.
    assert!(matches!(
        auth.transaction(S, "short").await.unwrap_err(),
        Error::Invalid(_)
    ));
    assert!(matches!(
        auth.transaction(S2, TID).await.unwrap_err(),
        Error::NoAccount(_)
    ));
    assert!(matches!(
        auth.decline_transaction(S, &TID[1..]).await.unwrap_err(),
        Error::Invalid(_)
    ));
    assert!(fake.received.try_recv().is_err());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn transactions_that_do_not_check_out_are_not_signed() {
    let mut fake = Fake::start().await;
    let path = temp_file("tx-refused");
    let mut auth = open(&path);
    enrol(&mut fake, &mut auth, S, 7).await;
    let t = signed_tx(S, TID, 7);
    let text = signed_content(&t);
    let other = |f: &dyn Fn(&mut SignedTransaction)| {
        let mut o = t.clone();
        f(&mut o);
        signed_content(&o)
    };
    let mut shown_other_tid = shown_tx(&t, &text);
    shown_other_tid["tid"] = json!(TID2);
    let mut shown_other_amount = shown_tx(&t, &text);
    shown_other_amount["amount"] = json!("EUR 1.00");
    for (answer, expect) in [
        // Not the text the server writes: spaced, another type, not JSON, a field added.
        (
            shown_tx(&t, &text.replace(",\"", ", \"")),
            "not a transaction text",
        ),
        (
            shown_tx(&t, &other(&|o| o.kind = "nsauth-transaction-v2".into())),
            "not a transaction text",
        ),
        (shown_tx(&t, "pay Bob EUR 12.50"), "not a transaction text"),
        (
            shown_tx(&t, &text.replace("{\"type\"", "{\"x\":1,\"type\"")),
            "not a transaction text",
        ),
        // Another transaction, server or account in the text to sign.
        (
            shown_tx(&t, &other(&|o| o.tid = TID2.into())),
            "names transaction",
        ),
        (
            shown_tx(&t, &other(&|o| o.serverid = S2.into())),
            "names transaction",
        ),
        (
            shown_tx(&t, &other(&|o| o.accountid = 8)),
            "names account 8",
        ),
        // The answer is for another transaction.
        (shown_other_tid, "asked for transaction"),
        // One amount shown, another signed.
        (shown_other_amount, "differ from the text to sign"),
    ] {
        fake.answer(200, answer.clone());
        let e = auth.transaction(S, TID).await.unwrap_err();
        assert!(
            matches!(&e, Error::BadTransaction(m) if m.contains(expect)),
            "{answer}: {e:?}"
        );
        assert!(
            e.to_string().starts_with("refusing the transaction: "),
            "{e}"
        );
        fake.next().await;
        assert!(fake.received.try_recv().is_err(), "nothing but the GET");
    }

    // Not a transaction answer at all.
    fake.answer(200, json!({"state": "new"}));
    assert!(matches!(
        auth.transaction(S, TID).await.unwrap_err(),
        Error::Protocol(_)
    ));
    fake.next().await;

    // A checked transaction whose text was swapped afterwards is not signed.
    fake.answer(200, shown_tx(&t, &text));
    let mut got = auth.transaction(S, TID).await.unwrap();
    fake.next().await;
    got.shown.signed = other(&|o| o.amount = "EUR 912.50".into());
    got.shown.amount = "EUR 912.50".into();
    let e = auth.approve_transaction(&got, None).await.unwrap_err();
    assert!(matches!(e, Error::BadTransaction(_)), "{e:?}");
    assert!(fake.received.try_recv().is_err(), "nothing sent");

    // The command line: refused, and no approval sent.
    fake.answer(200, shown_tx(&t, &other(&|o| o.tid = TID2.into())));
    let (ok, _, err) = cli_out(&path, &["tx-approve", TID]).await;
    assert!(!ok, "{err}");
    assert!(err.contains("refusing the transaction"), "{err}");
    assert_eq!(fake.next().await.method, "GET");
    assert!(fake.received.try_recv().is_err(), "no approval sent");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn cli_shows_transactions_prominently_without_control_characters() {
    let mut fake = Fake::start().await;
    let path = temp_file("tx-cli");
    let mut auth = open(&path);
    enrol(&mut fake, &mut auth, S, 7).await;
    let pk = auth.account(S).unwrap().publickey();
    let link = format!("nsauth://tx/{S}/{TID}");
    // A hostile server: escapes and a right-to-left override in the content.
    let mut t = signed_tx(S, TID, 7);
    t.benificiary = "Bob\u{1b}[2J\u{202e}lave".into();
    t.description = "\u{9b}2Jrent\r\nerror: fake".into();
    let text = signed_content(&t);

    fake.answer(200, shown_tx(&t, &text));
    fake.answer(200, json!({"state": "approved"}));
    let (ok, out, err) = cli_out(&path, &["tx-approve", &link]).await;
    assert!(ok, "{err}");
    assert!(err.contains("AMOUNT:       EUR 12.50"), "{err}");
    assert!(err.contains("BENEFICIARY:  Bob"), "{err}");
    assert!(
        err.contains("=== Confirm a transaction for Acme ==="),
        "{err}"
    );
    assert!(
        err.contains("approved, signed with the key of account 7"),
        "{err}"
    );
    for shown in [&out, &err] {
        assert!(
            !shown
                .chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{shown:?}"
        );
    }
    assert!(
        !err.lines().any(|l| l.starts_with("error")),
        "no line of the server's own: {err}"
    );
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["state"], "approved");
    assert_eq!(out["tid"], TID);
    let r = fake.next().await;
    assert_eq!(r.target, format!("/app/v1/transactions/{TID}"));
    let r = fake.next().await;
    assert_eq!(r.target, format!("/app/v1/transactions/{TID}/approve"));
    let sig = r.json()["signature"].as_str().unwrap().to_string();
    assert_eq!(out["signature"], sig.as_str());
    verify(&pk, text.as_bytes(), &signature_bytes(&sig)).unwrap();

    // tx-show with a bare tid (the only account's server): nothing signed.
    let t = signed_tx(S, TID, 7);
    fake.answer(200, shown_tx(&t, &signed_content(&t)));
    let (ok, out, err) = cli_out(&path, &["tx-show", TID]).await;
    assert!(ok, "{err}");
    assert!(err.contains("AMOUNT:       EUR 12.50"), "{err}");
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["amount"], "EUR 12.50");
    assert_eq!(out["benificiary"], "Bob");
    assert_eq!(out["state"], "new");
    assert_eq!(out["signed"], signed_content(&t));
    assert_eq!(fake.next().await.method, "GET");
    assert!(fake.received.try_recv().is_err());

    // deny with a transaction link declines it; a link for another server than --server
    // is refused.
    fake.answer(200, json!({"state": "declined"}));
    let (ok, out, err) = cli_out(&path, &["deny", &link]).await;
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"tid": TID, "state": "declined"})
    );
    let r = fake.next().await;
    assert_eq!(r.target, format!("/app/v1/transactions/{TID}/decline"));
    let (ok, _, err) = cli_out(&path, &["tx-decline", &link, "--server", S2]).await;
    assert!(!ok);
    assert!(err.contains("--server names"), "{err}");
    assert!(fake.received.try_recv().is_err());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn the_inbox_lists_transaction_pushes() {
    let mut fake = Fake::start().await;
    let path = temp_file("tx-inbox");
    let mut auth = open(&path);
    fake.answer(
        201,
        json!({"serverid": S, "servername": "Acme", "accountid": 7, "push": true}),
    );
    auth.enrol(&fake.enrol_link(S), "phone", Some(("apns", "tok")))
        .await
        .unwrap();
    fake.next().await;
    let (login, want_login) = pushed(S, H, false);
    let tx = PushMessage {
        announceinfo: SessionInfo::default(),
        tid: Some(TID.into()),
        ..login.clone()
    };
    fake.answer(
        200,
        json!({"messages": [
            outbox_entry(&login, Platform::Apns, "tok"),
            outbox_entry(&tx, Platform::Apns, "tok"),
        ]}),
    );
    let got = auth.inbox(None).await.unwrap();
    fake.next().await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], want_login);
    assert_eq!(got[1].tid.as_deref(), Some(TID));
    assert_eq!(got[1].hsid, H);
    assert_eq!(got[1].link, format!("nsauth://tx/{S}/{TID}"));
    assert_eq!(got[1].body, "Confirm a transaction for Acme");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
