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
use crate::store::DynamoStore;

pub async fn run(function: Function) -> Result<(), lambda_http::Error> {
    // JSON when Lambda's log format is JSON (the template sets it), text otherwise.
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let deps = Deps {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            config.table.clone(),
        )),
        push: Arc::new(SnsPush::new(
            aws_sdk_sns::Client::new(&aws),
            PlatformApps::from_env(),
        )),
        clock: Arc::new(SystemClock),
        config: Arc::new(config),
    };
    lambda_http::run(service_fn(move |req: Request| {
        let deps = deps.clone();
        async move { Ok::<_, Infallible>(dispatch_guarded(deps, Some(function), req).await) }
    }))
    .await
}
