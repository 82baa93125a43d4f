//! End-to-end figures on the local stack over dynalite (docs/performance.md, "End to end"):
//! QR login latency (approve to the WebSocket's LOGIN frame, and to the end of the website's
//! getSession after the approval) over `--logins N` logins one after another, then the warm
//! throughput of getSession at concurrency 1 and 32 for `--seconds S` each.
//!
//! Prints figures and never asserts times; exits non-zero when a login fails or dynalite is
//! not there. Run through `infra/scripts/with-services.sh` (`make bench-e2e`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nsauth::clock::Clock;
use nsauth::store::{ChangeStream, DynamoStore, TableSpec};
use nsauth_tests::{Stack, hsid_of, new_nonce};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a frame or an answer may take before the login counts as failed.
const WAIT: Duration = Duration::from_secs(10);

struct Args {
    logins: usize,
    seconds: f64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        logins: 200,
        seconds: 5.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--logins" => {
                a.logins = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--logins {value:?}: a positive number"))?
            }
            "--seconds" => {
                a.seconds = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or_else(|| format!("--seconds {value:?}: a positive number"))?
            }
            _ => {
                return Err(format!(
                    "unknown argument {flag:?} (--logins N, --seconds S)"
                ));
            }
        }
    }
    Ok(a)
}

