//! The demo pages of the local stack (`make dev`):
//!
//! - `/`: the landing page - what to do in three lines, and the demo website beside it;
//! - `/demo`: the demo website alone, a page that embeds the login block the way a real
//!   website backend does - it keeps a nonce in its own cookie and asks the API, with its
//!   key, for the block (getHtmlLogin), the footer and the login status (getSession); once
//!   logged in it asks the phone to confirm transfers (`POST /demo/transactions` calls
//!   createTransaction, `GET /demo/transactions/{tid}` getTransactionResult; the page
//!   checks the phone's signature with WebCrypto);
//! - `/phone`: a phone simulator, static HTML and JavaScript that run the phone's side of
//!   the protocol in the browser with WebCrypto P-256 keys;
//! - `/admin`: the demo server's accounts, their sessions and the server settings.
//!
//! The website pages and the admin page call the API in-process with the demo server's
//! key, exactly as a website backend calls it over HTTPS.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::{HeaderValue, header};
use lambda_http::Body;
use nsauth::Deps;
use nsauth::http::dispatch;
use nsauth::http::routes::AllRoutes;
use nsauth::ids::{Nonce, ServerId};

mod admin;
mod assets;
mod transfer;
mod website;

#[derive(Clone)]
pub struct DemoSite {
    pub serverid: ServerId,
    pub apikey: String,
    /// The demo website's browser sessions: the cookie holds an opaque id, and the nonce
    /// stays here, on the "backend", as a website keeps it in its server-side session.
    pub browsers: BrowserSessions,
}

impl DemoSite {
    pub fn new(serverid: ServerId, apikey: String) -> Self {
        DemoSite {
            serverid,
            apikey,
            browsers: BrowserSessions::default(),
        }
    }
}

/// Cookie id -> nonce, at most [`BrowserSessions::MAX`] (the oldest go first).
#[derive(Clone, Default)]
pub struct BrowserSessions(Arc<Mutex<VecDeque<(String, String)>>>);

impl BrowserSessions {
    const MAX: usize = 10_000;

    fn nonce(&self, id: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, n)| n.clone())
    }

    /// A new browser session for `nonce`: its cookie id.
    fn add(&self, nonce: String) -> String {
        let id = nsauth::ids::b64url(&nsauth::ids::random_bytes::<16>());
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() >= Self::MAX {
            all.pop_front();
        }
        all.push_back((id.clone(), nonce));
        id
    }
}

/// Whether a path is one of the demo pages (or their files) that [`handle`] serves.
pub fn serves(path: &str) -> bool {
    matches!(
        path,
        "/" | "/demo" | "/demo/logout" | "/logout" | "/phone" | "/admin"
    ) || assets::serves(path)
        || transfer::serves(path)
}

/// One request to the demo pages, with what the in-process API calls pass on from it.
struct Ctx<'a> {
    deps: &'a Deps,
    demo: &'a DemoSite,
    host: String,
    useragent: String,
    remote: SocketAddr,
    /// How long a request body may take to arrive.
    body_timeout: std::time::Duration,
}

impl Ctx<'_> {
    /// Calls the API in-process, as the website's backend would over HTTPS. The browser's
    /// user agent and address go along, so that the sessions the website makes carry them
    /// (a real backend passes them in the UserContext).
    async fn api(
        &self,
        method: &str,
        path: &str,
        nonce: Option<&str>,
        body: Option<String>,
    ) -> (u16, String) {
        let (status, bytes) = self.api_bytes(method, path, nonce, body).await;
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// As [`Ctx::api`], the answer's bytes as they are (an image).
    async fn api_bytes(
        &self,
        method: &str,
        path: &str,
        nonce: Option<&str>,
        body: Option<String>,
    ) -> (u16, Vec<u8>) {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("/servers/{}{path}", self.demo.serverid))
            .header(header::HOST, &self.host)
            .header("x-apikey", &self.demo.apikey)
            .header(header::USER_AGENT, &self.useragent);
        if let Some(n) = nonce {
            b = b.header("x-nonce", n);
        }
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        let Ok(req) = b.body(()) else {
            return (500, Vec::new());
        };
        let (parts, ()) = req.into_parts();
        let req =
            crate::to_lambda_request(parts, Bytes::from(body.unwrap_or_default()), self.remote);
        let resp = dispatch(self.deps, AllRoutes, req).await;
        let status = resp.status().as_u16();
        let bytes = match resp.body() {
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Binary(b) => b.clone(),
            _ => Vec::new(),
        };
        (status, bytes)
    }

    /// A GET of the API answered with JSON: the JSON on 200, `None` on any other status.
    async fn get_json(&self, path: &str) -> Option<serde_json::Value> {
        match self.api("GET", path, None, None).await {
            (200, body) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }
}

