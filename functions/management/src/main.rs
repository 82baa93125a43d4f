//! The `management` Lambda function: builds its clients once and serves its routes with the
//! shared handlers.

fn main() -> Result<(), lambda_http::Error> {
    nsauth::lambda::start_without_push(&nsauth::http::routes::MANAGEMENT)
}
