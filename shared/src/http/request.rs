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
