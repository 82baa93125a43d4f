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
use crate::service::management::{self, AttributeCall, AttributeOp};
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
    let changes = ServerChanges::parse(body(req))?;
    json(
        StatusCode::OK,
        &servers::create(deps, &creds, &changes).await?,
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

/// What an attribute route's method, body and `{attributekey}` ask for. The body is read
/// before the key is checked, so that a bad one is a 400 whatever the key (no store read is
/// spent on it).
fn attribute_op(params: &PathParams, req: &Request) -> Result<AttributeOp, ApiError> {
    let name = params.get("attributekey");
    Ok(match *req.method() {
        Method::GET => AttributeOp::Read,
        Method::DELETE if name.is_empty() => AttributeOp::Clear,
        Method::DELETE => {
            attributes::validate_name(name)?;
            AttributeOp::Change(AttributeChange::Remove(name.to_string()))
        }
        Method::POST => {
            AttributeOp::Change(AttributeChange::Set(attributes::parse_body(body(req))?))
        }
        _ => AttributeOp::Change(AttributeChange::Update(attributes::parse_body(body(req))?)),
    })
}

/// The attributes a call answers: the object as `text/plain` for a read (v2.2 types it so),
/// JSON after a change.
fn render_attributes(
    read: bool,
    values: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Response<Body>, ApiError> {
    if read {
        json_as_text(values)
    } else {
        json(StatusCode::OK, values)
    }
}

/// `/attributes` and `/attributes/{attributekey}`: GET, POST (set), PUT (update), DELETE.
pub async fn global_attributes(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let op = attribute_op(params, req)?;
    let read = op == AttributeOp::Read;
    let key = key_credentials(req)?;
    let values = management::attribute_call(deps, AttributeCall::Global(&key), op).await?;
    render_attributes(read, &values)
}

/// `/servers/{serverid}/attributes` and `.../{attributekey}`.
pub async fn server_attributes(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let op = attribute_op(params, req)?;
    let read = op == AttributeOp::Read;
    let call = website_call(req, params)?;
    let values =
        management::attribute_call(deps, AttributeCall::Server(&call.credentials), op).await?;
    render_attributes(read, &values)
}

/// `/servers/{serverid}/privilegedattributes` and `.../{attributekey}`.
pub async fn privileged_attributes(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let op = attribute_op(params, req)?;
    let read = op == AttributeOp::Read;
    let call = website_call(req, params)?;
    let values =
        management::attribute_call(deps, AttributeCall::Privileged(&call.credentials), op).await?;
    render_attributes(read, &values)
}

/// `/servers/{serverid}/users/{userid}/attributes` and `.../{attributekey}`.
pub async fn user_attributes(
    deps: &Deps,
    params: &PathParams,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let op = attribute_op(params, req)?;
    let read = op == AttributeOp::Read;
    let call = website_call(req, params)?;
    let userid = validate_userid("userid", params.get("userid"))?;
    let values =
        management::attribute_call(deps, AttributeCall::User(&call.credentials, &userid), op)
            .await?;
    render_attributes(read, &values)
}