/// Escapes text for an HTML element or a quoted attribute.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn response(
    status: u16,
    content_type: &'static str,
    body: impl Into<Bytes>,
    cookie: Option<String>,
) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(body.into()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    r
}

fn html(status: u16, body: String, cookie: Option<String>) -> hyper::Response<Full<Bytes>> {
    response(status, "text/html; charset=utf-8", body, cookie)
}

fn method_not_allowed(allow: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut r = crate::guard::refusal(
        hyper::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("method not allowed; use {allow}"),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// The navigation bar of every demo page; `current` is the page's path.
fn topbar(current: &str) -> String {
    let link = |path: &str, class: &str, text: &str, target: &str| {
        let aria = if path == current {
            r#" aria-current="page""#
        } else {
            ""
        };
        let target = if target.is_empty() {
            String::new()
        } else {
            format!(r#" target="{target}""#)
        };
        format!(r#"<a class="{class}" href="{path}"{aria}{target}>{text}</a>"#)
    };
    format!(
        r#"<header class="topbar"><a class="brand" href="/">nsauth <span>local demo</span></a>
<nav>{}{}{}</nav></header>"#,
        link("/", "nav-start", "Start", ""),
        link(
            "/phone",
            "nav-phone",
            "Phone simulator",
            assets::PHONE_WINDOW
        ),
        link("/admin", "nav-admin", "Accounts and sessions", ""),
    )
}

/// The demo pages: `/`, `/demo`, `POST /logout` and `POST /demo/logout`, `/phone`,
/// `/admin`, the demo website's transfers (`/demo/transactions`) and the pages' files.
pub async fn handle(
    deps: &Deps,
    demo: &DemoSite,
    req: hyper::Request<hyper::body::Incoming>,
    remote: SocketAddr,
    body_timeout: std::time::Duration,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if let Some(r) = assets::handle(path) {
        return r;
    }
    let method = &parts.method;
    let is_get = method == hyper::Method::GET || method == hyper::Method::HEAD;
    let header_text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    };
    let ctx = Ctx {
        deps,
        demo,
        host: header_text(header::HOST).unwrap_or_else(|| "127.0.0.1".into()),
        useragent: header_text(header::USER_AGENT).unwrap_or_else(|| "nsauth-demo-website".into()),
        remote,
        body_timeout,
    };
    if transfer::serves(path) {
        return transfer::handle(&ctx, &parts, body).await;
    }
    match path {
        "/phone" if is_get => assets::phone_page(),
        "/admin" if is_get => admin::page(&ctx).await,
        "/" | "/demo" if is_get => website::page(&ctx, &parts.headers, path).await,
        "/logout" | "/demo/logout" if method == hyper::Method::POST => {
            website::logout(&ctx, &parts.headers, path).await
        }
        "/logout" | "/demo/logout" => method_not_allowed("POST"),
        _ => method_not_allowed("GET"),
    }
}

/// The nonce of the demo website's browser session, from the id in its cookie (the nonce
/// itself never reaches the browser).
fn cookie_nonce(demo: &DemoSite, headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("demo_session="))
        .find_map(|id| demo.browsers.nonce(id))
        .filter(|n| Nonce::parse(Some(n)).is_ok())
}

/// A new browser session for `nonce`, and the cookie that names it.
fn session_cookie(demo: &DemoSite, nonce: &str) -> String {
    let id = demo.browsers.add(nonce.to_string());
    format!("demo_session={id}; Path=/; HttpOnly; SameSite=Lax")
}

/// Whether a Host header names this machine (a loopback address or `localhost`, any
/// port). The local pages and the outbox answer only then: a page of another site whose
/// name was rebound to 127.0.0.1 (DNS rebinding) sends its own name.
pub fn local_host(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:port
        match rest.split_once(']') {
            Some((name, _)) => name,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::local_host;

    #[test]
    fn only_loopback_hosts_are_local() {
        for host in [
            "localhost",
            "LOCALHOST:1",
            "localhost:8080",
            "127.0.0.1",
            "127.0.0.1:3000",
            "127.0.0.2",
            "[::1]",
            "[::1]:9",
        ] {
            assert!(local_host(Some(host)), "{host}");
        }
        for host in [
            "",
            "localhost.evil.example",
            "evil.example:80",
            "127.0.0.1.nip.io:80",
            "10.0.0.1",
            "[::ffff:127.0.0.1]",
            "[2001:db8::1]:80",
            "::1",
            "[::1",
        ] {
            assert!(!local_host(Some(host)), "{host}");
        }
        assert!(!local_host(None), "no Host header, no local page");
    }
}
