//! The `notifier` Lambda function: builds its clients once and serves its events with the
//! shared code.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    nsauth::lambda::run_notifier().await
}
