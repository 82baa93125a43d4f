//! Reading what a request carries, the same way in Lambda and in the local stack: headers,
//! query, body, and the typed inputs the services take.

use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::de::DeserializeOwned;

use crate::account::{MAX_DESCRIPTION_CHARS, validate_text, validate_userid};
use crate::apikey::{Credentials, KeyCredentials};
use crate::error::ApiError;
use crate::ids::Nonce;
use crate::service::accounts::PageRequest;
use crate::service::phone::SignedCall;
use crate::service::sessions::EnrolLinkRequest;
use crate::service::website::{SessionCall, WebsiteCall};
use crate::signing::{self, AuthHeader};
use crate::usercontext::{RequestOrigin, UserContext};

/// Path parameters of a matched route, percent-decoded.
#[derive(Debug, Default)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    pub fn new(params: Vec<(&'static str, String)>) -> Self {
        PathParams(params)
    }

    /// A parameter's value; empty when the route has no such parameter.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// A header's value, `None` when absent or not visible ASCII (which no valid value is).
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A header that must be read even when malformed: `None` when absent, empty when present
/// but not visible ASCII (so that it is reported as invalid, not as missing).
fn header_or_empty<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    header(req, name).or_else(|| req.headers().contains_key(name).then_some(""))
}

pub fn body(req: &Request) -> &[u8] {
    req.body().as_ref()
}

/// An empty body, or a JSON `null` (what some v2.2 clients send for "no body"), is no body.
pub fn no_body(b: &[u8]) -> bool {
    let t = b.trim_ascii();
    t.is_empty() || t == b"null"
}

/// Where the request came from: API Gateway's source IP (the local stack fills the same
/// field from the socket) and the User-Agent header.
pub fn origin(req: &Request) -> RequestOrigin {
    let ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    };
    RequestOrigin {
        ip,
        useragent: header(req, "user-agent").map(String::from),
    }
}

/// The query string's parameters, percent-decoded (`+` is a space). A parameter given
/// twice keeps its first value; bytes that are not UTF-8 make the whole query invalid.
pub fn query(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    let Some(q) = req.uri().query() else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_query",
                        "the query string is not valid percent-encoded UTF-8",
                    )
                })
        };
        let (k, v) = (dec(k)?, dec(v)?);
        if !out.iter().any(|(ok, _)| *ok == k) {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// One query parameter.
pub fn query_param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The `userid` query parameter a call needs.
pub fn required_userid(q: &[(String, String)]) -> Result<String, ApiError> {
    validate_userid(
        "userid",
        query_param(q, "userid").ok_or_else(|| ApiError::invalid_field("userid", "is required"))?,
    )
}

/// The path and query exactly as the client sent them (what a phone signs).
pub fn path_with_query(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string())
}

/// The host the request was sent to (its `Host` header; API Gateway passes the API's domain
/// on), as a phone signs it.
pub fn host(req: &Request) -> &str {
    header(req, "host")
        .or(req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// The public base URL of this API for links: configured, or from the request's Host and
/// X-Forwarded-Proto (API Gateway sets both; the local stack too).
pub fn api_base(req: &Request, configured: Option<&str>) -> String {
    if let Some(b) = configured {
        return b.to_string();
    }
    let proto = match header(req, "x-forwarded-proto") {
        Some("http") => "http",
        _ => "https",
    };
    let host = header(req, "host")
        .or(req.uri().authority().map(|a| a.as_str()))
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 253
                && h.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b".-:[]".contains(&c))
        })
        .unwrap_or("localhost");
    format!("{proto}://{host}/")
}

/// A website backend call: the `X-apikey` and the path's server id, checked for shape.
pub fn website_call(req: &Request, params: &PathParams) -> Result<WebsiteCall, ApiError> {
    Ok(WebsiteCall {
        credentials: Credentials::parse(
            header_or_empty(req, "x-apikey"),
            params.get("serverid"),
            header_or_empty(req, "x-su"),
        )?,
        origin: origin(req),
    })
}

