//! The browser side (SPEC sections 4 and 8): the website shows the QR code or the HTML
//! block, the footer keeps a page in step, and the block polls when it has no WebSocket.

use serde::Serialize;

use crate::apikey::Permission;
use crate::clock::UnixTime;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::ids::{Hsid, Nonce, ServerId};
use crate::links;
use crate::rotation::QrKey;
use crate::server::Server;
use crate::service::Checked;
use crate::service::versioned;
use crate::service::website::{self, SessionCall, WebsiteSession};
use crate::session::{PollStatus, Session, SessionState};
use crate::settings::ServerSettings;
use crate::usercontext::UserContext;

/// A session as the website is about to show it, with the page's live token (PROVOKE and
/// LOGOUT over the WebSocket need it).
pub struct Shown {
    pub server: Server,
    pub session: Session,
    pub token: String,
}

impl Shown {
    /// The key of the attempt's rotating codes, when they rotate.
    pub fn qr_key(&self) -> Option<QrKey> {
        self.session
            .rotating(&self.server.settings)
            .then(|| QrKey::of(&self.server, &self.session.hsid, self.session.attempt))
            .flatten()
    }

    /// The login link to show at `now`: with rotation, the code of that second.
    pub fn login_link(&self, now: UnixTime) -> String {
        let link = self.session.login_link(&self.server.settings);
        match self.qr_key() {
            Some(key) => key.link(&link, &self.session.hsid, now),
            None => link,
        }
    }

    async fn of(deps: &Deps, server: Server, session: Session) -> Result<Shown, ApiError> {
        let server = with_secret(deps, server).await?;
        let token = server
            .live_token(&session.hsid, session.attempt)
            .ok_or(ApiError::Internal)?;
        Ok(Shown {
            server,
            session,
            token,
        })
    }
}

/// The server, with a secret for live tokens: one is made (once, by a versioned write) for
/// a server stored before servers had one.
async fn with_secret(deps: &Deps, server: Server) -> Result<Server, ApiError> {
    if !server.secret.is_empty() {
        return Ok(server);
    }
    // When another request made one first, the re-read server holds theirs.
    versioned::update(
        deps.servers.as_ref(),
        deps.clock.as_ref(),
        server,
        |s, _| Ok(s.secret.is_empty().then(|| s.with_new_secret())),
    )
    .await
}

/// The website shows the QR or the block (SPEC section 3), with the optional UserContext
/// of the call (a GET with a body, as in the v2.2 API, or the POST alias): see
/// [`Session::shown`]. One write at most, none when nothing changes.
pub async fn show_login(
    deps: &Deps,
    call: &SessionCall,
    context: Checked<Option<UserContext>>,
) -> Result<Shown, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let context = context?;
    attempt(deps, ws, context.as_ref(), false).await
}

/// The HTML login block: [`show_login`], noting that the block shows this attempt (its
/// codes rotate; see [`Session::rotating`]), and the app-to-app link when the page asks for
/// a `return` URL (only one on the server's allow-list, checked before anything is written).
pub async fn login_block(
    deps: &Deps,
    call: &SessionCall,
    context: Checked<Option<UserContext>>,
    return_url: Option<&str>,
) -> Result<(Shown, String), ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let context = context?;
    let settings = &ws.server.settings;
    let link = links::login_link(&settings.link_base, &ws.server.serverid, &ws.hsid);
    let applink = app_link(settings, &link, return_url)?;
    Ok((attempt(deps, ws, context.as_ref(), true).await?, applink))
}

/// One write at most: the attempt shown (see [`Session::shown`]) and, for the block, noted
/// as the block's.
async fn attempt(
    deps: &Deps,
    ws: WebsiteSession,
    context: Option<&UserContext>,
    block: bool,
) -> Result<Shown, ApiError> {
    let session = ws.ensure(deps, context).await?;
    let settings = &ws.server.settings;
    let session = versioned::update(
        deps.sessions.as_ref(),
        deps.clock.as_ref(),
        session,
        |s, now| {
            let shown = s.shown(settings, context, now);
            if !block {
                return Ok(shown);
            }
            let base = shown.as_ref().unwrap_or(s);
            Ok(match base.block_shown(settings, now) {
                Some(mut noted) => {
                    // One version on from the read, however many changes.
                    noted.version = s.version + 1;
                    Some(noted)
                }
                None => shown,
            })
        },
    )
    .await?;
    Shown::of(deps, ws.server, session).await
}

/// The app-to-app link: the login link with `?return=`, only for an allowed URL.
fn app_link(settings: &ServerSettings, link: &str, ret: Option<&str>) -> Result<String, ApiError> {
    let Some(r) = ret.filter(|r| !r.is_empty()) else {
        return Ok(String::new());
    };
    if !links::return_allowed(r, &settings.return_urls) {
        return Err(ApiError::invalid_field(
            "return",
            "not on the server's return_urls allow-list",
        ));
    }
    let enc = percent_encoding::utf8_percent_encode(r, percent_encoding::NON_ALPHANUMERIC);
    Ok(format!("{link}?return={enc}"))
}

/// How many sessions of other servers one footer may watch.
pub const MAX_FOOTER_SESSIONS: usize = 10;

/// What the footer watches: its own session, and those of the body's `sessions` that
/// someone is logged in to (server, hsid, end of the login).
pub struct Footer {
    pub shown: Shown,
    pub others: Vec<(ServerId, Hsid, UnixTime)>,
}

/// getHtmlFooter: the session the footer watches, and the logged-in sessions among the
/// other servers' sessions (v2.2's `sessions` body) that it watches as well.
pub async fn footer(
    deps: &Deps,
    call: &SessionCall,
    others: Checked<Vec<(ServerId, Nonce)>>,
) -> Result<Footer, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let others = others?;
    let session = ws.ensure(deps, None).await?;
    let now = deps.clock.now();
    let mut watched = Vec::new();
    for (sid, nonce) in others {
        let hsid = nonce.hsid(&sid);
        if hsid == ws.hsid {
            continue;
        }
        if let Some(s) = deps.sessions.get_session(&hsid).await?
            && s.serverid == sid
            && s.state_at(now) == SessionState::LoggedIn
        {
            watched.push((sid, hsid, s.expires_at));
        }
    }
    Ok(Footer {
        shown: Shown::of(deps, ws.server, session).await?,
        others: watched,
    })
}

/// The live token of a session's current attempt (an addition to the v2.2 calls): for a
/// website that draws its own page and sends PROVOKE or LOGOUT over the WebSocket.
#[derive(Debug, Serialize)]
pub struct LiveToken {
    pub hsid: String,
    pub livetoken: String,
    /// The attempt the token is for: a new attempt (the QR or block shown after the login
    /// ended, or a push) needs a new token.
    pub attempt: u64,
}

/// getLiveToken: the session's current live token (the session is created if new; no new
/// attempt begins).
pub async fn live_token(deps: &Deps, call: &SessionCall) -> Result<LiveToken, ApiError> {
    let ws = website::open(deps, call, &[Permission::Sessions]).await?;
    let session = ws.ensure(deps, None).await?;
    let shown = Shown::of(deps, ws.server, session).await?;
    Ok(LiveToken {
        hsid: shown.session.hsid.to_string(),
        livetoken: shown.token,
        attempt: shown.session.attempt,
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
