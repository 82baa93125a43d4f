//! The route table: every route of the HTTP API once, with the Lambda function that serves
//! it and its handler, one table per function so that each function's binary links only its
//! own handlers. Dispatch is the table (find the route, call its handler); the
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
    accounts as a, block as b, management as m, phone as p, push as u, sessions as s,
    transactions as t,
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
    Management,
}

impl Function {
    pub const ALL: [Function; 8] = [
        Function::CreateSession,
        Function::GetSession,
        Function::WebsiteSessions,
        Function::AccountAdmin,
        Function::PhoneApi,
        Function::PushLogin,
        Function::LoginBlock,
        Function::Management,
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
            Function::Management => "management",
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

/// One route: where it is and the handler that serves it.
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

/// A route without its handler: what answers 404 and 405 need to know of the whole API.
/// A function's binary holds all of these but only its own [`Route`]s, so that it links
/// only the handlers (and through them the services) it serves.
#[derive(Debug)]
pub struct RoutePath {
    pub method: Method,
    pub path: &'static str,
    pub function: Function,
}

/// What [`find`] matches on.
pub trait Located {
    fn method(&self) -> &Method;
    fn path(&self) -> &'static str;
}

impl Located for Route {
    fn method(&self) -> &Method {
        &self.method
    }
    fn path(&self) -> &'static str {
        self.path
    }
}

impl Located for RoutePath {
    fn method(&self) -> &Method {
        &self.method
    }
    fn path(&self) -> &'static str {
        self.path
    }
}

/// The routes of one Lambda function. A function's `main` names its own static (e.g.
/// [`GET_SESSION`]), never [`Function::routes`], which reaches every table.
#[derive(Debug)]
pub struct FunctionRoutes {
    pub function: Function,
    pub routes: &'static [Route],
}

/// Declares each function's route table and [`PATHS`] from one list, so the two cannot
/// disagree.
macro_rules! tables {
    ($( $table:ident = $function:ident [ $( $method:ident $path:literal => $handler:path; )* ] )*) => {
        $(
            pub static $table: FunctionRoutes = FunctionRoutes {
                function: Function::$function,
                routes: &[ $( Route {
                    method: Method::$method,
                    path: $path,
                    function: Function::$function,
                    handler: handler!($handler),
                } ),* ],
            };
        )*

        /// Every route of the API, without handlers.
        pub static PATHS: &[RoutePath] = &[ $( $( RoutePath {
            method: Method::$method,
            path: $path,
            function: Function::$function,
        } ),* ),* ];

        impl Function {
            /// The function's route table. Reaches every table: for the local stack, tests
            /// and tools, not for a function's `main`.
            pub fn routes(self) -> &'static FunctionRoutes {
                match self { $( Function::$function => &$table ),* }
            }
        }
    };
}

