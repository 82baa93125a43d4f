//! The browser side (SPEC sections 4 and 8): getQrLogin, getHtmlLogin, getHtmlFooter, the
//! public polling endpoint and the block's script and stylesheet.

use std::sync::LazyLock;

use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use lambda_http::{Body, Request};
use sha2::{Digest, Sha256};

use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::error;
use crate::http::request::{
    PathParams, api_base, body, enrol_link_request, no_body, optional_user_context, query,
    query_param, session_call,
};
use crate::http::response::{cors, html, json, link_or_image};
use crate::ids::{Hsid, ServerId};
use crate::qr;
use crate::service::{block, sessions};
use crate::session::SessionState;

/// The block's script, with the QR encoder its rotating codes need in front.
const SCRIPT: &str = concat!(
    include_str!("../../../assets/nsauth-qr.js"),
    "\n",
    include_str!("../../../assets/nsauth-block.js")
);
const STYLE: &str = include_str!("../../../assets/nsauth-block.css");

/// Asset names carry a hash of their content, so they can be cached for a year.
static ASSETS: LazyLock<[(String, &'static str, &'static str); 2]> = LazyLock::new(|| {
    let name = |content: &str, ext: &str| {
        let h = Sha256::digest(content.as_bytes());
        let hex: String = h[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("nsauth-block.{hex}.{ext}")
    };
    [
        (name(SCRIPT, "js"), SCRIPT, "text/javascript; charset=utf-8"),
        (name(STYLE, "css"), STYLE, "text/css; charset=utf-8"),
    ]
});

pub fn script_name() -> &'static str {
    &ASSETS[0].0
}

pub fn style_name() -> &'static str {
    &ASSETS[1].0
}

