//! The `notifier` Lambda function: builds its clients once and serves its events with the
//! shared code.

fn main() -> Result<(), lambda_http::Error> {
    nsauth::lambda::start_notifier()
}
