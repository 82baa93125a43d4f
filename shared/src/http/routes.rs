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

/// One handler of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    CreateSession,
    GetSession,
    SessionLogout,
    RegisterUser,
    QrEnrol,
    GetAccount,
    UpdateAccount,
    DeleteAccount,
    UpdateAccountUser,
    AccountSessions,
    GetUser,
    DeleteUser,
    PhoneEnrol,
    PhoneShow,
    PhoneApprove,
    PhoneDeny,
    PhoneLogout,
    PhoneSessions,
    PhoneInApp,
    PhonePush,
    PhoneDeleteAccount,
    ProvokeLogin,
    ProvokeLoginOnUser,
    ProvokeLoginOnAccount,
    QrLogin,
    HtmlLogin,
    HtmlFooter,
    Status,
    Asset,
}

#[derive(Debug)]
pub struct Route {
    pub method: Method,
    /// API Gateway route path with `{param}` segments.
    pub path: &'static str,
    pub handler: Handler,
    pub function: Function,
}

const fn route(method: Method, path: &'static str, handler: Handler, function: Function) -> Route {
    Route {
        method,
        path,
        handler,
        function,
    }
}

use Function as F;
use Handler as H;

#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    route(Method::POST, "/servers/{serverid}/sessions", H::CreateSession, F::CreateSession),
    route(Method::GET, "/servers/{serverid}/sessions", H::GetSession, F::GetSession),
    route(Method::POST, "/servers/{serverid}/sessions/logout", H::SessionLogout, F::WebsiteSessions),
    route(Method::POST, "/servers/{serverid}/sessions/registeruser", H::RegisterUser, F::WebsiteSessions),
    route(Method::GET, "/servers/{serverid}/sessions/qr/enrol", H::QrEnrol, F::WebsiteSessions),
    route(Method::GET, "/servers/{serverid}/accounts/{accountid}", H::GetAccount, F::AccountAdmin),
    route(Method::PUT, "/servers/{serverid}/accounts/{accountid}", H::UpdateAccount, F::AccountAdmin),
    route(Method::DELETE, "/servers/{serverid}/accounts/{accountid}", H::DeleteAccount, F::AccountAdmin),
    route(Method::PUT, "/servers/{serverid}/accounts/{accountid}/user", H::UpdateAccountUser, F::AccountAdmin),
    route(Method::GET, "/servers/{serverid}/accounts/{accountid}/sessions", H::AccountSessions, F::AccountAdmin),
    route(Method::GET, "/servers/{serverid}/users/{userid}", H::GetUser, F::AccountAdmin),
    route(Method::DELETE, "/servers/{serverid}/users/{userid}", H::DeleteUser, F::AccountAdmin),
    route(Method::POST, "/servers/{serverid}/sessions/provokelogin", H::ProvokeLogin, F::PushLogin),
    route(Method::POST, "/servers/{serverid}/users/{userid}/provokelogin", H::ProvokeLoginOnUser, F::PushLogin),
    route(Method::POST, "/servers/{serverid}/accounts/{accountid}/provokelogin", H::ProvokeLoginOnAccount, F::PushLogin),
    route(Method::GET, "/servers/{serverid}/sessions/qr/login", H::QrLogin, F::LoginBlock),
    route(Method::POST, "/servers/{serverid}/sessions/qr/login", H::QrLogin, F::LoginBlock),
    route(Method::GET, "/servers/{serverid}/sessions/html/login", H::HtmlLogin, F::LoginBlock),
    route(Method::POST, "/servers/{serverid}/sessions/html/login", H::HtmlLogin, F::LoginBlock),
    route(Method::GET, "/servers/{serverid}/sessions/html/footer", H::HtmlFooter, F::LoginBlock),
    route(Method::GET, "/status/{serverid}/{hsid}", H::Status, F::LoginBlock),
    route(Method::GET, "/assets/{name}", H::Asset, F::LoginBlock),
    route(Method::POST, "/app/v1/enrol", H::PhoneEnrol, F::PhoneApi),
    route(Method::GET, "/app/v1/sessions", H::PhoneSessions, F::PhoneApi),
    route(Method::GET, "/app/v1/sessions/{hsid}", H::PhoneShow, F::PhoneApi),
    route(Method::POST, "/app/v1/sessions/{hsid}/approve", H::PhoneApprove, F::PhoneApi),
    route(Method::POST, "/app/v1/sessions/{hsid}/deny", H::PhoneDeny, F::PhoneApi),
    route(Method::POST, "/app/v1/sessions/{hsid}/logout", H::PhoneLogout, F::PhoneApi),
    route(Method::POST, "/app/v1/inapp", H::PhoneInApp, F::PhoneApi),
    route(Method::PUT, "/app/v1/push", H::PhonePush, F::PhoneApi),
    route(Method::DELETE, "/app/v1/account", H::PhoneDeleteAccount, F::PhoneApi),
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
