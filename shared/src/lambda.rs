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

/// Whether an invocation is the EventBridge schedule's (`source` `aws.events`,
/// `detail-type` `Scheduled Event`) rather than a batch of the table's stream.
pub fn is_scheduled(event: &serde_json::Value) -> bool {
    event.get("source").and_then(serde_json::Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(serde_json::Value::as_str) == Some("Scheduled Event")
}

/// The `notifier` function: on the table's stream, and every minute on a schedule that
/// writes down the logins `session_lifetime` ended (`service::lifetimes`; their LOGOUT and
/// logout event then come through the stream like any other).
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
                if is_scheduled(&event.payload) {
                    // A run that fails is an error of the invocation (the function's errors
                    // alarm); the next run, a minute later, looks at the missed minutes too.
                    let ended = crate::service::lifetimes::end_due(&deps, deps.clock.now()).await?;
                    if ended.failed > 0 {
                        return Err(format!(
                            "{} of {} logins due could not be ended",
                            ended.failed, ended.listed
                        )
                        .into());
                    }
                    return Ok(serde_json::json!({ "listed": ended.listed, "ended": ended.ended }));
                }
                let resp =
                    notifier::handle(&deps, conns.as_ref(), sink.as_ref(), event.payload).await;
                Ok::<_, lambda_http::Error>(serde_json::to_value(resp)?)
            }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::is_scheduled;

    #[test]
    fn a_schedule_is_told_from_a_stream_batch() {
        let scheduled = serde_json::json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-10-08T16:53:06Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/ends"], "detail": {}
        });
        assert!(is_scheduled(&scheduled));
        let batch = serde_json::json!({ "Records": [{ "eventSource": "aws:dynamodb" }] });
        assert!(!is_scheduled(&batch));
        assert!(!is_scheduled(
            &serde_json::json!({ "source": "aws.events" })
        ));
    }
}