/// Escapes text for an HTML attribute or element.
fn esc(s: &str) -> String {
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

/// `GET /servers/{serverid}/sessions/qr/login?img=&s=` + X-nonce: the login link's bytes,
/// or its QR code.
pub async fn qr_login(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let q = query(req)?;
    let image = qr::image_params(query_param(&q, "img"), query_param(&q, "s"))?;
    let call = session_call(req, params)?;
    let shown = block::show_login(deps, &call, optional_user_context(req)).await?;
    link_or_image(shown.login_link(deps.clock.now()), image)
}

/// A link (the login link, or the app-to-app link with its `return`) with the query of the
/// current code, if it has one.
fn with_code(link: &str, current: &str) -> String {
    let Some((_, code)) = current.split_once('?') else {
        return link.to_string();
    };
    match link.split_once('?') {
        Some((base, rest)) => format!("{base}?{code}&{rest}"),
        None => format!("{link}?{code}"),
    }
}

fn valid_callback(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 64
        && c.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_' || ch == '$')
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_$.".contains(ch))
}

struct Urls {
    ws: String,
    status: String,
    assets: String,
}

fn urls(deps: &Deps, req: &Request, serverid: &ServerId, hsid: &Hsid) -> Urls {
    let base = api_base(req, deps.config.api_base.as_deref());
    Urls {
        ws: deps.config.ws_url.clone().unwrap_or_default(),
        status: format!("{base}status/{serverid}/{hsid}"),
        assets: format!("{base}assets/"),
    }
}

/// `GET /servers/{serverid}/sessions/html/login?callback=&return=` + X-nonce: the login
/// block. Asking for it begins a new login attempt unless one is open.
pub async fn html_login(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let q = query(req)?;
    let callback = query_param(&q, "callback").unwrap_or("");
    if !callback.is_empty() && !valid_callback(callback) {
        return Err(ApiError::invalid_field(
            "callback",
            "a JavaScript function name",
        ));
    }
    let call = session_call(req, params)?;
    let (shown, applink) = block::login_block(
        deps,
        &call,
        optional_user_context(req),
        query_param(&q, "return"),
    )
    .await?;
    let (server, session) = (&shown.server, &shown.session);
    let now = deps.clock.now();
    let link = session.login_link(&server.settings);
    // With rotation the page's script draws the next codes from the attempt's key and the
    // server's time; the first one is drawn here.
    let key = shown.qr_key();
    let current = shown.login_link(now);
    let u = urls(deps, req, &server.serverid, &session.hsid);
    let state = session.state_at(now);
    let matching = session.open_match(now).unwrap_or("");
    let svg = qr::svg(&current, 240)?;
    // Inline SVG in HTML takes no XML declaration.
    let qr_svg = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
    let body = format!(
        r#"<div class="nsauth-block" data-serverid="{sid}" data-hsid="{hsid}" data-ws="{ws}" data-status="{status}" data-state="{state}" data-canprovoke="{canprovoke}" data-match="{matching}" data-expires="{expires}" data-link="{link}" data-applink="{applink}" data-callback="{callback}" data-token="{token}"{rotation}>
  <div class="nsauth-qr" role="img" aria-label="QR code to log in with the authenticator app" data-code="{current}">{qr_svg}</div>
  <div class="nsauth-match"{match_hidden}><span class="nsauth-match-label">Pick this number on your phone</span> <span class="nsauth-match-number">{matching}</span></div>
  <p class="nsauth-status" aria-live="polite">Scan the code with your authenticator app.</p>
  <button type="button" class="nsauth-push" hidden>Send a login request to my phone</button>
  <a class="nsauth-open-app" href="{href}" hidden>Open the app</a>
  <button type="button" class="nsauth-retry" hidden>Try again</button>
</div>
"#,
        sid = esc(server.serverid.as_str()),
        hsid = esc(session.hsid.as_str()),
        ws = esc(&u.ws),
        status = esc(&u.status),
        state = state.as_str(),
        canprovoke = session.canprovoke,
        matching = esc(matching),
        expires = session.expires_at,
        link = esc(&link),
        applink = esc(&applink),
        callback = esc(callback),
        token = esc(&shown.token),
        match_hidden = if matching.is_empty() { " hidden" } else { "" },
        href = esc(&with_code(
            if applink.is_empty() { &link } else { &applink },
            &current
        )),
        current = esc(&current),
        rotation = match key {
            Some(k) => format!(r#" data-qr-key="{}" data-qr-time="{now}""#, k.expose()),
            None => String::new(),
        },
    );
    Ok(html(StatusCode::OK, body, "no-store"))
}

/// `GET /servers/{serverid}/sessions/html/footer` + X-nonce: the block's stylesheet and
/// script, and on a logged-in page the watcher that reloads it at logout.
pub async fn html_footer(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    let others = footer_sessions(req);
    let footer = block::footer(deps, &call, others).await?;
    let shown = &footer.shown;
    let (server, session) = (&shown.server, &shown.session);
    let now = deps.clock.now();
    let u = urls(deps, req, &server.serverid, &session.hsid);
    let mut body = format!(
        "<link rel=\"stylesheet\" href=\"{a}{css}\">\n<script src=\"{a}{js}\" defer></script>\n",
        a = esc(&u.assets),
        css = style_name(),
        js = script_name(),
    );
    for (sid, hsid, expires) in &footer.others {
        // Sessions of other virtual servers the page also watches (v2.2's `sessions`
        // body): REGISTER only, so no live token; a logout there reloads the page too.
        let o = urls(deps, req, sid, hsid);
        body.push_str(&format!(
            "<div class=\"nsauth-footer\" hidden data-serverid=\"{}\" data-hsid=\"{}\" data-ws=\"{}\" data-status=\"{}\" data-state=\"loggedin\" data-expires=\"{}\" data-token=\"\"></div>\n",
            esc(sid.as_str()),
            esc(hsid.as_str()),
            esc(&o.ws),
            esc(&o.status),
            expires,
        ));
    }
    if session.state_at(now) == SessionState::LoggedIn {
        // data-expires: the end of the login (session_lifetime). That end is decided at read
        // time and writes nothing, so no LOGOUT frame comes; the footer asks again then.
        body.push_str(&format!(
            "<div class=\"nsauth-footer\" hidden data-serverid=\"{}\" data-hsid=\"{}\" data-ws=\"{}\" data-status=\"{}\" data-state=\"loggedin\" data-expires=\"{}\" data-token=\"{}\"></div>\n",
            esc(server.serverid.as_str()),
            esc(session.hsid.as_str()),
            esc(&u.ws),
            esc(&u.status),
            session.expires_at,
            esc(&shown.token),
        ));
    }
    Ok(html(StatusCode::OK, body, "no-store"))
}

/// The footer's optional body: `{"sessions": [{"serverid", "sessionid"}]}`, at most
/// [`block::MAX_FOOTER_SESSIONS`].
fn footer_sessions(req: &Request) -> Result<Vec<(ServerId, crate::ids::Nonce)>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        serverid: String,
        sessionid: String,
    }
    #[derive(serde::Deserialize, Default)]
    struct FooterBody {
        #[serde(default)]
        sessions: Option<Vec<Entry>>,
    }
    let b = body(req);
    if no_body(b) {
        return Ok(Vec::new());
    }
    let shape = || {
        ApiError::bad_request(
            "invalid_json",
            r#"the body must be {"sessions": [{"serverid", "sessionid"}]}"#,
        )
    };
    let v: serde_json::Value = serde_json::from_slice(b).map_err(|_| shape())?;
    // serde would read a struct from an array by position; only objects are meant.
    let entries_are_objects = match v.get("sessions") {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::Array(a)) => a.iter().all(serde_json::Value::is_object),
        Some(_) => false,
    };
    if !v.is_object() || !entries_are_objects {
        return Err(shape());
    }
    let parsed: FooterBody = serde_json::from_value(v).map_err(|_| shape())?;
    let entries = parsed.sessions.unwrap_or_default();
    if entries.len() > block::MAX_FOOTER_SESSIONS {
        return Err(ApiError::invalid_field(
            "sessions",
            format!("at most {} sessions", block::MAX_FOOTER_SESSIONS),
        ));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let sid = ServerId::parse(&e.serverid).ok_or_else(|| {
                ApiError::invalid_field(&format!("sessions[{i}].serverid"), "not a server id")
            })?;
            let nonce = crate::ids::Nonce::parse(Some(&e.sessionid)).map_err(|e| {
                ApiError::invalid_field(&format!("sessions[{i}].sessionid"), e.to_string())
            })?;
            Ok((sid, nonce))
        })
        .collect()
}

