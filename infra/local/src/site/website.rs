//! The demo website (`/demo`) and the landing page (`/`) that shows it beside what to do.

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::http::{HeaderValue, header};
use nsauth::ids::Nonce;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::{Ctx, assets, cookie_nonce, esc, html, session_cookie, topbar};

/// What the demo website tells the phone (announceinfo) and keeps for the phone's list of
/// sessions (sessioninfo): the browser's address given as a website backend gives it (the
/// proximity check compares the phone with it); the server adds the user agent.
fn user_context(ctx: &Ctx<'_>) -> String {
    serde_json::json!({
        "announceinfo": {"info": {"action": "Log in to the demo website"}, "ip": ctx.remote.ip().to_string()},
        "sessioninfo": {"info": {"site": "nsauth local demo website"}},
    })
    .to_string()
}

/// The browser session's nonce: from the cookie, or a new one from createSession (then
/// with the cookie to set).
async fn session_nonce(ctx: &Ctx<'_>, headers: &hyper::HeaderMap) -> (String, Option<String>) {
    if let Some(n) = cookie_nonce(ctx.demo, headers) {
        return (n, None);
    }
    let (status, body) = ctx
        .api("POST", "/sessions", None, Some(user_context(ctx)))
        .await;
    let created = (status == 201)
        .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
        .flatten()
        .and_then(|v| v["nonce"].as_str().map(str::to_string))
        .filter(|n| Nonce::parse(Some(n)).is_ok());
    // Should createSession fail, a nonce of our own works too (its first getSession makes
    // the session, without the UserContext).
    let nonce = created.unwrap_or_else(|| Nonce::generate().expose().to_string());
    let cookie = session_cookie(ctx.demo, &nonce);
    (nonce, Some(cookie))
}

/// `POST /logout` (from `/`) and `POST /demo/logout` (from `/demo`): logs the browser
/// session out and goes back to the page.
pub(super) async fn logout(
    ctx: &Ctx<'_>,
    headers: &hyper::HeaderMap,
    path: &str,
) -> hyper::Response<Full<Bytes>> {
    if let Some(nonce) = cookie_nonce(ctx.demo, headers) {
        ctx.api("POST", "/sessions/logout", Some(&nonce), None)
            .await;
    }
    let back = if path == "/logout" { "/" } else { "/demo" };
    let mut r = html(303, String::new(), None);
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(back));
    r
}

/// The demo website's content for its browser session: the login block and the enrolment
/// link, or who is logged in and a logout button. `landing` adds the enrolment QR code and
/// a link that opens the enrolment in the phone simulator.
async fn content(ctx: &Ctx<'_>, nonce: &str, landing: bool) -> String {
    let (_, status) = ctx.api("GET", "/sessions", Some(nonce), None).await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
    let logout = if landing { "/logout" } else { "/demo/logout" };
    if status["loggedin"] == true {
        let hint = if landing {
            r#"<p class="demo-hint">Confirm a transfer below: the phone shows it and signs it. Then log out and log in again: the login block offers to send the request to your phone (a push, with a number to match). <a href="/admin">Accounts and sessions</a> shows this login.</p>"#
        } else {
            ""
        };
        return format!(
            r#"<p class="demo-loggedin">Logged in as <b>{}</b> (account {})</p>
<form method="post" action="{logout}"><button type="submit" class="demo-logout">Log out</button></form>
{hint}
{transfer}"#,
            esc(status["userid"]
                .as_str()
                .unwrap_or("a phone without a user")),
            status["accountid"],
            transfer = transfer_form(landing),
        );
    }
    let (_, block) = ctx
        .api("GET", "/sessions/html/login", Some(nonce), None)
        .await;
    let (_, enrol) = ctx
        .api(
            "GET",
            "/sessions/qr/enrol?userid=demo-user&name=Demo%20phone",
            Some(nonce),
            None,
        )
        .await;
    if !landing {
        return format!(
            r#"<p>Log in with your phone:</p>
{block}
<details class="demo-enrol-box"><summary>No account yet? Enrol a phone</summary>
<p>Open this enrolment link with the authenticator (or scan it as a QR code); the new account is logged in here at once.</p>
<a class="demo-enrol" href="{link}"><code class="demo-enrol-link">{link}</code></a></details>"#,
            link = esc(&enrol),
        );
    }
    // The enrolment QR code for a real app (which must reach this stack's address).
    let qr = nsauth::qr::svg(&enrol, 168)
        .ok()
        .and_then(|s| s.find("<svg").map(|i| s[i..].to_string()))
        .unwrap_or_default();
    let simulator = format!(
        "/phone?link={}",
        utf8_percent_encode(&enrol, NON_ALPHANUMERIC)
    );
    // The server's visual hash (getServerVash), for the user to compare with the phone's.
    let vash = match ctx.api_bytes("GET", "/vash", None, None).await {
        (200, png) => format!(
            r#"<figure class="vash demo-vash"><img src="data:image/png;base64,{}" width="160" height="160" alt="Visual hash of this website's server">
<figcaption>The phone shows this picture before it enrols: it must be the same.</figcaption></figure>"#,
            base64::engine::general_purpose::STANDARD.encode(png)
        ),
        _ => String::new(),
    };
    format!(
        r#"<p>Log in with your phone:</p>
{block}
<div class="demo-enrol-box landing-enrol">
<h3>No account yet? Enrol a phone</h3>
<p>Open this enrolment link in the phone simulator (or scan the code with an authenticator app); the new account is logged in here at once.</p>
<div class="enrol-row"><div class="enrol-qr" role="img" aria-label="QR code of the enrolment link">{qr}</div>
<div class="enrol-link-box"><a class="demo-enrol" href="{link}"><code class="demo-enrol-link">{link}</code></a>
<a class="button open-in-phone" href="{simulator}" target="{window}">Enrol in the phone simulator</a>
{vash}</div></div>
</div>"#,
        link = esc(&enrol),
        simulator = esc(&simulator),
        window = assets::PHONE_WINDOW,
    )
}

