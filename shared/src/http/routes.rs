//! The route table: every route of the HTTP API once, with the Lambda function that serves
//! it and its handler. Dispatch is the table (find the route, call its handler); the
//! template's events, the `cargo lambda watch` router and docs/openapi.yaml are checked
//! against it (`nsauth-admin routes` prints it; infra/scripts/check_template.py and
//! openapi_check.py compare).

use std::future::Future;
use std::pin::Pin;

use lambda_http::http::{Method, Response};
use lambda_http::{Body, Request};
use percent_encoding::percent_decode_str;

use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::handlers::{
    accounts as a, block as b, phone as p, push as u, sessions as s, transactions as t,
};
use crate::http::request::PathParams;

/// One Lambda function of the stack; its binary has this name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CreateSession,
    GetSession,
    WebsiteSessions,
    AccountAdmin,
    PhoneApi,
    PushLogin,
    LoginBlock,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::CreateSession,
        Function::GetSession,
        Function::WebsiteSessions,
        Function::AccountAdmin,
        Function::PhoneApi,
        Function::PushLogin,
        Function::LoginBlock,
    ];

    /// Whether a route of the function can reach the push service (create, delete or
    /// publish to an endpoint). The others are built without the SNS client
    /// (`lambda::start`), and their roles have no SNS permission.
    pub fn pushes(self) -> bool {
        matches!(
            self,
            Function::AccountAdmin | Function::PhoneApi | Function::PushLogin
        )
    }

    pub fn binary_name(self) -> &'static str {
        match self {
            Function::CreateSession => "create_session",
            Function::GetSession => "get_session",
            Function::WebsiteSessions => "website_sessions",
            Function::AccountAdmin => "account_admin",
            Function::PhoneApi => "phone_api",
            Function::PushLogin => "push_login",
            Function::LoginBlock => "login_block",
        }
    }
}

/// What a handler answers: a response, or an error that `http::error` renders.
pub type Answer<'a> = Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send + 'a>>;

/// A handler as the table holds it.
pub type Handler = for<'a> fn(&'a Deps, &'a PathParams, &'a Request) -> Answer<'a>;

/// Turns an `async fn(&Deps, &PathParams, &Request)` into a [`Handler`].
macro_rules! handler {
    ($f:path) => {{
        fn call<'a>(d: &'a Deps, p: &'a PathParams, r: &'a Request) -> Answer<'a> {
            Box::pin($f(d, p, r))
        }
        call as Handler
    }};
}

pub struct Route {
    pub method: Method,
    /// API Gateway route path with `{param}` segments.
    pub path: &'static str,
    pub function: Function,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({:?})", self.method, self.path, self.function)
    }
}

const fn route(method: Method, path: &'static str, function: Function, handler: Handler) -> Route {
    Route {
        method,
        path,
        function,
        handler,
    }
}

use Function as F;
use Method as M;