/// The local stack over a fresh dynalite table whose session writes feed the local
/// WebSocket endpoint: HTTP on `stack.base`, `/ws` on the returned address. The tests'
/// `Stack::dynalite()` serves no `/ws` (its store feeds no changes), so the stack is built
/// here as `nsauth-local` builds it (infra/local/src/main.rs), with the tests' `Stack`
/// for the HTTP side, the demo server and the phone.
async fn stack() -> Result<(Stack, String), String> {
    let Some(url) = nsauth_tests::dynalite() else {
        return Err(
            "dynalite is not running: run through infra/scripts/with-services.sh \
                    (`make bench-e2e`)"
                .into(),
        );
    };
    let client = nsauth_tests::dynamo_client(&url);
    let table = nsauth_tests::unique_name("nsauth-bench");
    TableSpec::create(&client, &table, false, false)
        .await
        .map_err(|e| format!("creating table {table} on dynalite {url}: {e}"))?;
    let stream = ChangeStream::new();
    let changes = stream.subscribe();
    let stack = Stack::over(Arc::new(
        DynamoStore::new(client, table).with_stream(stream),
    ))
    .await;
    let conns = nsauth_local::ws::LocalConnections::default();
    tokio::spawn(nsauth_local::ws::notify(
        stack.deps.clone(),
        conns.clone(),
        changes,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let ws = format!(
        "ws://{}/ws",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(nsauth_local::serve(
        listener,
        stack.deps.clone(),
        nsauth_local::Local {
            ws: Some(conns),
            ..Default::default()
        },
    ));
    Ok((stack, ws))
}

/// A website backend call on the stack's server: status and JSON answer.
async fn call(
    http: &reqwest::Client,
    stack: &Stack,
    method: reqwest::Method,
    nonce: Option<&str>,
) -> Result<(u16, serde_json::Value), String> {
    let mut req = http
        .request(method, stack.sessions_url())
        .header("X-apikey", &stack.apikey)
        .timeout(WAIT);
    if let Some(n) = nonce {
        req = req.header("X-nonce", n);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok((status, value))
}

/// The next frame starting with `kind ` (other frames are skipped).
async fn frame(ws: &mut Ws, kind: &str) -> Result<String, String> {
    let want = format!("{kind} ");
    tokio::time::timeout(WAIT, async {
        while let Some(msg) = ws.next().await {
            let msg = msg.map_err(|e| e.to_string())?;
            if let Message::Text(t) = msg
                && t.starts_with(&want)
            {
                return Ok(t.to_string());
            }
        }
        Err("the WebSocket closed".to_string())
    })
    .await
    .map_err(|_| format!("no {kind} frame within {WAIT:?}"))?
}

/// One QR login: (approve to LOGIN frame, approve to the end of the getSession after it).
async fn login(
    http: &reqwest::Client,
    stack: &Stack,
    ws_url: &str,
    phone: &nsauth_authenticator::Authenticator,
) -> Result<(Duration, Duration), String> {
    let (status, v) = call(http, stack, reqwest::Method::POST, None).await?;
    if status != 201 {
        return Err(format!("createSession answered {status}: {v}"));
    }
    let (Some(nonce), Some(loginurl)) = (v["nonce"].as_str(), v["loginurl"].as_str()) else {
        return Err(format!(
            "createSession answer without nonce or loginurl: {v}"
        ));
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .map_err(|e| format!("WebSocket {ws_url}: {e}"))?;
    ws.send(Message::text(format!(
        "REGISTER {} {}",
        hsid_of(stack, nonce),
        stack.serverid
    )))
    .await
    .map_err(|e| e.to_string())?;
    // REGISTER answers with the session's state: the page now watches it.
    frame(&mut ws, "LOGOUT").await?;
    phone
        .show(loginurl)
        .await
        .map_err(|e| format!("show: {e}"))?;
    frame(&mut ws, "CONFIRMSCAN").await?;
    let start = Instant::now();
    let watch = async {
        frame(&mut ws, "LOGIN").await?;
        Ok::<_, String>(start.elapsed())
    };
    let approve = async {
        let v = phone
            .approve(loginurl, None, None)
            .await
            .map_err(|e| format!("approve: {e}"))?;
        if v["state"] != "loggedin" {
            return Err(format!("approve answered {v}"));
        }
        let (status, v) = call(http, stack, reqwest::Method::GET, Some(nonce)).await?;
        let took = start.elapsed();
        if status != 200 || v["state"] != "loggedin" {
            return Err(format!("getSession after approve answered {status}: {v}"));
        }
        Ok(took)
    };
    let (frame_at, poll_at) = tokio::join!(watch, approve);
    let _ = ws.close(None).await;
    Ok((frame_at?, poll_at?))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The nearest-rank percentile `q` (0..=1) of sorted figures.
fn pct(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "e2e: {name}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} logins)",
        pct(&v, 0.5),
        pct(&v, 0.9),
        pct(&v, 0.99),
        v[v.len() - 1],
        v.len()
    );
}

/// getSession of `nonce` for `seconds` on `concurrency` tasks: answered 200s and their
/// latencies (ms), and the time taken.
async fn throughput(
    http: &reqwest::Client,
    stack: &Stack,
    nonce: &str,
    concurrency: usize,
    seconds: f64,
) -> (Vec<f64>, usize, Duration) {
    let url = stack.sessions_url();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, key, nonce) = (
                http.clone(),
                url.clone(),
                stack.apikey.clone(),
                nonce.to_string(),
            );
            tokio::spawn(async move {
                let (mut ok, mut other) = (Vec::new(), 0);
                while Instant::now() < end {
                    let t = Instant::now();
                    let resp = http
                        .get(&url)
                        .header("X-apikey", &key)
                        .header("X-nonce", &nonce)
                        .timeout(WAIT)
                        .send()
                        .await;
                    let answered = match resp {
                        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if answered {
                        ok.push(ms(t.elapsed()));
                    } else {
                        other += 1;
                    }
                }
                (ok, other)
            })
        })
        .collect();
    let (mut all, mut other) = (Vec::new(), 0);
    for t in tasks {
        let (ok, o) = t.await.expect("task");
        all.extend(ok);
        other += o;
    }
    (all, other, start.elapsed())
}

async fn run(a: Args) -> Result<usize, String> {
    let (stack, ws_url) = stack().await?;
    // One account logs in N times within one window of the server's clock (a manual clock
    // that stays still): the login limit (30 per 600 s by default) would refuse most, so the
    // bench's server takes 10 000, and the clock moves a window on after each 9 999 logins.
    stack.set_setting("login_limit", "10000").await;
    let http = reqwest::Client::new();
    let mut phone = stack.phone();
    let link = stack.enrol_link(&new_nonce(), "").await;
    phone
        .enrol(&link, "bench phone", None)
        .await
        .map_err(|e| format!("enrol: {e}"))?;
    println!(
        "e2e: {} QR logins one after another on the local stack over dynalite",
        a.logins
    );
    let (mut to_frame, mut to_poll, mut failed) = (Vec::new(), Vec::new(), 0);
    for i in 0..a.logins {
        if i > 0 && i % 9_999 == 0 {
            stack.clock.set(stack.clock.now() + 601);
        }
        match login(&http, &stack, &ws_url, &phone).await {
            Ok((f, p)) => {
                to_frame.push(ms(f));
                to_poll.push(ms(p));
            }
            Err(e) => {
                failed += 1;
                eprintln!("e2e: login {} failed: {e}", i + 1);
            }
        }
    }
    let _ = std::fs::remove_file(phone.path());
    if !to_frame.is_empty() {
        summary("approve to LOGIN frame", to_frame);
        summary("approve to getSession answered", to_poll);
    }

    let (status, v) = call(&http, &stack, reqwest::Method::POST, None).await?;
    let nonce = match (status, v["nonce"].as_str()) {
        (201, Some(n)) => n.to_string(),
        _ => return Err(format!("createSession answered {status}: {v}")),
    };
    for concurrency in [1, 32] {
        let (mut lat, other, took) =
            throughput(&http, &stack, &nonce, concurrency, a.seconds).await;
        lat.sort_by(f64::total_cmp);
        if lat.is_empty() {
            return Err(format!(
                "getSession at concurrency {concurrency}: no 200 answer"
            ));
        }
        println!(
            "e2e: getSession at concurrency {concurrency}: {:.0} requests/s ({} answered 200 in \
             {:.2} s, {other} other), p50 {:.2} ms, p99 {:.2} ms",
            lat.len() as f64 / took.as_secs_f64(),
            lat.len(),
            took.as_secs_f64(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
        );
    }
    Ok(failed)
}

#[tokio::main]
async fn main() {
    let result = match args() {
        Ok(a) => {
            let logins = a.logins;
            run(a).await.map(|failed| (logins, failed))
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((logins, failed)) => {
            println!("e2e: {} logins, {failed} failed", logins - failed);
            if failed > 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("e2e: {e}");
            std::process::exit(1);
        }
    }
}
