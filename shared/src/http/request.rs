//! Reading what a request carries, the same way in Lambda and in the local stack.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::usercontext::RequestOrigin;

/// A header's value, `None` when absent or not visible ASCII (which no valid value is).
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether the header is present at all (to tell "missing" from "malformed").
pub fn has_header(req: &Request, name: &str) -> bool {
    req.headers().contains_key(name)
}

pub fn body(req: &Request) -> &[u8] {
    req.body().as_ref()
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
pub fn query(req: &Request) -> Result<Vec<(String, String)>, crate::error::ApiError> {
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
                    crate::error::ApiError::bad_request(
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

/// The path and query exactly as the client sent them (what a phone signs).
pub fn path_with_query(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string())
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