/// The transfer form of a logged-in page and the places its script (`/local/demo.js`)
/// fills: the transaction's QR code and link while the phone decides, then the result.
fn transfer_form(landing: bool) -> String {
    let window = assets::PHONE_WINDOW;
    let simulator = if landing {
        "Open it in the phone simulator"
    } else {
        "Open in the phone simulator"
    };
    format!(
        r#"<section class="demo-tx" id="demo-tx" data-state="" aria-labelledby="demo-tx-title">
<h3 id="demo-tx-title">Confirm a transfer</h3>
<p class="demo-tx-intro">The website asks your phone to confirm it: the phone shows the amount and the beneficiary and signs them with its account key, and this page checks that signature.</p>
<form class="demo-tx-form" autocomplete="off">
<label>Amount <input name="amount" maxlength="64" value="EUR 25.00"></label>
<label>Beneficiary <input name="beneficiary" maxlength="256" value="Demo Bakery Ltd"></label>
<label>Description <input name="description" maxlength="1000" value="Invoice 2027-001"></label>
<button type="submit" class="button demo-tx-submit">Confirm on my phone</button>
</form>
<p class="demo-tx-error" role="alert" hidden></p>
<div class="demo-tx-pending" hidden>
<p class="demo-tx-how"></p>
<div class="demo-tx-qr" role="img" aria-label="QR code of the transaction link"></div>
<p><a class="demo-tx-link"><code></code></a></p>
<p><a class="button secondary demo-tx-open" target="{window}">{simulator}</a></p>
<p class="demo-tx-wait" aria-live="polite">Waiting for your phone&hellip;</p>
</div>
<div class="demo-tx-result" aria-live="polite" hidden></div>
</section>"#
    )
}

/// `GET /` (the landing page) and `GET /demo` (the demo website alone).
pub(super) async fn page(
    ctx: &Ctx<'_>,
    headers: &hyper::HeaderMap,
    path: &str,
) -> hyper::Response<Full<Bytes>> {
    let (nonce, cookie) = session_nonce(ctx, headers).await;
    let landing = path == "/";
    let main = content(ctx, &nonce, landing).await;
    let (_, footer) = ctx
        .api("GET", "/sessions/html/footer", Some(&nonce), None)
        .await;
    if !landing {
        let page = format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo website</title>
<link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}code{{word-break:break-all}}.demo-tx label{{display:block;margin:.25rem 0}}.demo-tx input{{width:100%;max-width:24rem;display:block}}.demo-tx-amount{{font-size:1.6rem;font-weight:700}}.demo-tx-verified{{color:#137333}}.demo-tx-bad,.demo-tx-error{{color:#b3261e}}</style>
<script src="{demo_js}" defer></script>
</head><body>
<h1>Demo website</h1>
{main}
{footer}
</body></html>
"#,
            demo_js = assets::DEMO_JS_PATH,
        );
        return html(200, page, cookie);
    }
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>nsauth local demo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<script src="{demo_js}" defer></script>
</head><body class="landing">
{topbar}
<main class="landing-grid">
<section class="intro">
<h1>Log in with your phone</h1>
<ol class="steps">
<li>Open the <a class="open-phone" href="/phone" target="{window}">phone simulator</a> in another tab or window.</li>
<li>Enrol it with the link below the login block (or scan with a real app).</li>
<li>Log in: approve on the phone.</li>
</ol>
<p class="intro-more">The simulator is a phone in a browser tab: its keys are WebCrypto P-256 keys that never leave it, and it signs every call as an app would (<code>docs/phone-protocol.md</code>). Its inbox shows the pushes this stack keeps in its outbox.</p>
<p class="intro-links"><a class="button open-phone" href="/phone" target="{window}">Open the phone simulator</a>
<a class="button secondary open-admin" href="/admin">Accounts and sessions</a></p>
</section>
<section class="site-frame" aria-label="The demo website">
<div class="site-bar"><span class="site-dots" aria-hidden="true"><i></i><i></i><i></i></span><span class="site-url">{host}/demo</span></div>
<div class="site-body">
<h2 class="site-title">Demo website</h2>
{main}
</div>
</section>
</main>
{footer}
</body></html>
"#,
        css = assets::SITE_CSS_PATH,
        demo_js = assets::DEMO_JS_PATH,
        topbar = topbar("/"),
        window = assets::PHONE_WINDOW,
        host = esc(&ctx.host),
    );
    html(200, page, cookie)
}
