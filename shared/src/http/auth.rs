//! The X-apikey check of every website backend call (SPEC section 4).

use lambda_http::Request;

use crate::apikey::{ApiKey, ApiKeyRecord, Permission};
use crate::error::ApiError;
use crate::http::request::{has_header, header};
use crate::ids::ServerId;
use crate::server::Server;

/// A key that is syntactically ours, for a server id that is syntactically valid.
pub struct Presented {
    pub serverid: ServerId,
    pub key: ApiKey,
}

const WRONG: &str = "the X-apikey is not valid for this server; check the key and the server id";

/// Checks the shapes of the server id and the key before anything is read: a malformed
/// one gets the same 401 as an unknown one.
pub fn presented(req: &Request, serverid: &str) -> Result<Presented, ApiError> {
    if !has_header(req, "x-apikey") {
        return Err(ApiError::InvalidApiKey(
            "the X-apikey header is missing; send the server's API key in it",
        ));
    }
    let key = header(req, "x-apikey")
        .and_then(ApiKey::parse)
        .ok_or(ApiError::InvalidApiKey(WRONG))?;
    let serverid = ServerId::parse(serverid).ok_or(ApiError::InvalidApiKey(WRONG))?;
    Ok(Presented { serverid, key })
}

/// Decides on what the store returned for the presented key.
pub fn verify(
    presented: &Presented,
    server: Option<Server>,
    record: Option<ApiKeyRecord>,
    needs: Permission,
) -> Result<Server, ApiError> {
    let (Some(server), Some(record)) = (server, record) else {
        return Err(ApiError::InvalidApiKey(WRONG));
    };
    if !presented.key.matches(&record.hash) || record.serverid != presented.serverid {
        return Err(ApiError::InvalidApiKey(WRONG));
    }
    if record.revoked.is_some() {
        return Err(ApiError::InvalidApiKey(
            "this API key has been revoked; ask the server's admin for a new one",
        ));
    }
    if !record.allows(needs) {
        return Err(ApiError::MissingPermission(needs));
    }
    Ok(server)
}
