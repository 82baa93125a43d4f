//! The website backend's side of every call (SPEC section 4): the key check, and the
//! session a nonce names, created as a new pending one the first time it is seen.

use crate::apikey::{Authorised, Credentials, Permission};
use crate::deps::Deps;
use crate::error::ApiError;
use crate::ids::{Hsid, Nonce, ServerId};
use crate::role::{self, Acting, RoleItems};
use crate::server::Server;
use crate::service::versioned::{self, Created};
use crate::session::Session;
use crate::usercontext::{RequestOrigin, UserContext};

/// A website backend call without a session: its key and where it came from.
pub struct WebsiteCall {
    pub credentials: Credentials,
    pub origin: RequestOrigin,
}

/// A website backend call on the session of a nonce (`X-nonce`).
pub struct SessionCall {
    pub credentials: Credentials,
    pub nonce: Nonce,
    pub origin: RequestOrigin,
}

/// The server of a key that carries `needs` (after `X-su`, when sent), and what else the
/// acting role may do there (one consistent read of server, grant and role, so a
/// revocation takes effect at once).
pub async fn authorise(
    deps: &Deps,
    credentials: &Credentials,
    needs: &[Permission],
) -> Result<Authorised, ApiError> {
    let keyid = credentials.key.keyid();
    let now = deps.clock.now();
    let (server, acting) = match deps.key_cache.get(&credentials.serverid, keyid, now) {
        Some((server, items)) => credentials.verify(Some(server), items)?,
        None => {
            let (server, items) = deps
                .servers
                .get_server_and_role(&credentials.serverid, keyid)
                .await?;
            let verified = credentials.verify(server, items.clone())?;
            deps.key_cache.put(&verified.0, keyid, &items, now);
            verified
        }
    };
    let acting = switch_role(deps, credentials, acting).await?;
    Authorised::new(server, acting, needs)
}

/// As [`authorise`], always read from the table: the management calls answer and change
/// the server itself, which a cached copy could show stale.
pub async fn authorise_fresh(
    deps: &Deps,
    credentials: &Credentials,
    needs: &[Permission],
) -> Result<Authorised, ApiError> {
    let (server, items) = deps
        .servers
        .get_server_and_role(&credentials.serverid, credentials.key.keyid())
        .await?;
    if server.is_none()
        && role::verify_key(&credentials.key, None, items.clone())
            .is_ok_and(|a| a.has_global(Permission::Servers))
    {
        // A role that may list every server learns nothing from a 404, and v2.2 answers
        // 404 for an unknown server here; every other key gets the one 401 for all.
        return Err(ApiError::not_found(format!(
            "there is no server {}",
            credentials.serverid
        )));
    }
    let (server, acting) = credentials.verify(server, items)?;
    let acting = switch_role(deps, credentials, acting).await?;
    Authorised::new(server, acting, needs)
}

/// The role `X-su` names (one more read), or the key's own.
async fn switch_role(
    deps: &Deps,
    credentials: &Credentials,
    acting: Acting,
) -> Result<Acting, ApiError> {
    let Some(to) = &credentials.su else {
        return Ok(acting);
    };
    if !acting.may_switch() {
        // Refused before anything more is read.
        return role::switch(&acting, to, None, RoleItems::default());
    }
    let items = deps
        .roles
        .get_role_items(Some(&credentials.serverid), to)
        .await?;
    role::switch(&acting, to, Some(&credentials.serverid), items)
}

/// A session call whose key checked out: the server, the hsid of the nonce, the session if
/// it exists, and where the call came from (for a session it creates).
pub struct WebsiteSession {
    pub server: Server,
    /// What the key may do besides the call's own permission.
    pub permissions: Vec<Permission>,
    pub hsid: Hsid,
    pub session: Option<Session>,
    pub origin: RequestOrigin,
}

/// Checks the key (with `needs`) and reads the session of the nonce in the same request
/// (one BatchGetItem of server, key and session). The key decides before anything about
/// the session is used.
pub async fn open(
    deps: &Deps,
    call: &SessionCall,
    needs: &[Permission],
) -> Result<WebsiteSession, ApiError> {
    let credentials = &call.credentials;
    let hsid = call.nonce.hsid(&credentials.serverid);
    let keyid = credentials.key.keyid();
    let now = deps.clock.now();
    let ((server, acting), session) = match deps.key_cache.get(&credentials.serverid, keyid, now) {
        // A cached key is checked first: a call refused reads nothing.
        Some((server, items)) => {
            let verified = credentials.verify(Some(server), items)?;
            (verified, None)
        }
        None => {
            let (server, items, session) = deps
                .sessions
                .get_session_with_role(&hsid, &credentials.serverid, keyid)
                .await?;
            let verified = credentials.verify(server, items.clone())?;
            deps.key_cache.put(&verified.0, keyid, &items, now);
            (verified, Some(session))
        }
    };
    let acting = switch_role(deps, credentials, acting).await?;
    let Authorised {
        server,
        permissions,
        ..
    } = Authorised::new(server, acting, needs)?;
    let session = match session {
        Some(s) => s,
        None => deps.sessions.get_session(&hsid).await?,
    };
    let session = session.map(|s| own(s, &server.serverid)).transpose()?;
    Ok(WebsiteSession {
        server,
        permissions,
        hsid,
        session,
        origin: call.origin.clone(),
    })
}

impl WebsiteSession {
    /// 403 `missing_permission` unless the key also carries `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        crate::apikey::require(&self.permissions, p)
    }

    /// The session, created as a new pending one (with `context`, or an empty one filled
    /// from the request) if the nonce was never seen. Of two first calls at once, one
    /// creates it and the other reads what it created.
    pub async fn ensure(
        &self,
        deps: &Deps,
        context: Option<&UserContext>,
    ) -> Result<Session, ApiError> {
        if let Some(s) = &self.session {
            return Ok(s.clone());
        }
        let context = match context {
            Some(c) => c.clone(),
            None => {
                let mut c = UserContext::default();
                c.fill_from(&self.origin);
                c
            }
        };
        let fresh = Session::new_pending(
            self.server.serverid.clone(),
            self.hsid.clone(),
            &self.server.settings,
            context,
            deps.clock.now(),
        );
        match versioned::create_or_read(deps.sessions.as_ref(), fresh).await? {
            Created::New(s) => {
                tracing::info!(hsid = %s.hsid, "session started");
                Ok(s)
            }
            Created::Existing(s) => own(s, &self.server.serverid),
        }
    }
}

/// A session read by hsid must belong to the server asking. Another server's session under
/// the same hsid would need a SHA-256 collision on 128 bits; refuse rather than mix them.
pub fn own(session: Session, serverid: &ServerId) -> Result<Session, ApiError> {
    if &session.serverid == serverid {
        Ok(session)
    } else {
        tracing::error!(hsid = %session.hsid, "hsid of another server");
        Err(ApiError::Internal)
    }
}
