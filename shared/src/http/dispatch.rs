use std::time::Instant;

use lambda_http::http::Response;
use lambda_http::{Body, Request};

use crate::deps::Deps;
use crate::error::{ApiError, MAX_BODY_BYTES};
use crate::http::handlers;
use crate::http::routes::{self, Function, Handler, ROUTES};

/// Routes a request to its handler and turns every outcome into a response. `function`
/// limits the routes to those of one Lambda function; the local stack passes `None`.
pub async fn dispatch(deps: &Deps, function: Option<Function>, req: Request) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let routes = ROUTES
        .iter()
        .filter(|r| function.is_none_or(|f| r.function == f));
    let found = match routes::find(routes, &method, req.uri().path()) {
        // A path served by other functions with other methods is a 405 with their methods,
        // as the local stack answers: this function also takes API Gateway's unmatched
        // requests (the `$default` route), so its error must describe the whole API.
        Err(ApiError::NotFound(_)) if function.is_some() => {
            match routes::find(ROUTES.iter(), &method, req.uri().path()) {
                Err(e @ ApiError::MethodNotAllowed { .. }) => Err(e),
                _ => Err(ApiError::NotFound(format!(
                    "no route for {}; see the API documentation",
                    req.uri().path()
                ))),
            }
        }
        other => other,
    };
    let route_path = found.as_ref().map(|(r, _)| r.path).unwrap_or("-");
    let result = match found {
        Err(e) => Err(e),
        Ok(_) if req.body().len() > MAX_BODY_BYTES => Err(ApiError::PayloadTooLarge),
        Ok((route, params)) => {
            use handlers::{accounts as a, block as b, phone as p, push as u, sessions as s};
            let (d, r) = (&params, &req);
            match route.handler {
                Handler::CreateSession => s::create_session(deps, d, r).await,
                Handler::GetSession => s::get_session(deps, d, r).await,
                Handler::SessionLogout => s::logout(deps, d, r).await,
                Handler::RegisterUser => s::register_user(deps, d, r).await,
                Handler::QrEnrol => s::qr_enrol(deps, d, r).await,
                Handler::GetAccount => a::get_account(deps, d, r).await,
                Handler::UpdateAccount => a::update_account_blocked(deps, d, r).await,
                Handler::DeleteAccount => a::delete_account(deps, d, r).await,
                Handler::UpdateAccountUser => a::update_account_user(deps, d, r).await,
                Handler::AccountSessions => a::account_sessions(deps, d, r).await,
                Handler::GetUser => a::get_user(deps, d, r).await,
                Handler::DeleteUser => a::delete_user(deps, d, r).await,
                Handler::PhoneEnrol => p::enrol(deps, d, r).await,
                Handler::PhoneShow => p::show(deps, d, r).await,
                Handler::PhoneApprove => p::approve(deps, d, r).await,
                Handler::PhoneDeny => p::deny(deps, d, r).await,
                Handler::PhoneLogout => p::logout(deps, d, r).await,
                Handler::PhoneSessions => p::list(deps, d, r).await,
                Handler::PhoneInApp => p::inapp(deps, d, r).await,
                Handler::PhonePush => p::push_token(deps, d, r).await,
                Handler::PhoneDeleteAccount => p::delete_account(deps, d, r).await,
                Handler::ProvokeLogin => u::provoke_login(deps, d, r).await,
                Handler::ProvokeLoginOnUser => u::provoke_login_on_user(deps, d, r).await,
                Handler::ProvokeLoginOnAccount => u::provoke_login_on_account(deps, d, r).await,
                Handler::QrLogin => b::qr_login(deps, d, r).await,
                Handler::HtmlLogin => b::html_login(deps, d, r).await,
                Handler::HtmlFooter => b::html_footer(deps, d, r).await,
                Handler::Status => b::status(deps, d, r).await,
                Handler::Asset => b::asset(deps, d, r).await,
            }
        }
    };
    let resp = result.unwrap_or_else(ApiError::into_response);
    // The path is logged only as its route template: ids in it stay out of the logs.
    tracing::info!(
        method = %method,
        route = route_path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

/// [`dispatch`] on its own task, so that a panic (a bug; none is known) still answers with
/// a JSON 500 instead of dropping the connection or the Lambda invocation.
pub async fn dispatch_guarded(
    deps: Deps,
    function: Option<Function>,
    req: Request,
) -> Response<Body> {
    match tokio::spawn(async move { dispatch(&deps, function, req).await }).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(panic = e.is_panic(), "handler task failed");
            ApiError::Internal.into_response()
        }
    }
}
