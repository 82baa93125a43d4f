//! Which Lambda function serves which API Gateway route. `template.yaml` declares the same
//! routes; `infra/scripts/check-template.sh` compares the two (via `nsauth-admin routes`).

use lambda_http::http::Method;
use percent_encoding::percent_decode_str;

use crate::error::ApiError;

/// One Lambda function of the stack; its binary has this name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CreateSession,
    GetSession,
}

impl Function {
    pub const ALL: [Function; 2] = [Function::CreateSession, Function::GetSession];

    pub fn binary_name(self) -> &'static str {
        match self {
            Function::CreateSession => "create_session",
            Function::GetSession => "get_session",
        }
    }
}

/// One handler of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    CreateSession,
    GetSession,
}

#[derive(Debug)]
pub struct Route {
    pub method: Method,
    /// API Gateway route path with `{param}` segments.
    pub path: &'static str,
    pub handler: Handler,
    pub function: Function,
}

pub static ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: "/servers/{serverid}/sessions",
        handler: Handler::CreateSession,
        function: Function::CreateSession,
    },
    Route {
        method: Method::GET,
        path: "/servers/{serverid}/sessions",
        handler: Handler::GetSession,
        function: Function::GetSession,
    },
];

/// Path parameters of a matched route, percent-decoded.
#[derive(Debug, Default)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// The longest a path may be before it is refused unread (every id in it is bounded).
const MAX_PATH_LEN: usize = 1024;

fn match_path(template: &'static str, path: &str) -> Option<PathParams> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(PathParams(params)),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    let value = percent_decode_str(ps).decode_utf8().ok()?;
                    if value.is_empty() {
                        return None;
                    }
                    params.push((name, value.into_owned()));
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds the route for a request among those of one function (or all, in the local stack).
/// A trailing slash is ignored (SPEC section 4).
pub fn find<'r>(
    routes: impl Iterator<Item = &'r Route> + Clone,
    method: &Method,
    path: &str,
) -> Result<(&'r Route, PathParams), ApiError> {
    if path.len() > MAX_PATH_LEN {
        return Err(ApiError::NotFound("no such route".into()));
    }
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let mut allowed: Vec<&str> = Vec::new();
    for r in routes {
        if let Some(params) = match_path(r.path, path) {
            if r.method == method {
                return Ok((r, params));
            }
            allowed.push(r.method.as_str());
        }
    }
    if allowed.is_empty() {
        Err(ApiError::NotFound(format!(
            "no route for {path}; see the API documentation"
        )))
    } else {
        Err(ApiError::MethodNotAllowed {
            allow: allowed.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_with_params_and_trailing_slash() {
        let (r, p) = find(ROUTES.iter(), &Method::GET, "/servers/abc/sessions/").unwrap();
        assert_eq!(r.handler, Handler::GetSession);
        assert_eq!(p.get("serverid"), "abc");
        let (r, _) = find(ROUTES.iter(), &Method::POST, "/servers/abc/sessions").unwrap();
        assert_eq!(r.handler, Handler::CreateSession);
        let (_, p) = find(ROUTES.iter(), &Method::GET, "/servers/a%2Fb/sessions").unwrap();
        assert_eq!(p.get("serverid"), "a/b");
    }

    #[test]
    fn unknown_paths_and_methods() {
        let e = find(ROUTES.iter(), &Method::GET, "/servers/abc").unwrap_err();
        assert_eq!(e.code(), "not_found");
        let e = find(ROUTES.iter(), &Method::DELETE, "/servers/abc/sessions").unwrap_err();
        assert_eq!(e.code(), "method_not_allowed");
        assert!(e.to_string().contains("POST") && e.to_string().contains("GET"));
        assert!(find(ROUTES.iter(), &Method::GET, "/servers//sessions").is_err());
        assert!(find(ROUTES.iter(), &Method::GET, "/servers/%ff/sessions").is_err());
        assert!(find(ROUTES.iter(), &Method::GET, "//").is_err());
        assert!(find(ROUTES.iter(), &Method::GET, "").is_err());
        let only_create = ROUTES
            .iter()
            .filter(|r| r.function == Function::CreateSession);
        let e = find(only_create, &Method::GET, "/servers/abc/sessions").unwrap_err();
        assert_eq!(e.code(), "method_not_allowed");
    }
}
