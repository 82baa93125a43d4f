//! The browser side (SPEC sections 4 and 8): the website shows the QR code or the HTML
//! block, the footer keeps a page in step, and the block polls when it has no WebSocket.

use crate::apikey::Permission;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::ids::{Hsid, ServerId};
use crate::links;
use crate::server::Server;
use crate::service::Checked;
use crate::service::versioned;
use crate::service::website::{self, SessionCall, WebsiteSession};
use crate::session::{PollStatus, Session};
use crate::settings::ServerSettings;
use crate::usercontext::UserContext;

/// A session as the website is about to show it.
pub struct Shown {
    pub server: Server,
    pub session: Session,
}

/// The website shows the QR or the block (SPEC section 3), with the optional UserContext
/// of the call (a GET with a body, as in the v2.2 API, or the POST alias): see
/// [`Session::shown`]. One write at most, none when nothing changes.
pub async fn show_login(
    deps: &Deps,
    call: &SessionCall,
    context: Checked<Option<UserContext>>,
) -> Result<Shown, ApiError> {
    let ws = website::open(deps, call, Permission::Sessions).await?;
    let context = context?;
    attempt(deps, ws, context.as_ref()).await
}

/// The HTML login block: [`show_login`], and the app-to-app link when the page asks for a
/// `return` URL (only one on the server's allow-list, checked before anything is written).
pub async fn login_block(
    deps: &Deps,
    call: &SessionCall,
    context: Checked<Option<UserContext>>,
    return_url: Option<&str>,
) -> Result<(Shown, String), ApiError> {
    let ws = website::open(deps, call, Permission::Sessions).await?;
    let context = context?;
    let settings = &ws.server.settings;
    let link = links::login_link(&settings.link_base, &ws.server.serverid, &ws.hsid);
    let applink = app_link(settings, &link, return_url)?;
    Ok((attempt(deps, ws, context.as_ref()).await?, applink))
}

async fn attempt(
    deps: &Deps,
    ws: WebsiteSession,
    context: Option<&UserContext>,
) -> Result<Shown, ApiError> {
    let session = ws.ensure(deps, context).await?;
    let settings = &ws.server.settings;
    let session = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session.clone(),
        |s, now| Ok(s.shown(settings, context, now)),
    )
    .await?
    .unwrap_or(session);
    Ok(Shown {
        server: ws.server,
        session,
    })
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

/// getHtmlFooter: the session the footer watches.
pub async fn footer(deps: &Deps, call: &SessionCall) -> Result<Shown, ApiError> {
    let ws = website::open(deps, call, Permission::Sessions).await?;
    let session = ws.ensure(deps, None).await?;
    Ok(Shown {
        server: ws.server,
        session,
    })
}

/// The polling fallback: the state of a session, nothing about the user. No key: the hsid
/// is public. An unknown or malformed server id or hsid is 404, as an unknown session.
pub async fn poll(deps: &Deps, serverid: &str, hsid: &str) -> Result<PollStatus, ApiError> {
    let unknown = || ApiError::not_found("no such session");
    let sid = ServerId::parse(serverid).ok_or_else(unknown)?;
    let hsid = Hsid::parse(hsid).ok_or_else(unknown)?;
    let session = deps
        .sessions
        .get_session(&hsid)
        .await?
        .filter(|s| s.serverid == sid)
        .ok_or_else(unknown)?;
    Ok(session.poll_status(deps.clock.now()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
