//! What every function's `main` does: build the SDK client once, then serve invocations.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::clock::SystemClock;
use crate::config::Config;
use crate::deps::Deps;
use crate::http::dispatch_guarded;
use crate::http::routes::Function;
use crate::push::{PlatformApps, SnsPush};
use crate::service::sweeps::ByStream;
use crate::store::DynamoStore;

pub async fn run(function: Function) -> Result<(), lambda_http::Error> {
    // JSON when Lambda's log format is JSON (the template sets it), text otherwise.
    lambda_http::tracing::init_default_subscriber();
    let aws = crate::aws::sdk_config().await;
    let deps = deps_from(&aws, Config::from_env()?);
    lambda_http::run(service_fn(move |req: Request| {
        let deps = deps.clone();
        async move { Ok::<_, Infallible>(dispatch_guarded(deps, Some(function), req).await) }
    }))
    .await
}

fn deps_from(aws: &aws_config::SdkConfig, config: Config) -> Deps {
    Deps::new(
        Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(aws),
            config.table.clone(),
        )),
        Arc::new(SnsPush::new(
            aws_sdk_sns::Client::new(aws),
            PlatformApps::from_env(),
        )),
        Arc::new(SystemClock),
        Arc::new(config),
    )
    // The table's stream runs account sweeps through the notifier.
    .with_sweeps(Arc::new(ByStream))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The `websocket` function: `$connect`, `$default` (frames) and `$disconnect` of the
/// WebSocket API. Replies go through the Management API of the calling API and stage.
pub async fn run_websocket() -> Result<(), lambda_http::Error> {
    use lambda_http::request::RequestContext;
    use lambda_http::{Body, RequestExt, Response};

    use crate::live::connections::ManagementApi;
    use crate::live::websocket;

    lambda_http::tracing::init_default_subscriber();
    let aws = crate::aws::sdk_config().await;
    let deps = deps_from(&aws, Config::from_env()?);
    let fixed_endpoint = env("NSAUTH_WS_ENDPOINT");
    let aws = Arc::new(aws);
    lambda_http::run(service_fn(move |req: Request| {
        let deps = deps.clone();
        let aws = aws.clone();
        let fixed_endpoint = fixed_endpoint.clone();
        async move {
            let status = |code: u16| {
                let mut r = Response::new(Body::Empty);
                *r.status_mut() = lambda_http::http::StatusCode::from_u16(code)
                    .unwrap_or(lambda_http::http::StatusCode::OK);
                Ok::<_, Infallible>(r)
            };
            let Some(RequestContext::WebSocket(ctx)) = req.request_context_ref().cloned() else {
                return status(400);
            };
            let conn = ctx.connection_id.clone().unwrap_or_default();
            match ctx.route_key.as_deref() {
                Some("$connect") => {}
                Some("$disconnect") => websocket::on_disconnect(&deps, &conn).await,
                _ => {
                    let endpoint = fixed_endpoint.unwrap_or_else(|| {
                        format!(
                            "https://{}/{}",
                            ctx.domain_name.clone().unwrap_or_default(),
                            ctx.stage.clone().unwrap_or_default()
                        )
                    });
                    let text = String::from_utf8_lossy(req.body().as_ref()).into_owned();
                    // Its own task: a bug in one frame's handling cannot take the function down.
                    let task = tokio::spawn(async move {
                        let conns = ManagementApi::new(&aws, &endpoint);
                        websocket::on_frame(&deps, &conns, &conn, &text).await;
                    });
                    if let Err(e) = task.await {
                        tracing::error!(panic = e.is_panic(), "frame handling failed");
                    }
                }
            }
            status(200)
        }
    }))
    .await
}

/// The `notifier` function on the table's stream.
pub async fn run_notifier() -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};

    use crate::live::connections::ManagementApi;
    use crate::live::events::{EventSink, LogEvents, SnsEvents};
    use crate::live::notifier;

    lambda_http::tracing::init_default_subscriber();
    let aws = crate::aws::sdk_config().await;
    let deps = deps_from(&aws, Config::from_env()?);
    let endpoint = env("NSAUTH_WS_ENDPOINT").ok_or("NSAUTH_WS_ENDPOINT is not set")?;
    let conns = Arc::new(ManagementApi::new(&aws, &endpoint));
    let sink: Arc<dyn EventSink> = match env("NSAUTH_EVENTS_TOPIC") {
        Some(topic_arn) => Arc::new(SnsEvents {
            client: aws_sdk_sns::Client::new(&aws),
            topic_arn,
        }),
        None => Arc::new(LogEvents),
    };
    lambda_runtime::run(lambda_runtime::service_fn(
        // The payload as JSON: the notifier decodes each record on its own, so that one
        // malformed record does not make the runtime refuse the whole batch.
        move |event: LambdaEvent<serde_json::Value>| {
            let deps = deps.clone();
            let conns = conns.clone();
            let sink = sink.clone();
            async move {
                Ok::<_, lambda_http::Error>(
                    notifier::handle(&deps, conns.as_ref(), sink.as_ref(), event.payload).await,
                )
            }
        },
    ))
    .await
}