tables! {
    CREATE_SESSION = CreateSession [
        POST "/servers/{serverid}/sessions" => s::create_session;
    ]
    GET_SESSION = GetSession [
        GET "/servers/{serverid}/sessions" => s::get_session;
    ]
    WEBSITE_SESSIONS = WebsiteSessions [
        POST "/servers/{serverid}/sessions/logout" => s::logout;
        POST "/servers/{serverid}/sessions/registeruser" => s::register_user;
        GET "/servers/{serverid}/sessions/qr/enrol" => s::qr_enrol;
        GET "/servers/{serverid}/sessions/html/enrol" => b::html_enrol;
        GET "/servers/{serverid}/transactions/{transactionid}" => t::transaction_result;
    ]
    ACCOUNT_ADMIN = AccountAdmin [
        GET "/servers/{serverid}/accounts/{accountid}" => a::get_account;
        PUT "/servers/{serverid}/accounts/{accountid}" => a::update_account;
        DELETE "/servers/{serverid}/accounts/{accountid}" => a::delete_account;
        PUT "/servers/{serverid}/accounts/{accountid}/user" => a::update_account_user;
        GET "/servers/{serverid}/accounts/{accountid}/sessions" => a::account_sessions;
        GET "/servers/{serverid}/accounts" => a::all_accounts;
        GET "/servers/{serverid}/users" => a::users;
        GET "/servers/{serverid}/users/{userid}" => a::get_user;
        GET "/servers/{serverid}/users/{userid}/accounts" => a::get_user;
        DELETE "/servers/{serverid}/users/{userid}" => a::delete_user;
        DELETE "/servers/{serverid}/users/{userid}/accounts" => a::delete_user_accounts;
    ]
    PUSH_LOGIN = PushLogin [
        POST "/servers/{serverid}/sessions/transactions" => t::create_transaction;
        POST "/servers/{serverid}/sessions/provokelogin" => u::provoke_login;
        POST "/servers/{serverid}/users/{userid}/provokelogin" => u::provoke_login_on_user;
        POST "/servers/{serverid}/accounts/{accountid}/provokelogin" => u::provoke_login_on_account;
    ]
    LOGIN_BLOCK = LoginBlock [
        GET "/servers/{serverid}/sessions/qr/login" => b::qr_login;
        POST "/servers/{serverid}/sessions/qr/login" => b::qr_login;
        GET "/servers/{serverid}/sessions/html/login" => b::html_login;
        POST "/servers/{serverid}/sessions/html/login" => b::html_login;
        GET "/servers/{serverid}/sessions/html/footer" => b::html_footer;
        POST "/servers/{serverid}/sessions/html/footer" => b::html_footer;
        GET "/servers/{serverid}/sessions/livetoken" => b::live_token;
        GET "/status/{serverid}/{hsid}" => b::status;
        GET "/assets/{name}" => b::asset;
    ]
    PHONE_API = PhoneApi [
        POST "/app/v1/enrol" => p::enrol;
        GET "/app/v1/sessions" => p::list;
        GET "/app/v1/sessions/{hsid}" => p::show;
        POST "/app/v1/sessions/{hsid}/approve" => p::approve;
        POST "/app/v1/sessions/{hsid}/deny" => p::deny;
        POST "/app/v1/sessions/{hsid}/logout" => p::logout;
        POST "/app/v1/inapp" => p::inapp;
        PUT "/app/v1/push" => p::push_token;
        GET "/app/v1/pushes" => p::pushes;
        POST "/app/v1/transfer" => p::transfer;
        DELETE "/app/v1/account" => p::delete_account;
        GET "/app/v1/transactions/{tid}" => p::show_transaction;
        POST "/app/v1/transactions/{tid}/approve" => p::approve_transaction;
        POST "/app/v1/transactions/{tid}/decline" => p::decline_transaction;
    ]
    MANAGEMENT = Management [
        GET "/servers" => m::get_servers;
        POST "/servers" => m::create_server;
        GET "/servers/{serverid}" => m::get_server;
        PUT "/servers/{serverid}" => m::update_server;
        GET "/servers/{serverid}/vash" => m::server_vash;
        GET "/apikeys" => m::get_api_keys;
        POST "/apikeys" => m::create_api_key;
        DELETE "/apikeys/{roleid}" => m::revoke_api_key;
        GET "/servers/{serverid}/permissions" => m::get_permissions;
        GET "/servers/{serverid}/permissions/{roleid}" => m::get_permissions;
        POST "/servers/{serverid}/permissions/{roleid}" => m::grant_permissions;
        DELETE "/servers/{serverid}/permissions/{roleid}" => m::revoke_permissions;
        GET "/servers/{serverid}/users/{userid}/role" => m::user_role;
        POST "/servers/{serverid}/users/{userid}/role" => m::user_role;
        GET "/attributes" => m::global_attributes;
        POST "/attributes" => m::global_attributes;
        PUT "/attributes" => m::global_attributes;
        DELETE "/attributes" => m::global_attributes;
        DELETE "/attributes/{attributekey}" => m::global_attributes;
        GET "/servers/{serverid}/attributes" => m::server_attributes;
        POST "/servers/{serverid}/attributes" => m::server_attributes;
        PUT "/servers/{serverid}/attributes" => m::server_attributes;
        DELETE "/servers/{serverid}/attributes" => m::server_attributes;
        DELETE "/servers/{serverid}/attributes/{attributekey}" => m::server_attributes;
        GET "/servers/{serverid}/privilegedattributes" => m::privileged_attributes;
        POST "/servers/{serverid}/privilegedattributes" => m::privileged_attributes;
        PUT "/servers/{serverid}/privilegedattributes" => m::privileged_attributes;
        DELETE "/servers/{serverid}/privilegedattributes" => m::privileged_attributes;
        DELETE "/servers/{serverid}/privilegedattributes/{attributekey}" => m::privileged_attributes;
        GET "/servers/{serverid}/users/{userid}/attributes" => m::user_attributes;
        POST "/servers/{serverid}/users/{userid}/attributes" => m::user_attributes;
        PUT "/servers/{serverid}/users/{userid}/attributes" => m::user_attributes;
        DELETE "/servers/{serverid}/users/{userid}/attributes" => m::user_attributes;
        DELETE "/servers/{serverid}/users/{userid}/attributes/{attributekey}" => m::user_attributes;
    ]
}

