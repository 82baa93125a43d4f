//! `GET /admin`: the demo server's accounts, their sessions and the server settings, read
//! with the demo website's API key as a website's own admin page would.

use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value;

use super::{Ctx, assets, esc, html, topbar};

/// The API has no call that lists a server's accounts, but account ids are a per-server
/// counter (1, 2, 3, ...) with gaps only where accounts were deleted. So the page asks
/// getAccount for 1, 2, ... and stops after this many unknown ids in a row (a run of
/// deleted accounts longer than that hides the accounts after it), but not before the
/// highest id of the demo website's user (getUser), whose accounts are always found.
const MAX_MISSES_IN_A_ROW: u64 = 20;
/// The user the demo website enrols phones for.
const DEMO_USER: &str = "demo-user";
/// An upper bound on the ids tried, whatever the store answers.
const MAX_ACCOUNTID: u64 = 10_000;
/// Sessions shown per account (the newest; getAccountSessions pages the rest).
const SESSIONS_PER_ACCOUNT: u32 = 50;

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// An RFC 3339 time from the API as `2026-11-27 10:00:26 UTC`, or a dash.
fn time(v: &Value) -> String {
    match v.as_str() {
        Some(t) if !t.is_empty() => esc(&format!(
            "{} UTC",
            t.replacen('T', " ", 1).trim_end_matches('Z')
        )),
        _ => "&ndash;".into(),
    }
}

