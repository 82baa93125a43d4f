//! Checks a phone's signed request (SPEC 5.1): header shape, clock window, account,
//! signature, and for state-changing calls that it was not taken before.

use lambda_http::Request;
use lambda_http::http::Method;
use sha2::{Digest, Sha256};

use crate::account::Account;
use crate::clock::UnixTime;
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{body, header, path_with_query};
use crate::ids::{ServerId, b64url};
use crate::phone::signing::{self, AccountRef, AuthHeader, MAX_SKEW_SECONDS};
use crate::server::Server;
use crate::store::StoreError;

/// A request whose signature checked out.
pub struct Signed {
    pub server: Server,
    pub account: Account,
}

pub fn parse(req: &Request, now: UnixTime) -> Result<(AuthHeader, Vec<u8>), ApiError> {
    let auth = AuthHeader::parse(header(req, "authorization"))?;
    auth.check_time(now)?;
    let canonical = signing::canonical_bytes(
        req.method().as_str(),
        &path_with_query(req),
        auth.ts,
        body(req),
    );
    Ok((auth, canonical))
}

/// Records a state-changing request so that a replay of it has no second effect. The key
/// is a hash of the signed bytes (not of the signature, which ECDSA lets an attacker vary).
pub async fn not_replayed(
    deps: &Deps,
    req: &Request,
    serverid: &ServerId,
    account: &str,
    canonical: &[u8],
    ts: i64,
) -> Result<(), ApiError> {
    if req.method() == Method::GET {
        return Ok(());
    }
    let mut h = Sha256::new();
    h.update(account.as_bytes());
    h.update(b"\0");
    h.update(canonical);
    let digest = b64url(&h.finalize());
    // Remember it as long as its timestamp could still be accepted.
    match deps
        .store
        .remember_request(serverid, &digest, ts + MAX_SKEW_SECONDS + 60)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(ApiError::unauthorized(
            "replayed_request",
            "this signed request was already taken; sign the call again",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Authenticates a call of an enrolled account.
pub async fn authenticate(deps: &Deps, req: &Request) -> Result<Signed, ApiError> {
    let now = deps.clock.now();
    let (auth, canonical) = parse(req, now)?;
    let AccountRef::Id(accountid) = auth.account else {
        return Err(ApiError::unauthorized(
            "bad_signature",
            "account=new is only for POST /app/v1/enrol",
        ));
    };
    let (server, account) = deps
        .store
        .get_server_and_account(&auth.serverid, accountid)
        .await?;
    let (Some(server), Some(account)) = (server, account) else {
        return Err(ApiError::unauthorized(
            "unknown_account",
            "no such account on this server; enrol again",
        ));
    };
    signing::verify(&account.publickey, &canonical, &auth.sig)?;
    if account.blocked {
        return Err(ApiError::unauthorized(
            "account_blocked",
            "the website has blocked this account",
        ));
    }
    not_replayed(
        deps,
        req,
        &auth.serverid,
        &accountid.to_string(),
        &canonical,
        auth.ts,
    )
    .await?;
    Ok(Signed { server, account })
}