#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    route(M::POST, "/servers/{serverid}/sessions", F::CreateSession, handler!(s::create_session)),
    route(M::GET, "/servers/{serverid}/sessions", F::GetSession, handler!(s::get_session)),
    route(M::POST, "/servers/{serverid}/sessions/logout", F::WebsiteSessions, handler!(s::logout)),
    route(M::POST, "/servers/{serverid}/sessions/registeruser", F::WebsiteSessions, handler!(s::register_user)),
    route(M::GET, "/servers/{serverid}/sessions/qr/enrol", F::WebsiteSessions, handler!(s::qr_enrol)),
    route(M::GET, "/servers/{serverid}/accounts/{accountid}", F::AccountAdmin, handler!(a::get_account)),
    route(M::PUT, "/servers/{serverid}/accounts/{accountid}", F::AccountAdmin, handler!(a::update_account)),
    route(M::DELETE, "/servers/{serverid}/accounts/{accountid}", F::AccountAdmin, handler!(a::delete_account)),
    route(M::PUT, "/servers/{serverid}/accounts/{accountid}/user", F::AccountAdmin, handler!(a::update_account_user)),
    route(M::GET, "/servers/{serverid}/accounts/{accountid}/sessions", F::AccountAdmin, handler!(a::account_sessions)),
    route(M::GET, "/servers/{serverid}/accounts", F::AccountAdmin, handler!(a::all_accounts)),
    route(M::GET, "/servers/{serverid}/users", F::AccountAdmin, handler!(a::users)),
    route(M::GET, "/servers/{serverid}/users/{userid}", F::AccountAdmin, handler!(a::get_user)),
    route(M::GET, "/servers/{serverid}/users/{userid}/accounts", F::AccountAdmin, handler!(a::get_user)),
    route(M::DELETE, "/servers/{serverid}/users/{userid}", F::AccountAdmin, handler!(a::delete_user)),
    route(M::DELETE, "/servers/{serverid}/users/{userid}/accounts", F::AccountAdmin, handler!(a::delete_user_accounts)),
    route(M::POST, "/servers/{serverid}/sessions/transactions", F::PushLogin, handler!(t::create_transaction)),
    route(M::GET, "/servers/{serverid}/transactions/{transactionid}", F::WebsiteSessions, handler!(t::transaction_result)),
    route(M::POST, "/servers/{serverid}/sessions/provokelogin", F::PushLogin, handler!(u::provoke_login)),
    route(M::POST, "/servers/{serverid}/users/{userid}/provokelogin", F::PushLogin, handler!(u::provoke_login_on_user)),
    route(M::POST, "/servers/{serverid}/accounts/{accountid}/provokelogin", F::PushLogin, handler!(u::provoke_login_on_account)),
    route(M::GET, "/servers/{serverid}/sessions/qr/login", F::LoginBlock, handler!(b::qr_login)),
    route(M::POST, "/servers/{serverid}/sessions/qr/login", F::LoginBlock, handler!(b::qr_login)),
    route(M::GET, "/servers/{serverid}/sessions/html/login", F::LoginBlock, handler!(b::html_login)),
    route(M::POST, "/servers/{serverid}/sessions/html/login", F::LoginBlock, handler!(b::html_login)),
    route(M::GET, "/servers/{serverid}/sessions/html/footer", F::LoginBlock, handler!(b::html_footer)),
    route(M::POST, "/servers/{serverid}/sessions/html/footer", F::LoginBlock, handler!(b::html_footer)),
    route(M::GET, "/servers/{serverid}/sessions/html/enrol", F::WebsiteSessions, handler!(b::html_enrol)),
    route(M::GET, "/servers/{serverid}/sessions/livetoken", F::LoginBlock, handler!(b::live_token)),
    route(M::GET, "/status/{serverid}/{hsid}", F::LoginBlock, handler!(b::status)),
    route(M::GET, "/assets/{name}", F::LoginBlock, handler!(b::asset)),
    route(M::POST, "/app/v1/enrol", F::PhoneApi, handler!(p::enrol)),
    route(M::GET, "/app/v1/sessions", F::PhoneApi, handler!(p::list)),
    route(M::GET, "/app/v1/sessions/{hsid}", F::PhoneApi, handler!(p::show)),
    route(M::POST, "/app/v1/sessions/{hsid}/approve", F::PhoneApi, handler!(p::approve)),
    route(M::POST, "/app/v1/sessions/{hsid}/deny", F::PhoneApi, handler!(p::deny)),
    route(M::POST, "/app/v1/sessions/{hsid}/logout", F::PhoneApi, handler!(p::logout)),
    route(M::POST, "/app/v1/inapp", F::PhoneApi, handler!(p::inapp)),
    route(M::PUT, "/app/v1/push", F::PhoneApi, handler!(p::push_token)),
    route(M::DELETE, "/app/v1/account", F::PhoneApi, handler!(p::delete_account)),
    route(M::GET, "/app/v1/transactions/{tid}", F::PhoneApi, handler!(p::show_transaction)),
    route(M::POST, "/app/v1/transactions/{tid}/approve", F::PhoneApi, handler!(p::approve_transaction)),
    route(M::POST, "/app/v1/transactions/{tid}/decline", F::PhoneApi, handler!(p::decline_transaction)),
];

/// The longest a path may be before it is refused unread (every id in it is bounded).
const MAX_PATH_LEN: usize = 1024;

fn match_path(template: &'static str, path: &str) -> Option<PathParams> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(PathParams::new(params)),
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
    fn each_route_once() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method.as_str(), r.path)), "{r:?} twice");
            assert!(r.path.starts_with('/') && !r.path.ends_with('/'), "{r:?}");
        }
    }

    #[test]
    fn matches_with_params_and_trailing_slash() {
        let (r, p) = find(ROUTES.iter(), &Method::GET, "/servers/abc/sessions/").unwrap();
        assert_eq!(
            (&r.method, r.function),
            (&Method::GET, Function::GetSession)
        );
        assert_eq!(p.get("serverid"), "abc");
        let (r, _) = find(ROUTES.iter(), &Method::POST, "/servers/abc/sessions").unwrap();
        assert_eq!(r.function, Function::CreateSession);
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