/// A SessionInfo: address, user agent and the website's key/value info.
fn session_info(si: &Value) -> String {
    let mut out = String::new();
    let ip = text(si, "ip");
    let ua = text(si, "useragent");
    if !ip.is_empty() {
        out.push_str(&format!(r#"<div class="si-ip">{}</div>"#, esc(ip)));
    }
    if !ua.is_empty() {
        out.push_str(&format!(r#"<div class="si-ua">{}</div>"#, esc(ua)));
    }
    if let Some(info) = si["info"].as_object() {
        for (k, v) in info {
            out.push_str(&format!(
                r#"<div class="si-info"><span class="muted">{}:</span> {}</div>"#,
                esc(k),
                esc(v.as_str().unwrap_or(""))
            ));
        }
    }
    if !text(si, "logo").is_empty() {
        out.push_str(r#"<div class="muted">(with a logo)</div>"#);
    }
    if out.is_empty() {
        out.push_str(r#"<span class="muted">none</span>"#);
    }
    out
}

fn sessions_table(list: &Value) -> String {
    let sessions = list["sessions"].as_array().cloned().unwrap_or_default();
    if sessions.is_empty() {
        return r#"<p class="muted">No sessions yet.</p>"#.into();
    }
    let mut rows = String::new();
    for s in &sessions {
        let state = text(s, "state");
        rows.push_str(&format!(
            r#"<tr class="admin-session" data-hsid="{hsid}" data-state="{state}"><td><code>{hsid}</code></td><td><span class="state state-{state}">{state}</span></td><td>{login}</td><td>{expires}</td><td>{info}</td></tr>
"#,
            hsid = esc(text(s, "hsid")),
            state = esc(state),
            login = time(&s["login_at"]),
            expires = time(&s["expires"]),
            info = session_info(&s["sessioninfo"]),
        ));
    }
    let more = if list["next"].is_string() {
        format!(
            r#"<p class="muted">The {SESSIONS_PER_ACCOUNT} newest sessions; there are more.</p>"#
        )
    } else {
        String::new()
    };
    format!(
        r#"<div class="table-wrap"><table class="admin-sessions"><thead><tr><th>Session (hsid)</th><th>State</th><th>Logged in</th><th>Ends</th><th>Session info</th></tr></thead>
<tbody>
{rows}</tbody></table></div>{more}"#
    )
}

async fn account_section(ctx: &Ctx<'_>, a: &Value) -> String {
    let id = a["accountid"].as_u64().unwrap_or(0);
    let sessions = ctx
        .get_json(&format!(
            "/accounts/{id}/sessions?limit={SESSIONS_PER_ACCOUNT}"
        ))
        .await
        .map(|l| sessions_table(&l))
        .unwrap_or_else(|| r#"<p class="muted">The sessions could not be read.</p>"#.into());
    let user = match a["userid"].as_str() {
        Some(u) => format!(r#"<span class="tag tag-user">user {}</span>"#, esc(u)),
        None => r#"<span class="tag">no user</span>"#.into(),
    };
    let blocked = if a["blocked"] == true {
        r#" <span class="tag tag-bad">blocked</span>"#
    } else {
        ""
    };
    let pk = text(a, "pk");
    let pk_short = if pk.len() > 24 {
        format!("{}&hellip;", esc(&pk[pk.len() - 24..]))
    } else {
        esc(pk)
    };
    format!(
        r#"<article class="card admin-account" data-accountid="{id}">
<h2>Account {id} {user}{blocked}</h2>
<dl class="kv">
<dt>Device</dt><dd>{desc}</dd>
<dt>Enrolled</dt><dd>{created}</dd>
<dt>Last login</dt><dd>{lastlogin}</dd>
<dt>Last push</dt><dd>{lastprovoke}</dd>
<dt>Push</dt><dd>{push}</dd>
<dt>Public key</dt><dd><code title="{pk}">{pk_short}</code></dd>
</dl>
<h3>Sessions</h3>
{sessions}
</article>"#,
        desc = esc(text(a, "description")),
        created = time(&a["created"]),
        lastlogin = time(&a["lastlogin"]),
        lastprovoke = time(&a["lastprovoke"]),
        push = if a["push"] == true {
            "can be pushed to"
        } else {
            "no push endpoint"
        },
        pk = esc(pk),
    )
}

/// The server's settings (read from the store: the API has no call for them).
async fn settings_section(ctx: &Ctx<'_>) -> String {
    let server = match ctx.deps.servers.get_server(&ctx.demo.serverid).await {
        Ok(Some(s)) => s,
        _ => return r#"<p class="muted">The settings could not be read.</p>"#.into(),
    };
    let s = &server.settings;
    let secs = |n: u32| format!("{n} s");
    let number_match = serde_json::to_value(s.number_match)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let rows: Vec<(&str, String)> = vec![
        ("name", s.name.clone()),
        (
            "logo",
            if s.logo.is_empty() {
                "none".into()
            } else {
                format!("{} base64 characters", s.logo.len())
            },
        ),
        ("link_base", s.link_base.clone()),
        (
            "return_urls",
            if s.return_urls.is_empty() {
                "none".into()
            } else {
                s.return_urls.join(" ")
            },
        ),
        ("login_timeout", secs(s.login_timeout)),
        ("session_lifetime", secs(s.session_lifetime)),
        ("remember_seconds", secs(s.remember_seconds)),
        ("push_limit", s.push_limit.to_string()),
        ("push_window", secs(s.push_window)),
        ("fraud_block_after", s.fraud_block_after.to_string()),
        ("number_match", number_match),
        ("login_limit", s.login_limit.to_string()),
        ("login_window", secs(s.login_window)),
    ];
    let mut out = String::from(r#"<table class="admin-settings"><tbody>"#);
    for (k, v) in rows {
        out.push_str(&format!(
            r#"<tr><th><code>{}</code></th><td>{}</td></tr>"#,
            esc(k),
            esc(&v)
        ));
    }
    out.push_str("</tbody></table>");
    out
}

pub(super) async fn page(ctx: &Ctx<'_>) -> hyper::Response<Full<Bytes>> {
    let mut accounts = String::new();
    let mut count = 0;
    let mut misses = 0;
    let highest_known = ctx
        .get_json(&format!("/users/{DEMO_USER}"))
        .await
        .and_then(|u| {
            u["accounts"]
                .as_array()
                .and_then(|a| a.iter().filter_map(|a| a["accountid"].as_u64()).max())
        })
        .unwrap_or(0);
    let mut id = 1;
    while (misses < MAX_MISSES_IN_A_ROW || id <= highest_known) && id <= MAX_ACCOUNTID {
        match ctx.get_json(&format!("/accounts/{id}")).await {
            Some(a) => {
                misses = 0;
                count += 1;
                accounts.push_str(&account_section(ctx, &a).await);
                accounts.push('\n');
            }
            None => misses += 1,
        }
        id += 1;
    }
    if count == 0 {
        accounts = r#"<p class="card admin-empty">No accounts yet: enrol a phone with the link under the login block on the <a href="/">start page</a>.</p>"#.into();
    }
    let settings = settings_section(ctx).await;
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Accounts and sessions - nsauth local demo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
</head><body class="admin">
{topbar}
<main class="admin-main">
<h1>Accounts and sessions</h1>
<p class="lead">What the demo server (<code>{serverid}</code>) keeps, read with the demo website's API key (getAccount, getAccountSessions). <span class="admin-count">{count} account{plural}</span>. <a href="/admin">Refresh</a></p>
{accounts}
<section class="card admin-server">
<h2>Server settings</h2>
{settings}
<p class="muted">With the DynamoDB store (<code>NSAUTH_STORE=dynamodb</code>), change them with <code>nsauth-admin set {serverid} key=value</code>; the memory store lives in the local stack's process only.</p>
</section>
</main>
</body></html>
"#,
        css = assets::SITE_CSS_PATH,
        topbar = topbar("/admin"),
        serverid = esc(ctx.demo.serverid.as_str()),
        plural = if count == 1 { "" } else { "s" },
    );
    html(200, page, None)
}
