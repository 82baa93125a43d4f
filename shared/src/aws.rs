//! The AWS SDK configuration of every function and of the local stack.
//!
//! The SDK sets no operation timeout by default: a DynamoDB or SNS call that never answers
//! would hold the invocation until Lambda kills it at the function's timeout (10 s), and
//! the caller would get API Gateway's bare 503/504 instead of our JSON error. DynamoDB and
//! SNS answer in-region in milliseconds, so these bounds only ever fire on an outage; the
//! request budget of `http::dispatch_guarded` is the last guard above them.
//!
//! The SDK crates are built without their default HTTPS client, whose rustls runs on
//! aws-lc-rs; every client gets [`http_client`] instead: the SDK's own hyper client with
//! rustls on ring. aws-lc-rs is a large C library (about a megabyte of each binary and
//! minutes of a clean build); ring does all the TLS 1.2/1.3 a DynamoDB or SNS endpoint
//! offers. A client built without it fails at its first call ("no HTTP client"), so a
//! forgotten one shows at once in any test.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Establishing a connection (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt of an operation, from sending to the whole answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// An operation with all its retries: a handler makes at most a few calls in a row, and
/// the sum must stay below the function's 10 s timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(3500);

pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The HTTPS client of every SDK client (rustls on ring; trust roots as the SDK loads
/// them, see `lambda::use_one_ca_bundle`). Clients given one clone share its connections.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The bounds of the operator's tools (the admin CLI): no Lambda timeout to stay under,
/// and a table operation (CreateTable, or the first call a just-started emulator answers)
/// may take seconds.
pub fn tool_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// Region, credentials and `AWS_ENDPOINT_URL` from the environment, with [`timeouts`].
pub async fn sdk_config() -> SdkConfig {
    sdk_config_with(timeouts()).await
}

/// As [`sdk_config`], with other timeouts (the tools').
pub async fn sdk_config_with(timeouts: TimeoutConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeouts)
        .load()
        .await
}
