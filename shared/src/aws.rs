//! The AWS SDK configuration of every function and of the local stack.
//!
//! The SDK sets no operation timeout by default: a DynamoDB or SNS call that never answers
//! would hold the invocation until Lambda kills it at the function's timeout (10 s), and
//! the caller would get API Gateway's bare 503/504 instead of our JSON error. DynamoDB and
//! SNS answer in-region in milliseconds, so these bounds only ever fire on an outage; the
//! request budget of `http::dispatch_guarded` is the last guard above them.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

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

/// Region, credentials and `AWS_ENDPOINT_URL` from the environment, with [`timeouts`].
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}