/// `GET /servers/{serverid}/sessions/html/enrol?name=&userid=` + X-nonce: the enrolment
/// block (v2.2 getHtmlEnrol): the enrolment QR code, a link that opens the app on the same
/// device, and live progress (the enrolment logs the new account in to this session, so
/// the block turns "enrolled" on LOGIN).
pub async fn html_enrol(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    let request = query(req).and_then(|q| enrol_link_request(&q));
    let base = api_base(req, deps.config.api_base.as_deref());
    let link = sessions::enrol_link(deps, &call, request, &base).await?;
    let serverid = &call.credentials.serverid;
    let hsid = call.nonce.hsid(serverid);
    let u = urls(deps, req, serverid, &hsid);
    let svg = qr::svg(&link.link, 240)?;
    let qr_svg = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
    let body = format!(
        r#"<div class="nsauth-enrol" data-serverid="{sid}" data-hsid="{hsid}" data-ws="{ws}" data-status="{status}" data-state="pending" data-session="{state}" data-expires="{expires}" data-link="{link}">
  <div class="nsauth-qr" role="img" aria-label="QR code to enrol with the authenticator app">{qr_svg}</div>
  <p class="nsauth-status" aria-live="polite">Scan the code with your authenticator app to add this website to it.</p>
  <a class="nsauth-open-app" href="{link}">Open the app on this device</a>
  <button type="button" class="nsauth-retry" hidden>Try again</button>
</div>
"#,
        sid = esc(serverid.as_str()),
        hsid = esc(hsid.as_str()),
        ws = esc(&u.ws),
        status = esc(&u.status),
        expires = link.expires_at,
        state = link.session_state.as_str(),
        link = esc(&link.link),
    );
    Ok(html(StatusCode::OK, body, "no-store"))
}

/// `GET /servers/{serverid}/sessions/livetoken` + X-nonce: the live token of the session's
/// current attempt, for a page the website draws itself.
pub async fn live_token(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = session_call(req, params)?;
    json(StatusCode::OK, &block::live_token(deps, &call).await?)
}

/// `GET /status/{serverid}/{hsid}`: the polling fallback. No key, CORS open (errors too),
/// nothing about the user.
pub async fn status(
    deps: &Deps,
    params: &PathParams,
    _req: &Request,
) -> Result<Response<Body>, ApiError> {
    let result = match block::poll(deps, params.get("serverid"), params.get("hsid")).await {
        Ok(status) => json(StatusCode::OK, &status),
        Err(e) => Err(e),
    };
    Ok(cors(result.unwrap_or_else(error::response)))
}

/// `GET /assets/{name}`: the block's script or stylesheet under its content-hashed name.
pub async fn asset(
    _deps: &Deps,
    params: &PathParams,
    _req: &Request,
) -> Result<Response<Body>, ApiError> {
    let name = params.get("name");
    let (_, content, ctype) = ASSETS.iter().find(|(n, _, _)| n == name).ok_or_else(|| {
        ApiError::not_found("no such asset; the page may be older than the deployment")
    })?;
    let mut resp = Response::new(Body::Text((*content).to_string()));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(cors(resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_callbacks() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert!(valid_callback("onLogin"));
        assert!(valid_callback("app.auth.done"));
        for bad in ["", "1x", "a()", "a b", "alert(1)//", &"a".repeat(65)] {
            assert!(!valid_callback(bad), "{bad}");
        }
    }

    #[test]
    fn asset_names_carry_hashes() {
        assert!(script_name().starts_with("nsauth-block.") && script_name().ends_with(".js"));
        assert_eq!(script_name().len(), "nsauth-block.".len() + 12 + 3);
        assert!(style_name().ends_with(".css"));
    }
}
