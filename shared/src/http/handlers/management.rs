//! The v2.2 management calls: servers, API keys, permissions, user roles, attributes and
//! the visual hash (docs/integration.md, "Managing servers, keys and attributes").

use lambda_http::http::{Method, Response, StatusCode};
use lambda_http::{Body, Request};
use serde_json::json;

use crate::account::validate_userid;
use crate::apikey::Permission;
use crate::attributes::{self, AttributeChange};
use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::request::{
    PathParams, api_base, body, key_credentials, query, query_param, website_call,
};
use crate::http::response::{bytes, json, json_as_text};
use crate::role::parse_roleid;
use crate::service::management::{self, AttributeAccess, AttributeCall};
use crate::service::servers::{self, ServerChanges};

/// `GET /servers?limit=&marker=`
pub async fn get_servers(
    deps: &Deps,
    _: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let creds = key_credentials(req)?;
    let q = query(req)?;
    let limit = number(&q, "limit", 1)?;
    let marker = number(&q, "marker", 0)?;
    json(
        StatusCode::OK,
        &servers::list(deps, &creds, limit, marker).await?,
    )
}

/// A non-negative whole number of the query, at least `min`.
fn number(q: &[(String, String)], name: &str, min: usize) -> Result<Option<usize>, ApiError> {
    query_param(q, name)
        .filter(|v| !v.is_empty())
        .map(|v| match v.parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            // More digits than a usize holds: as large as it gets (clamped by the listing).
            Err(_) if v.bytes().all(|c| c.is_ascii_digit()) => Ok(usize::MAX),
            _ => Err(ApiError::invalid_field(
                name,
                format!("must be a whole number of at least {min}"),
            )),
        })
        .transpose()
}

/// `POST /servers` with a Server body.
pub async fn create_server(
    deps: &Deps,
    _: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let creds = key_credentials(req)?;
    let changes = ServerChanges::parse(body(req));
    json(
        StatusCode::OK,
        &servers::create(deps, &creds, &changes?).await?,
    )
}

/// `GET /servers/{serverid}`
pub async fn get_server(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    json(
        StatusCode::OK,
        &servers::get(deps, &call.credentials).await?,
    )
}

/// `PUT /servers/{serverid}` with a Server body.
pub async fn update_server(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let changes = ServerChanges::parse(body(req))?;
    json(
        StatusCode::OK,
        &servers::update(deps, &call.credentials, &changes).await?,
    )
}

/// `GET /servers/{serverid}/vash`: the server's visual hash, a PNG.
pub async fn server_vash(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let base = api_base(req, deps.config.api_base.as_deref());
    let png = servers::vash(deps, &call.credentials, &base).await?;
    Ok(bytes("application/octet-stream", png))
}

/// `GET /apikeys`
pub async fn get_api_keys(
    deps: &Deps,
    _: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let creds = key_credentials(req)?;
    json(StatusCode::OK, &management::api_keys(deps, &creds).await?)
}

/// `POST /apikeys?description=`
pub async fn create_api_key(
    deps: &Deps,
    _: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let creds = key_credentials(req)?;
    let q = query(req)?;
    let description = query_param(&q, "description")
        .unwrap_or("")
        .trim()
        .to_string();
    crate::account::validate_text("description", &description, 200)?;
    json(
        StatusCode::OK,
        &management::create_api_key(deps, &creds, description).await?,
    )
}

/// `DELETE /apikeys/{roleid}` (our addition): revokes a key.
pub async fn revoke_api_key(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let creds = key_credentials(req)?;
    let roleid = parse_roleid("roleid", params.get("roleid"))?;
    management::revoke_api_key(deps, &creds, &roleid).await?;
    json(StatusCode::OK, &json!({ "revoked": roleid }))
}

/// `GET /servers/{serverid}/permissions` and `.../permissions/{roleid}`
pub async fn get_permissions(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let roleid = match params.get("roleid") {
        "" => None,
        r => Some(parse_roleid("roleid", r)?),
    };
    json(
        StatusCode::OK,
        &management::permissions(deps, &call, roleid.as_deref()).await?,
    )
}

