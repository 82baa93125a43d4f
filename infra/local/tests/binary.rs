//! `make dev`'s binary as a user starts it: it prints the demo server and a curl line that
//! works, honours NSAUTH_DEMO_*, refuses bad settings, and keeps the demo server across
//! restarts on DynamoDB.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    lines: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn value(&self, prefix: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.lines))
    }
}

fn start(envs: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nsauth-local"));
    cmd.env("PORT", "0")
        .env_remove("NSAUTH_STORE")
        .env_remove("NSAUTH_DEMO_SERVERID")
        .env_remove("NSAUTH_DEMO_APIKEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start nsauth-local");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    // The banner ends with the curl line.
    while !lines.last().is_some_and(|l: &String| l.contains("curl ")) {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("nsauth-local stopped: {lines:?}");
        }
        lines.push(line.trim_end().to_string());
    }
    // Keep draining its log output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    Running { child, lines }
}

/// Runs the printed curl line's request (with reqwest: what matters is its URL and headers).
async fn follow_curl_line(r: &Running) -> serde_json::Value {
    let line = r.lines.last().unwrap();
    let quoted: Vec<&str> = line.split('\'').skip(1).step_by(2).collect();
    let url = line.split_whitespace().last().unwrap();
    let mut req = reqwest::Client::new().get(url);
    for h in quoted {
        let (k, v) = h.split_once(": ").unwrap();
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

const SID: &str = "AAECAwQFBgcICQoLDA0ODw";
const KEY: &str = "nsk_AAAAAAAAAAA_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

#[tokio::test]
async fn prints_a_working_curl_line() {
    let r = start(&[]);
    assert!(r.lines[0].contains("store: memory"), "{:?}", r.lines);
    let st = follow_curl_line(&r).await;
    assert_eq!(st["state"], "pending");
    assert_eq!(st["loggedin"], false);
}

#[tokio::test]
async fn fixed_demo_server_and_key() {
    let r = start(&[("NSAUTH_DEMO_SERVERID", SID), ("NSAUTH_DEMO_APIKEY", KEY)]);
    assert_eq!(r.value("demo server id:"), SID);
    assert_eq!(r.value("demo API key:"), KEY);
    let st = follow_curl_line(&r).await;
    assert_eq!(st["state"], "pending");
}

#[test]
fn refuses_bad_settings() {
    for (k, v, says) in [
        ("NSAUTH_DEMO_APIKEY", "secret", "NSAUTH_DEMO_APIKEY"),
        ("NSAUTH_DEMO_SERVERID", "short", "NSAUTH_DEMO_SERVERID"),
        ("NSAUTH_STORE", "postgres", "NSAUTH_STORE"),
        ("PORT", "http", "PORT"),
        (
            "NSAUTH_LOCAL_MAX_CONNECTIONS",
            "0",
            "NSAUTH_LOCAL_MAX_CONNECTIONS",
        ),
        (
            "NSAUTH_LOCAL_HEADER_TIMEOUT_MS",
            "soon",
            "NSAUTH_LOCAL_HEADER_TIMEOUT_MS",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_nsauth-local"))
            .env("PORT", "0")
            .env(k, v)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{k}={v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{k}={v}: {err}");
    }
}

#[tokio::test]
async fn dynamodb_store_keeps_the_demo_server_across_restarts() {
    let endpoint = match std::env::var("NSAUTH_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert_ne!(
                std::env::var("NSAUTH_TEST_REQUIRE_SERVICES").as_deref(),
                Ok("1")
            );
            eprintln!("SKIPPED: NSAUTH_TEST_MOTO_URL is not set");
            return;
        }
    };
    let table = format!(
        "nsauth-local-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let envs = [
        ("NSAUTH_STORE", "dynamodb"),
        ("NSAUTH_TABLE", table.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("NSAUTH_DEMO_SERVERID", SID),
        ("NSAUTH_DEMO_APIKEY", KEY),
    ];
    let nonce = "restart-test-nonce-0123456789";
    let first = start(&envs);
    assert!(first.lines[0].contains("store: dynamodb"));
    let before = get_session(&first, nonce).await;
    assert_eq!(before["state"], "pending");
    drop(first);
    // Same table, same fixed server: the restart reuses the server and its key, and the
    // session made before the restart is still there, unchanged.
    let second = start(&envs);
    let after = get_session(&second, nonce).await;
    assert_eq!(after, before);
    assert_eq!(follow_curl_line(&second).await["state"], "pending");
}

async fn get_session(r: &Running, nonce: &str) -> serde_json::Value {
    let base = r.lines[0].split_whitespace().nth(4).unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{base}/servers/{SID}/sessions"))
        .header("X-apikey", KEY)
        .header("X-nonce", nonce)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The security review's findings on the local stack, against the binary `make dev` runs:
/// it listens on loopback only; its own pages and the push outbox answer only to a Host of
/// this machine (DNS rebinding); the outbox needs the device's token; the demo's cookie
/// names the browser session without holding its nonce.
#[tokio::test]
async fn local_pages_keep_to_this_machine() {
    let r = start(&[]);
    let base = r
        .value("nsauth local stack on")
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "loopback only: {base}"
    );
    let port = base.rsplit(':').next().unwrap().to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, host: &str| {
        http.get(format!("{base}{path}"))
            .header(reqwest::header::HOST, host.to_string())
            .send()
    };
    for path in ["/", "/demo", "/admin", "/phone", "/local/outbox?token=x"] {
        let resp = get(path, &format!("rebound.example:{port}")).await.unwrap();
        assert_eq!(resp.status(), 404, "{path} for another host");
        for host in [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            "[::1]".to_string(),
        ] {
            let resp = get(path, &host).await.unwrap();
            assert_eq!(resp.status(), 200, "{path} for {host}");
        }
    }
    // The WebSocket too: a page of another site whose name now points here cannot open it.
    let upgrade = |host: String| {
        http.get(format!("{base}/ws"))
            .header(reqwest::header::HOST, host)
            .header(reqwest::header::CONNECTION, "Upgrade")
            .header(reqwest::header::UPGRADE, "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    let resp = upgrade(format!("rebound.example:{port}")).await.unwrap();
    assert_eq!(resp.status(), 404, "a WebSocket for another host");
    let resp = upgrade(format!("127.0.0.1:{port}")).await.unwrap();
    assert_eq!(resp.status(), 101, "a WebSocket for this machine");
    // The API itself answers whatever the Host (it has its own keys).
    let resp = get(
        "/status/AAECAwQFBgcICQoLDA0ODw/AAECAwQFBgcICQoLDA0ODw",
        "rebound.example",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 404, "an unknown session, not a refused host");
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "*",
        "the API's answer"
    );
    // The outbox: one device's pushes, by its token; never everyone's.
    for path in ["/local/outbox", "/local/outbox?token=", "/local/outbox?x=1"] {
        let resp = get(path, &format!("127.0.0.1:{port}")).await.unwrap();
        assert_eq!(resp.status(), 400, "{path}");
    }
    let resp = get("/local/outbox?token=nobody", &format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"messages":[]}"#,
        "a token no device has reads nothing"
    );
    // The demo's cookie: an id of the browser session, not its nonce.
    let page = get("/demo", &format!("127.0.0.1:{port}")).await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_string();
    let id = cookie
        .strip_prefix("demo_session=")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("{cookie}"))
        .to_string();
    let hsid_of_page = |html: &str| {
        let at = html.find("data-hsid=\"").unwrap() + "data-hsid=\"".len();
        html[at..].split('"').next().unwrap().to_string()
    };
    let first = hsid_of_page(&page.text().await.unwrap());
    let again = http
        .get(format!("{base}/demo"))
        .header(reqwest::header::HOST, format!("127.0.0.1:{port}"))
        .header(reqwest::header::COOKIE, format!("demo_session={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        hsid_of_page(&again.text().await.unwrap()),
        first,
        "the cookie finds the browser session"
    );
    let serverid = r.value("demo server id:");
    let sid = nsauth::ids::ServerId::parse(&serverid).unwrap();
    if let Ok(as_nonce) = nsauth::ids::Nonce::parse(Some(&id)) {
        assert_ne!(
            as_nonce.hsid(&sid).to_string(),
            first,
            "the cookie is not the nonce"
        );
    }
}
