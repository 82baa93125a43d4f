//! The demo website: a page that embeds the login block the way a real website backend
//! does - it keeps a nonce in its own cookie and asks the API, with its key, for the block
//! (getHtmlLogin), the footer and the login status (getSession).

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::{HeaderValue, header};
use lambda_http::Body;
use nsauth::Deps;
use nsauth::http::dispatch;
use nsauth::ids::{Nonce, ServerId};

#[derive(Clone)]
pub struct DemoSite {
    pub serverid: ServerId,
    pub apikey: String,
}

fn cookie_nonce(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("demo_nonce="))
        .find(|n| Nonce::parse(Some(n)).is_ok())
        .map(String::from)
}

/// Calls the API in-process, as the website's backend would over HTTPS.
async fn api(
    deps: &Deps,
    demo: &DemoSite,
    host: &str,
    method: &str,
    path: &str,
    nonce: &str,
) -> (u16, String) {
    let uri = format!("/servers/{}{path}", demo.serverid);
    let req = lambda_http::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host)
        .header("x-forwarded-proto", "http")
        .header("x-apikey", &demo.apikey)
        .header("x-nonce", nonce)
        .header("user-agent", "nsauth-demo-website")
        .body(Body::Empty);
    let Ok(req) = req else {
        return (500, String::new());
    };
    let resp = dispatch(deps, None, req).await;
    let status = resp.status().as_u16();
    (
        status,
        String::from_utf8_lossy(resp.body().as_ref()).into_owned(),
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn response(status: u16, body: String, cookie: Option<String>) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    r
}

/// `GET /demo` and `POST /demo/logout`.
pub async fn handle(
    deps: &Deps,
    demo: &DemoSite,
    req: &hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let (nonce, cookie) = match cookie_nonce(req.headers()) {
        Some(n) => (n, None),
        None => {
            let n = Nonce::generate().expose().to_string();
            let c = format!("demo_nonce={n}; Path=/; HttpOnly; SameSite=Lax");
            (n, Some(c))
        }
    };
    if req.uri().path() == "/demo/logout" && req.method() == hyper::Method::POST {
        api(deps, demo, &host, "POST", "/sessions/logout", &nonce).await;
        let mut r = response(303, String::new(), cookie);
        r.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/demo"));
        return r;
    }
    let (_, status) = api(deps, demo, &host, "GET", "/sessions", &nonce).await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
    let main = if status["loggedin"] == true {
        format!(
            r#"<p class="demo-loggedin">Logged in as <b>{}</b> (account {})</p>
<form method="post" action="/demo/logout"><button type="submit" class="demo-logout">Log out</button></form>"#,
            esc(status["userid"]
                .as_str()
                .unwrap_or("a phone without a user")),
            status["accountid"]
        )
    } else {
        let (_, block) = api(deps, demo, &host, "GET", "/sessions/html/login", &nonce).await;
        let (_, enrol) = api(
            deps,
            demo,
            &host,
            "GET",
            "/sessions/qr/enrol?userid=demo-user&name=Demo%20phone",
            &nonce,
        )
        .await;
        format!(
            r#"<p>Log in with your phone:</p>
{block}
<details class="demo-enrol-box"><summary>No account yet? Enrol a phone</summary>
<p>Open this enrolment link with the authenticator (or scan it as a QR code); the new account is logged in here at once.</p>
<a class="demo-enrol" href="{link}"><code class="demo-enrol-link">{link}</code></a></details>"#,
            link = esc(&enrol),
        )
    };
    let (_, footer) = api(deps, demo, &host, "GET", "/sessions/html/footer", &nonce).await;
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo website</title>
<link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}code{{word-break:break-all}}</style>
</head><body>
<h1>Demo website</h1>
{main}
{footer}
</body></html>
"#
    );
    response(200, page, cookie)
}
