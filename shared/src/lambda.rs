//! What every function's `main` does: trust roots from one CA bundle file, the SDK clients
//! built once with their connections opened during init, then serve invocations.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::clock::SystemClock;
use crate::config::Config;
use crate::deps::Deps;
use crate::geoip::GeoIp;
use crate::http::dispatch_guarded;
use crate::http::routes::FunctionRoutes;
use crate::push::{NoPush, PlatformApps, PushSender, SnsPush};
use crate::service::sweeps::ByStream;
use crate::store::DynamoStore;

/// Where Linux distributions keep the one file of all trusted CAs: Amazon Linux 2023 (the
/// `provided.al2023` runtime), Debian and Ubuntu, Alpine.
const CA_BUNDLES: [&str; 3] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

/// Points the TLS stack at the one CA bundle file. Without it, the SDK's root loader
/// (rustls-native-certs) parses that file and then every file of the certificate directory
/// again: milliseconds of cold start. A deployment that sets `SSL_CERT_FILE` or
/// `SSL_CERT_DIR` itself keeps its choice.
fn use_one_ca_bundle() {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        return;
    }
    if let Some(file) = CA_BUNDLES
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    {
        // SAFETY: called by `start` before the runtime exists, while this is the process's
        // only thread, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("SSL_CERT_FILE", file) };
    }
}

/// The runtime every function runs on, built after [`use_one_ca_bundle`].
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// A function's whole `main`: an HTTP function whose routes push
/// (`Function::pushes`): it links the SNS client. `routes` is the function's own table
/// (`routes::PHONE_API`, ...): the binary links only the handlers it names.
pub fn start(routes: &'static FunctionRoutes) -> Result<(), lambda_http::Error> {
    use_one_ca_bundle();
    runtime()?.block_on(run(routes))
}

/// A function's whole `main`: an HTTP function none of whose routes push. Its binary does
/// not link the SNS client (nothing it calls names it).
pub fn start_without_push(routes: &'static FunctionRoutes) -> Result<(), lambda_http::Error> {
    use_one_ca_bundle();
    runtime()?.block_on(run_without_push(routes))
}

/// The `websocket` function's `main`.
pub fn start_websocket() -> Result<(), lambda_http::Error> {
    use_one_ca_bundle();
    runtime()?.block_on(run_websocket())
}

/// The `notifier` function's `main`.
pub fn start_notifier() -> Result<(), lambda_http::Error> {
    use_one_ca_bundle();
    runtime()?.block_on(run_notifier())
}

/// How long init waits for the connections it opens ahead: a healthy region answers in
/// milliseconds; on an outage init goes on and the first request connects as before.
const PREWARM_BUDGET: std::time::Duration = std::time::Duration::from_millis(1500);

/// Opens the connections the first request would otherwise open (TCP and TLS, and the
/// trust roots loaded), during init, which Lambda runs with a full CPU: one cheap read of an
/// item that does not exist, and (`push`) one SNS call. Their answers, errors included, are
/// ignored: the connection is made all the same.
async fn prewarm(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    push: impl std::future::Future<Output = ()>,
) {
    use aws_sdk_dynamodb::types::AttributeValue;
    // Off only to measure init without it (make bench).
    if env("NSAUTH_PREWARM").as_deref() == Some("off") {
        return;
    }
    let read = async {
        let _ = dynamodb
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S("SERVER#-".into()))
            .key("sk", AttributeValue::S("SERVER".into()))
            .send()
            .await;
    };
    let _ = tokio::time::timeout(PREWARM_BUDGET, async { tokio::join!(read, push) }).await;
}

/// Opens the SNS connection of a function that pushes: one read of a platform application
/// (the role allows it for this), if the deployment has one.
async fn prewarm_sns(sns: &aws_sdk_sns::Client) {
    let apps = PlatformApps::from_env();
    let arn = [apps.fcm, apps.apns, apps.apns_sandbox]
        .into_iter()
        .flatten()
        .next();
    if let Some(arn) = arn {
        let _ = sns
            .get_platform_application_attributes()
            .platform_application_arn(arn)
            .send()
            .await;
    }
}

/// The dependencies of a function. The clients handed in are the ones [`prewarm`] used:
/// clones share one connection pool.
fn deps_from(
    dynamodb: aws_sdk_dynamodb::Client,
    push: Arc<dyn PushSender>,
    config: Config,
    geoip: Option<GeoIp>,
) -> Deps {
    Deps::new(
        Arc::new(DynamoStore::new(dynamodb, config.table.clone())),
        push,
        Arc::new(SystemClock),
        Arc::new(config),
    )
    // The table's stream runs account sweeps through the notifier.
    .with_sweeps(Arc::new(ByStream))
    .with_geoip(geoip.map(Arc::new))
}

/// The dependencies of a function with the push service, its connections opened
/// (`warm_sns`: the SNS one too).
async fn deps_with_push(
    aws: &aws_config::SdkConfig,
    config: Config,
    geoip: Option<GeoIp>,
    warm_sns: bool,
) -> Deps {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let sns = aws_sdk_sns::Client::new(aws);
    let push = async {
        if warm_sns {
            prewarm_sns(&sns).await;
        }
    };
    prewarm(&dynamodb, &config.table, push).await;
    let push = Arc::new(SnsPush::new(sns, PlatformApps::from_env()));
    deps_from(dynamodb, push, config, geoip)
}

async fn serve_http(routes: &'static FunctionRoutes, deps: Deps) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |req: Request| {
        let deps = deps.clone();
        async move { Ok::<_, Infallible>(dispatch_guarded(deps, routes, req).await) }
    }))
    .await
}

pub async fn run(routes: &'static FunctionRoutes) -> Result<(), lambda_http::Error> {
    // JSON when Lambda's log format is JSON (the template sets it), text otherwise.
    lambda_http::tracing::init_default_subscriber();
    let aws = crate::aws::sdk_config().await;
    let deps = deps_with_push(
        &aws,
        Config::from_env()?,
        GeoIp::from_env()?,
        routes.function.pushes(),
    )
    .await;
    serve_http(routes, deps).await
}

pub async fn run_without_push(routes: &'static FunctionRoutes) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    if routes.function.pushes() {
        return Err(format!(
            "{} pushes: its main must call nsauth::lambda::start",
            routes.function.binary_name()
        )
        .into());
    }
    let aws = crate::aws::sdk_config().await;
    let config = Config::from_env()?;
    let geoip = GeoIp::from_env()?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    prewarm(&dynamodb, &config.table, async {}).await;
    serve_http(routes, deps_from(dynamodb, Arc::new(NoPush), config, geoip)).await
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
    let deps = deps_with_push(&aws, Config::from_env()?, None, false).await;
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
    let deps = deps_with_push(&aws, Config::from_env()?, None, false).await;
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