/// `POST /servers/{serverid}/permissions/{roleid}` with a JSON array of permission names.
pub async fn grant_permissions(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let roleid = parse_roleid("roleid", params.get("roleid"))?;
    let names: Vec<String> = serde_json::from_slice(body(req)).map_err(|_| {
        ApiError::bad_request(
            "invalid_json",
            "the body must be a JSON array of permission names, e.g. [\"sessions\",\"users\"]",
        )
    })?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let acl = Permission::parse_list("permissions", names, &Permission::SERVER)?;
    json(
        StatusCode::OK,
        &management::grant_permissions(deps, &call, &roleid, acl).await?,
    )
}

/// `DELETE /servers/{serverid}/permissions/{roleid}`
pub async fn revoke_permissions(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let roleid = parse_roleid("roleid", params.get("roleid"))?;
    management::revoke_permissions(deps, &call, &roleid).await?;
    json(StatusCode::OK, &json!({ "revoked": roleid }))
}

/// `GET` (getUserRole) and `POST` (getOrCreateUserRole) `/servers/{serverid}/users/{userid}/role`
pub async fn user_role(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let call = website_call(req, params)?;
    let userid = validate_userid("userid", params.get("userid"))?;
    let create = req.method() == Method::POST;
    let role = management::user_role(deps, &call, &userid, create).await?;
    json(StatusCode::OK, &json!({ "role": role }))
}

/// Every attribute route: `/attributes`, `/servers/{serverid}/attributes`,
/// `.../privilegedattributes`, `.../users/{userid}/attributes`, each with an optional
/// `/{attributekey}` for DELETE. GET answers the object (as text/plain, as v2.2 types it);
/// POST sets, PUT updates, DELETE removes all or one; changes answer the attributes after.
pub async fn attributes(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().clone();
    let name = match params.get("attributekey") {
        "" => None,
        n => {
            attributes::validate_name(n)?;
            Some(n.to_string())
        }
    };
    // The body is read before the key is checked so that a bad one is a 400 whatever
    // the key (no store read is spent on it).
    let change = match (&method, &name) {
        (&Method::GET, _) => None,
        (&Method::DELETE, Some(n)) => Some(AttributeChange::Remove(n.clone())),
        (&Method::DELETE, None) => None,
        (&Method::POST, _) => Some(AttributeChange::Set(attributes::parse_body(body(req))?)),
        (&Method::PUT, _) => Some(AttributeChange::Update(attributes::parse_body(body(req))?)),
        _ => {
            return Err(ApiError::MethodNotAllowed {
                allow: "GET, POST, PUT, DELETE".into(),
            });
        }
    };
    let access = match (&method, params.get("userid")) {
        (&Method::GET, _) => AttributeAccess::Read,
        (&Method::POST, u) if !u.is_empty() => AttributeAccess::Create,
        _ => AttributeAccess::Write,
    };
    let key;
    let call;
    let userid;
    let target = if params.get("serverid").is_empty() {
        key = key_credentials(req)?;
        AttributeCall::Global(&key)
    } else {
        call = website_call(req, params)?;
        if !params.get("userid").is_empty() {
            userid = validate_userid("userid", params.get("userid"))?;
            AttributeCall::User(&call.credentials, &userid)
        } else if req.uri().path().contains("/privilegedattributes") {
            AttributeCall::Privileged(&call.credentials)
        } else {
            AttributeCall::Server(&call.credentials)
        }
    };
    let scope = management::attribute_scope(deps, target, access).await?;
    match (change, method) {
        (None, Method::GET) => json_as_text(&management::attributes(deps, &scope).await?),
        (None, _) => {
            deps.attributes.delete_attributes(&scope).await?;
            json(StatusCode::OK, &json!({}))
        }
        (Some(change), _) => json(
            StatusCode::OK,
            &management::change_attributes(deps, &scope, &change).await?,
        ),
    }
}
