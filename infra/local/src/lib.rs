//! The local stack: serves the API Gateway paths on loopback by handing each request to
//! the very handlers the Lambda functions run (`nsauth::http::dispatch_guarded`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use nsauth::Deps;
use nsauth::error::ApiError;
use nsauth::http::routes::AllRoutes;
use nsauth::http::{MAX_BODY_BYTES, dispatch_guarded, error};
use nsauth::push::LocalPush;
use tokio::net::TcpListener;

pub mod demo;
pub mod guard;
pub mod site;
pub mod ws;

/// Turns a hyper request into what `lambda_http` hands a Lambda handler behind an HTTP
/// API: the same method, URI, headers and body, and the caller's address as `sourceIp`.
pub fn to_lambda_request(
    parts: hyper::http::request::Parts,
    body: Bytes,
    remote: SocketAddr,
) -> lambda_http::Request {
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    let mut parts = parts;
    // API Gateway tells the function the scheme the client used; locally it is http.
    parts
        .headers
        .entry("x-forwarded-proto")
        .or_insert(hyper::http::HeaderValue::from_static("http"));
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.http.method = parts.method.clone();
    ctx.http.path = Some(parts.uri.path().to_string());
    ctx.http.source_ip = Some(source_ip(&parts.headers, remote).to_string());
    ctx.stage = Some("$default".into());
    lambda_http::Request::from_parts(parts, body)
        .with_request_context(RequestContext::ApiGatewayV2(ctx))
}

/// The header a caller on this machine may send to stand for another address: the phone
/// simulator's "on another network" switch and the proximity tests use it. Only loopback
/// callers are believed; behind API Gateway `sourceIp` is the connection's and no header
/// changes it.
pub const LOCAL_SOURCE_IP_HEADER: &str = "x-nsauth-local-source-ip";

fn source_ip(headers: &hyper::http::HeaderMap, remote: SocketAddr) -> std::net::IpAddr {
    headers
        .get(LOCAL_SOURCE_IP_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .filter(|_| remote.ip().is_loopback())
        .unwrap_or(remote.ip())
}

fn to_hyper_response(resp: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// What only the local stack serves, beside the API Gateway paths.
#[derive(Clone, Default)]
pub struct Local {
    /// The push outbox (`GET /local/outbox?token=`): pushes never leave the machine.
    pub push: Option<Arc<LocalPush>>,
    /// The native WebSocket endpoint (`/ws`), when the store feeds changes.
    pub ws: Option<ws::LocalConnections>,
    /// The demo pages (`/`, `/demo`, `/phone`, `/admin`).
    pub demo: Option<site::DemoSite>,
    /// Timeouts and caps on connections ([`guard::Limits`]).
    pub limits: guard::Limits,
}

/// Reads a request body: at most `max` bytes, within `timeout`. An error is the refusal to
/// send (413, 408 or 400, in JSON).
pub(crate) async fn read_body(
    body: Incoming,
    max: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, hyper::Response<Full<Bytes>>> {
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Err(_) => Err(guard::body_timeout()),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(to_hyper_response(error::response(
                ApiError::PayloadTooLarge,
            )))
        }
        Ok(Err(_)) => Err(to_hyper_response(error::response(ApiError::bad_request(
            "bad_body",
            "the request body could not be read",
        )))),
    }
}

fn outbox(local: &Local, query: Option<&str>) -> hyper::Response<Full<Bytes>> {
    let Some(push) = &local.push else {
        return to_hyper_response(error::response(ApiError::NotFound(
            "this local stack has no push outbox".into(),
        )));
    };
    let token = query
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("token="))
        .and_then(|t| percent_encoding::percent_decode_str(t).decode_utf8().ok())
        .map(|t| t.into_owned())
        .filter(|t| !t.is_empty());
    // A device reads its own pushes, by its push token: never everyone's.
    let Some(token) = token else {
        return to_hyper_response(error::response(ApiError::invalid_field(
            "token",
            "the device's push token is required: /local/outbox?token=...",
        )));
    };
    let messages = push.outbox_for(&token);
    let body = serde_json::json!({ "messages": messages }).to_string();
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Handles one HTTP request: reads at most 64 KiB + 1 of body (API Gateway would accept
/// more, but the handlers refuse it anyway), then dispatches.
pub async fn handle(
    deps: Deps,
    local: Local,
    req: hyper::Request<Incoming>,
    remote: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path();
    let local_only = path.starts_with("/local/")
        || local.demo.is_some() && site::serves(path)
        || local.ws.is_some() && ws::is_upgrade(&req);
    if local_only
        && !site::local_host(
            req.headers()
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok()),
        )
    {
        // DNS rebinding: a page of another site whose name now points here.
        return to_hyper_response(error::response(ApiError::not_found(
            "the local pages answer only to a Host of this machine (127.0.0.1, localhost, [::1])",
        )));
    }
    if path == "/local/outbox" && req.method() == hyper::Method::GET {
        return outbox(&local, req.uri().query());
    }
    if let Some(conns) = &local.ws
        && ws::is_upgrade(&req)
    {
        return ws::upgrade(deps, conns.clone(), req);
    }
    if let Some(demo) = &local.demo
        && site::serves(req.uri().path())
    {
        return site::handle(&deps, demo, req, remote, local.limits.body_timeout).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, MAX_BODY_BYTES + 1, local.limits.body_timeout).await {
        Ok(b) => b,
        Err(refusal) => return refusal,
    };
    let req = to_lambda_request(parts, bytes, remote);
    to_hyper_response(dispatch_guarded(deps, AllRoutes, req).await)
}

/// How often the local stack writes down the logins `session_lifetime` ended (AWS: every
/// minute, on a schedule).
pub const LIFETIME_RUN_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes down the logins `session_lifetime` ended, every `every`, until the task is
/// dropped or aborted (`nsauth::service::lifetimes`; the store's change feed then carries
/// the LOGOUT to the page).
pub async fn end_lifetimes(deps: Deps, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = nsauth::service::lifetimes::end_due(&deps, deps.clock.now()).await {
            tracing::warn!(error = %e, "ending logins by their lifetime failed; next run retries");
        }
    }
}

/// Serves until the task is dropped or aborted, within `local.limits`: at most
/// `max_connections` open at once (beyond it the next connection waits to be accepted),
/// each with its head, body and idle timeouts.
pub async fn serve(listener: TcpListener, deps: Deps, local: Local) {
    let limits = local.limits;
    let places = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head_bytes);
    loop {
        // A place first: at the cap, connections wait in the listen queue, and the ones
        // open are served as before.
        let Ok(place) = places.clone().acquire_owned().await else {
            return;
        };
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors, say: wait for some to close rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let deps = deps.clone();
        let local = local.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let shared = Arc::new(guard::Shared::default());
            let socket = guard::Guarded::new(stream, limits.idle_timeout, shared.clone(), place);
            let on_upgrade = shared.clone();
            let svc = service_fn(move |req| {
                let deps = deps.clone();
                let local = local.clone();
                let on_upgrade = on_upgrade.clone();
                async move {
                    let resp = handle(deps, local, req, remote).await;
                    if resp.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                        on_upgrade
                            .upgraded
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            // The connection (and so hyper's hold on the socket) ends with this statement.
            let ended = http
                .serve_connection(TokioIo::new(socket), svc)
                .with_upgrades()
                .await;
            if let Err(e) = ended {
                if e.is_timeout() {
                    shared.answer_header_timeout().await;
                }
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