/// A management call on no server (`/apikeys/`, `/attributes/`, `/servers/`): the
/// `X-apikey` and `X-su`, checked for shape.
pub fn key_credentials(req: &Request) -> Result<KeyCredentials, ApiError> {
    KeyCredentials::parse(
        header_or_empty(req, "x-apikey"),
        header_or_empty(req, "x-su"),
    )
}

/// A website backend call on a session: [`website_call`] and the `X-nonce`.
pub fn session_call(req: &Request, params: &PathParams) -> Result<SessionCall, ApiError> {
    let WebsiteCall {
        credentials,
        origin,
    } = website_call(req, params)?;
    Ok(SessionCall {
        credentials,
        nonce: Nonce::parse(header_or_empty(req, "x-nonce"))?,
        origin,
    })
}

/// A phone's signed call: the `Authorization` header and the bytes its signature must
/// cover (the service checks its timestamp, with the signature).
pub fn signed_call(req: &Request) -> Result<SignedCall, ApiError> {
    let header = AuthHeader::parse(header(req, "authorization"))?;
    let canonical = signing::canonical_bytes(&signing::Canonical {
        method: req.method().as_str(),
        host: host(req),
        path_with_query: &path_with_query(req),
        serverid: &header.serverid,
        account: header.account,
        ts: header.ts,
        body: body(req),
    });
    Ok(SignedCall {
        header,
        canonical,
        changes_state: req.method() != Method::GET,
        ip: origin(req).ip,
    })
}

/// The UserContext of a body (an empty body is an empty one), with ip and useragent filled
/// from the request where the caller left them out.
pub fn user_context(req: &Request) -> Result<UserContext, ApiError> {
    let mut ctx = if no_body(body(req)) {
        UserContext::default()
    } else {
        UserContext::from_body(body(req))?
    };
    ctx.fill_from(&origin(req));
    Ok(ctx)
}

/// The UserContext of a call whose body is optional (push calls, getQrLogin, getHtmlLogin):
/// `None` without a body, which keeps the session's.
pub fn optional_user_context(req: &Request) -> Result<Option<UserContext>, ApiError> {
    if no_body(body(req)) {
        return Ok(None);
    }
    user_context(req).map(Some)
}

/// A JSON object body of the phone API (`what` describes it in the error); an empty body is
/// the default one.
pub fn json_object<T: DeserializeOwned + Default>(
    req: &Request,
    what: &str,
) -> Result<T, ApiError> {
    let b = body(req);
    if no_body(b) {
        return Ok(T::default());
    }
    let v: serde_json::Value = serde_json::from_slice(b).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body must be {what}: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "invalid_json",
            format!("the body must be {what}"),
        ));
    }
    // serde would fill a nested struct (enrol's `push`) from an array by position; only an
    // object is meant. Unknown fields stay ignored, whatever they hold.
    if v.get("push")
        .is_some_and(|p| !p.is_object() && !p.is_null())
    {
        return Err(ApiError::invalid_field(
            "push",
            "must be a JSON object or null",
        ));
    }
    serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the body must be {what}: {e}")))
}

/// `limit` and `cursor` of a listing's query.
pub fn page(req: &Request) -> Result<PageRequest, ApiError> {
    let q = query(req)?;
    PageRequest::parse(query_param(&q, "limit"), query_param(&q, "cursor"))
}

/// getQrEnrol's and getHtmlEnrol's query: `userid` (optional), `name` (the account's
/// description), `img` and `s`.
pub fn enrol_link_request(q: &[(String, String)]) -> Result<EnrolLinkRequest, ApiError> {
    let image = crate::qr::image_params(query_param(q, "img"), query_param(q, "s"))?;
    let userid = query_param(q, "userid")
        .filter(|u| !u.is_empty())
        .map(|u| validate_userid("userid", u))
        .transpose()?;
    let name = query_param(q, "name").unwrap_or("").trim().to_string();
    validate_text("name", &name, MAX_DESCRIPTION_CHARS)?;
    Ok(EnrolLinkRequest {
        userid,
        name,
        image,
    })
}
