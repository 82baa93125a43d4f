//! The `login_block` Lambda function: builds its clients once and serves its routes with the
//! shared handlers.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    nsauth::lambda::run(nsauth::http::routes::Function::LoginBlock).await
}