/// Every route with its handler, function by function: the local stack serves them all.
pub fn all_routes() -> impl Iterator<Item = &'static Route> + Clone {
    Function::ALL.iter().flat_map(|f| f.routes().routes.iter())
}

/// The routes a dispatcher serves. A type rather than a value, so that a function's binary,
/// which dispatches over its own [`FunctionRoutes`], holds no path to the other handlers.
pub trait Served: Copy + Send + Sync + 'static {
    fn routes(self) -> impl Iterator<Item = &'static Route>;
}

impl Served for &'static FunctionRoutes {
    fn routes(self) -> impl Iterator<Item = &'static Route> {
        self.routes.iter()
    }
}

/// The whole API (the local stack).
#[derive(Debug, Clone, Copy)]
pub struct AllRoutes;

impl Served for AllRoutes {
    fn routes(self) -> impl Iterator<Item = &'static Route> {
        all_routes()
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

/// Finds the route for a request among those given (one function's, all, or [`PATHS`]).
/// A trailing slash is ignored (SPEC section 4).
pub fn find<'r, R: Located + 'r>(
    routes: impl Iterator<Item = &'r R>,
    method: &Method,
    path: &str,
) -> Result<(&'r R, PathParams), ApiError> {
    if path.len() > MAX_PATH_LEN {
        return Err(ApiError::NotFound("no such route".into()));
    }
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let mut allowed: Vec<&str> = Vec::new();
    for r in routes {
        if let Some(params) = match_path(r.path(), path) {
            if r.method() == method {
                return Ok((r, params));
            }
            allowed.push(r.method().as_str());
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
        for r in all_routes() {
            assert!(seen.insert((r.method.as_str(), r.path)), "{r:?} twice");
            assert!(r.path.starts_with('/') && !r.path.ends_with('/'), "{r:?}");
        }
        let paths: std::collections::BTreeSet<_> = PATHS
            .iter()
            .map(|r| (r.method.as_str(), r.path, r.function.binary_name()))
            .collect();
        let routes: std::collections::BTreeSet<_> = all_routes()
            .map(|r| (r.method.as_str(), r.path, r.function.binary_name()))
            .collect();
        assert_eq!(paths, routes);
        assert_eq!(PATHS.len(), routes.len());
    }

    #[test]
    fn a_function_table_holds_only_its_own_routes() {
        for f in Function::ALL {
            let table = f.routes();
            assert_eq!(table.function, f);
            assert!(!table.routes.is_empty(), "{f:?} has no routes");
            assert!(table.routes.iter().all(|r| r.function == f), "{f:?}");
        }
    }

    #[test]
    fn matches_with_params_and_trailing_slash() {
        let (r, p) = find(all_routes(), &Method::GET, "/servers/abc/sessions/").unwrap();
        assert_eq!(
            (&r.method, r.function),
            (&Method::GET, Function::GetSession)
        );
        assert_eq!(p.get("serverid"), "abc");
        let (r, _) = find(all_routes(), &Method::POST, "/servers/abc/sessions").unwrap();
        assert_eq!(r.function, Function::CreateSession);
        let (_, p) = find(all_routes(), &Method::GET, "/servers/a%2Fb/sessions").unwrap();
        assert_eq!(p.get("serverid"), "a/b");
    }

    #[test]
    fn unknown_paths_and_methods() {
        let e = find(all_routes(), &Method::GET, "/servers/abc/nope").unwrap_err();
        assert_eq!(e.code(), "not_found");
        let e = find(all_routes(), &Method::DELETE, "/servers/abc/sessions").unwrap_err();
        assert_eq!(e.code(), "method_not_allowed");
        assert!(e.to_string().contains("POST") && e.to_string().contains("GET"));
        assert!(find(all_routes(), &Method::GET, "/servers//sessions").is_err());
        assert!(find(all_routes(), &Method::GET, "/servers/%ff/sessions").is_err());
        assert!(find(all_routes(), &Method::GET, "//").is_err());
        assert!(find(all_routes(), &Method::GET, "").is_err());
        let e = find(
            CREATE_SESSION.routes.iter(),
            &Method::GET,
            "/servers/abc/sessions",
        )
        .unwrap_err();
        assert_eq!(e.code(), "method_not_allowed");
    }
}
