//! The browser side (SPEC sections 4 and 8): getQrLogin, getHtmlLogin, getHtmlFooter, the
//! public polling endpoint and the block's script and stylesheet.

use std::sync::LazyLock;

use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use lambda_http::{Body, Request};
use sha2::{Digest, Sha256};

use super::common::{
    body_context, ensure_session, ensure_session_with, transition, website_session,
};
use super::sessions::link_or_image;
use crate::apikey::Permission;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{api_base, query, query_param};
use crate::http::routes::PathParams;
use crate::ids::{Hsid, ServerId};
use crate::live::frames::poll_status;
use crate::qr;
use crate::session::{Session, SessionState};
use crate::settings::ServerSettings;

const SCRIPT: &str = include_str!("../../../assets/nsauth-block.js");
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

fn html(status: StatusCode, body: String, cache: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// The website shows the QR or the block (SPEC section 3), with the optional UserContext
/// of the body (a GET with a body, as in the v2.2 API, or the POST alias): see
/// [`Session::shown`]. One write at most, none when nothing changes.
async fn attempt(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<(super::common::WebsiteSession, Session), ApiError> {
    let ws = website_session(deps, params, req, Permission::Sessions).await?;
    let context = body_context(req)?;
    let session = ensure_session_with(deps, &ws, req, context.as_ref()).await?;
    let settings = &ws.server.settings;
    let session = transition(deps, session.clone(), |s, now| {
        Ok(s.shown(settings, context.as_ref(), now))
    })
    .await?
    .unwrap_or(session);
    Ok((ws, session))
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
    let (ws, session) = attempt(deps, params, req).await?;
    link_or_image(session.login_link(&ws.server.settings), image)
}

fn valid_callback(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 64
        && c.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_' || ch == '$')
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_$.".contains(ch))
}

/// The app-to-app link: the login link with `?return=`, only for an allowed URL.
fn app_link(settings: &ServerSettings, link: &str, ret: Option<&str>) -> Result<String, ApiError> {
    let Some(r) = ret.filter(|r| !r.is_empty()) else {
        return Ok(String::new());
    };
    let allowed = settings
        .return_urls
        .iter()
        .any(|u| r == u || (u.ends_with('/') && r.starts_with(u.as_str())));
    if !allowed {
        return Err(ApiError::invalid_field(
            "return",
            "not on the server's return_urls allow-list",
        ));
    }
    let enc = percent_encoding::utf8_percent_encode(r, percent_encoding::NON_ALPHANUMERIC);
    Ok(format!("{link}?return={enc}"))
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
    let (ws, session) = attempt(deps, params, req).await?;
    let settings = &ws.server.settings;
    let now = deps.clock.now();
    let link = session.login_link(settings);
    let applink = app_link(settings, &link, query_param(&q, "return"))?;
    let u = urls(deps, req, &ws.server.serverid, &session.hsid);
    let state = session.state_at(now);
    let matching = session.open_match(now).unwrap_or("");
    let svg = qr::svg(&link, 240)?;
    // Inline SVG in HTML takes no XML declaration.
    let qr_svg = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
    let body = format!(
        r#"<div class="nsauth-block" data-serverid="{sid}" data-hsid="{hsid}" data-ws="{ws}" data-status="{status}" data-state="{state}" data-canprovoke="{canprovoke}" data-match="{matching}" data-expires="{expires}" data-link="{link}" data-applink="{applink}" data-callback="{callback}">
  <div class="nsauth-qr" role="img" aria-label="QR code to log in with the authenticator app">{qr_svg}</div>
  <div class="nsauth-match"{match_hidden}><span class="nsauth-match-label">Pick this number on your phone</span> <span class="nsauth-match-number">{matching}</span></div>
  <p class="nsauth-status" aria-live="polite">Scan the code with your authenticator app.</p>
  <button type="button" class="nsauth-push" hidden>Send a login request to my phone</button>
  <a class="nsauth-open-app" href="{href}" hidden>Open the app</a>
  <button type="button" class="nsauth-retry" hidden>Try again</button>
</div>
"#,
        sid = esc(ws.server.serverid.as_str()),
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
        match_hidden = if matching.is_empty() { " hidden" } else { "" },
        href = esc(if applink.is_empty() { &link } else { &applink }),
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
    let ws = website_session(deps, params, req, Permission::Sessions).await?;
    let session = ensure_session(deps, &ws, req).await?;
    let now = deps.clock.now();
    let u = urls(deps, req, &ws.server.serverid, &session.hsid);
    let mut body = format!(
        "<link rel=\"stylesheet\" href=\"{a}{css}\">\n<script src=\"{a}{js}\" defer></script>\n",
        a = esc(&u.assets),
        css = style_name(),
        js = script_name(),
    );
    if session.state_at(now) == SessionState::LoggedIn {
        // data-expires: the end of the login (session_lifetime). That end is decided at read
        // time and writes nothing, so no LOGOUT frame comes; the footer asks again then.
        body.push_str(&format!(
            "<div class=\"nsauth-footer\" hidden data-serverid=\"{}\" data-hsid=\"{}\" data-ws=\"{}\" data-status=\"{}\" data-state=\"loggedin\" data-expires=\"{}\"></div>\n",
            esc(ws.server.serverid.as_str()),
            esc(session.hsid.as_str()),
            esc(&u.ws),
            esc(&u.status),
            session.expires_at,
        ));
    }
    Ok(html(StatusCode::OK, body, "no-store"))
}

fn cors(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

/// `GET /status/{serverid}/{hsid}`: the polling fallback. No key, CORS open, nothing about
/// the user.
pub async fn status(
    deps: &Deps,
    params: &PathParams,
    _req: &Request,
) -> Result<Response<Body>, ApiError> {
    let unknown = || ApiError::not_found("no such session");
    let result = async {
        let sid = ServerId::parse(params.get("serverid")).ok_or_else(unknown)?;
        let hsid = Hsid::parse(params.get("hsid")).ok_or_else(unknown)?;
        let session = deps
            .store
            .get_session(&hsid)
            .await?
            .filter(|s| s.serverid == sid)
            .ok_or_else(unknown)?;
        crate::http::response::json(StatusCode::OK, &poll_status(&session, deps.clock.now()))
    }
    .await;
    Ok(cors(result.unwrap_or_else(ApiError::into_response)))
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
    fn app_links_only_to_allowed_urls() {
        let mut s = ServerSettings::default();
        s.set(
            "return_urls",
            "https://shop.example/, https://exact.example/cb",
        )
        .unwrap();
        let l = "nsauth://login/a/b";
        assert_eq!(app_link(&s, l, None).unwrap(), "");
        assert!(
            app_link(&s, l, Some("https://shop.example/cart?x=1"))
                .unwrap()
                .starts_with("nsauth://login/a/b?return=https%3A%2F%2Fshop")
        );
        assert!(app_link(&s, l, Some("https://exact.example/cb")).is_ok());
        assert!(app_link(&s, l, Some("https://exact.example/cb2")).is_err());
        assert!(app_link(&s, l, Some("https://evil.example/")).is_err());
        assert!(app_link(&s, l, Some("https://shop.example.evil/")).is_err());
    }

    #[test]
    fn asset_names_carry_hashes() {
        assert!(script_name().starts_with("nsauth-block.") && script_name().ends_with(".js"));
        assert_eq!(script_name().len(), "nsauth-block.".len() + 12 + 3);
        assert!(style_name().ends_with(".css"));
    }
}
