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
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use nsauth::Deps;
use nsauth::error::ApiError;
use nsauth::http::{MAX_BODY_BYTES, dispatch_guarded, error};
use nsauth::push::LocalPush;
use tokio::net::TcpListener;

pub mod demo;
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
    ctx.http.source_ip = Some(remote.ip().to_string());
    ctx.stage = Some("$default".into());
    lambda_http::Request::from_parts(parts, body)
        .with_request_context(RequestContext::ApiGatewayV2(ctx))
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
        return site::handle(&deps, demo, req, remote).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_BODY_BYTES + 1).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return to_hyper_response(error::response(ApiError::PayloadTooLarge));
        }
        Err(_) => {
            return to_hyper_response(error::response(ApiError::bad_request(
                "bad_body",
                "the request body could not be read",
            )));
        }
    };
    let req = to_lambda_request(parts, bytes, remote);
    to_hyper_response(dispatch_guarded(deps, None, req).await)
}

/// Serves until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, deps: Deps, local: Local) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let deps = deps.clone();
        let local = local.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let deps = deps.clone();
                let local = local.clone();
                async move { Ok::<_, Infallible>(handle(deps, local, req, remote).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
