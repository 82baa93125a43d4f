//! Routes a request to its handler (the route table holds it), within a time budget, and
//! turns every outcome into a response.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_http::http::Response;
use lambda_http::{Body, Request, RequestExt};

use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::routes::{self, PATHS, Served};
use crate::http::{MAX_BODY_BYTES, error};

/// Routes a request to its handler and turns every outcome into a response. `served` is
/// one Lambda function's table (`routes::GET_SESSION`, ...) or, in the local stack,
/// `routes::AllRoutes`.
pub async fn dispatch(deps: &Deps, served: impl Served, req: Request) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let found = match routes::find(served.routes(), &method, req.uri().path()) {
        // A path served by other functions with other methods is a 405 with their methods,
        // as the local stack answers: this function also takes API Gateway's unmatched
        // requests (the `$default` route), so its error must describe the whole API.
        Err(ApiError::NotFound(_)) => match routes::find(PATHS.iter(), &method, req.uri().path()) {
            Err(e @ ApiError::MethodNotAllowed { .. }) => Err(e),
            _ => Err(ApiError::NotFound(format!(
                "no route for {}; see the API documentation",
                req.uri().path()
            ))),
        },
        other => other,
    };
    let route_path = found.as_ref().map(|(r, _)| r.path).unwrap_or("-");
    let result = match found {
        Err(e) => Err(e),
        Ok(_) if req.body().len() > MAX_BODY_BYTES => Err(ApiError::PayloadTooLarge),
        Ok((route, params)) => (route.handler)(deps, &params, &req).await,
    };
    let resp = result.unwrap_or_else(error::response);
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

/// How long a request may take where no Lambda deadline says (the local stack): below API
/// Gateway's 30 s integration limit, so a caller always gets our JSON answer.
const LOCAL_BUDGET: Duration = Duration::from_secs(25);
/// Kept free before the Lambda deadline to send the answer and its log line.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// The least budget given, even to an invocation that starts late.
const MIN_BUDGET: Duration = Duration::from_millis(200);

/// [`dispatch`] on its own task, with a time budget: a panic (a bug; none is known) still
/// answers with a JSON 500, and a request that would outlive its Lambda invocation (a
/// dependency that stopped answering) answers 503 `service_unavailable` in time, instead
/// of dropping the connection or leaving API Gateway to answer with a bare error. A
/// request cut off mid-way is no worse than Lambda's own timeout: every state change is
/// one conditional write, so stored data stays consistent.
pub async fn dispatch_guarded(deps: Deps, served: impl Served, req: Request) -> Response<Body> {
    let budget = request_budget(&req, SystemTime::now());
    let mut task = tokio::spawn(async move { dispatch(&deps, served, req).await });
    match tokio::time::timeout(budget, &mut task).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            tracing::error!(panic = e.is_panic(), "handler task failed");
            error::response(ApiError::Internal)
        }
        Err(_) => {
            task.abort();
            tracing::error!(
                budget_ms = budget.as_millis() as u64,
                "request exceeded its time budget"
            );
            error::response(ApiError::Unavailable)
        }
    }
}

/// The Lambda deadline of the invocation (less a margin), or [`LOCAL_BUDGET`] outside
/// Lambda.
fn request_budget(req: &Request, now: SystemTime) -> Duration {
    let deadline_ms = req
        .lambda_context_ref()
        .map(|ctx| ctx.deadline)
        .filter(|&d| d > 0);
    let Some(deadline_ms) = deadline_ms else {
        return LOCAL_BUDGET;
    };
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        .saturating_sub(DEADLINE_MARGIN)
        .max(MIN_BUDGET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::lambda_runtime::Context;

    fn request_with_deadline(deadline_ms: Option<u64>) -> Request {
        let req = lambda_http::http::Request::builder()
            .uri("/")
            .body(Body::Empty)
            .unwrap();
        match deadline_ms {
            Some(d) => {
                let mut ctx = Context::default();
                ctx.deadline = d;
                req.with_lambda_context(ctx)
            }
            None => req,
        }
    }

    #[test]
    fn budget_ends_before_the_lambda_deadline() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        let in_ten_s = request_with_deadline(Some(1_010_000));
        assert_eq!(request_budget(&in_ten_s, now), Duration::from_millis(9_500));
        // Started after the deadline (or just before it): still a short chance to answer.
        let late = request_with_deadline(Some(999_000));
        assert_eq!(request_budget(&late, now), MIN_BUDGET);
        let close = request_with_deadline(Some(1_000_300));
        assert_eq!(request_budget(&close, now), MIN_BUDGET);
    }

    #[test]
    fn budget_outside_lambda_is_the_local_one() {
        let now = SystemTime::now();
        assert_eq!(
            request_budget(&request_with_deadline(None), now),
            LOCAL_BUDGET
        );
        // A context without a deadline (0) is not a deadline in 1970.
        assert_eq!(
            request_budget(&request_with_deadline(Some(0)), now),
            LOCAL_BUDGET
        );
    }
}
