//! createSession and getSession (SPEC sections 3 and 4).

use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request};
use serde::Serialize;

use crate::apikey::Permission;
use crate::clock::rfc3339;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::auth;
use crate::http::request::{body, header, origin};
use crate::http::response::json;
use crate::http::routes::PathParams;
use crate::ids::Nonce;
use crate::links;
use crate::session::Session;
use crate::store::StoreError;
use crate::usercontext::UserContext;

#[derive(Serialize)]
struct Created<'a> {
    nonce: &'a str,
    hsid: &'a str,
    loginqrdata: String,
    loginurl: String,
    expires: String,
}

/// `POST /servers/{serverid}/sessions`: the server picks a 128-bit nonce and starts a
/// pending session with the optional UserContext of the body.
pub async fn create_session(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let presented = auth::presented(req, params.get("serverid"))?;
    let (server, record) = deps
        .store
        .get_server_and_key(&presented.serverid, presented.key.keyid())
        .await?;
    let server = auth::verify(&presented, server, record, Permission::Sessions)?;
    let mut context = UserContext::from_body(body(req))?;
    context.fill_from(&origin(req));
    let now = deps.clock.now();
    // A collision of 128 random bits does not happen; the loop only makes sure that even
    // then no existing session is overwritten.
    for _ in 0..3 {
        let nonce = Nonce::generate();
        let hsid = nonce.hsid(&server.serverid);
        let session = Session::new_pending(
            server.serverid.clone(),
            hsid,
            &server.settings,
            context.clone(),
            now,
        );
        match deps.store.create_session(&session).await {
            Ok(()) => {
                let link = session.login_link(&server.settings);
                tracing::info!(hsid = %session.hsid, "session created");
                return json(
                    StatusCode::CREATED,
                    &Created {
                        nonce: nonce.expose(),
                        hsid: session.hsid.as_str(),
                        loginqrdata: links::login_qr_data(&link),
                        loginurl: link,
                        expires: rfc3339(session.expires_at),
                    },
                );
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Internal)
}

/// `GET /servers/{serverid}/sessions` + X-nonce: the LoginStatus. A nonce never seen
/// before becomes a new pending session. On an existing session this is one consistent
/// read of the session (beside the key check, which runs at the same time).
pub async fn get_session(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let presented = auth::presented(req, params.get("serverid"))?;
    let nonce = Nonce::parse(header(req, "x-nonce").or_else(|| {
        // Present but not visible ASCII: report it as invalid, not as missing.
        req.headers().contains_key("x-nonce").then_some("")
    }))?;
    let hsid = nonce.hsid(&presented.serverid);
    let (auth_read, session_read) = tokio::join!(
        deps.store
            .get_server_and_key(&presented.serverid, presented.key.keyid()),
        deps.store.get_session(&presented.serverid, &hsid),
    );
    let (server, record) = auth_read?;
    // The key decides before anything about the session is used or created.
    let server = auth::verify(&presented, server, record, Permission::Sessions)?;
    let now = deps.clock.now();
    let session = match session_read? {
        Some(s) => s,
        None => {
            let mut context = UserContext::default();
            context.fill_from(&origin(req));
            let fresh = Session::new_pending(
                server.serverid.clone(),
                hsid,
                &server.settings,
                context,
                now,
            );
            match deps.store.create_session(&fresh).await {
                Ok(()) => {
                    tracing::info!(hsid = %fresh.hsid, "session started by getSession");
                    fresh
                }
                // Another request created it between our read and write: use theirs.
                Err(StoreError::ConditionFailed) => deps
                    .store
                    .get_session(&server.serverid, &fresh.hsid)
                    .await?
                    .ok_or(ApiError::Unavailable)?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    json(StatusCode::OK, &session.status(&server.settings, now))
}
