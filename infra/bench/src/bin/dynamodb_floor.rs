//! The floor of a function on this design: the lambda_http hello world plus the DynamoDB
//! client (aws-config, aws-sdk-dynamodb with the same features and HTTPS client the
//! functions use), reading
//! one item per request. No handler, no service, no SNS. coldstart.py measures it beside
//! the functions and the hello world: what a function costs above it is ours; what it costs
//! above the hello world is the SDK's.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(nsauth::aws::http_client())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("NSAUTH_TABLE").unwrap_or_else(|_| "nsauth".into());
    lambda_http::run(service_fn(move |_req: Request| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            use aws_sdk_dynamodb::types::AttributeValue::S;
            let item = client
                .get_item()
                .table_name(table)
                .key("pk", S("SERVER#-".into()))
                .key("sk", S("SERVER".into()))
                .send()
                .await?;
            let found = if item.item.is_some() { "found" } else { "none" };
            Ok::<_, Error>(Response::new(Body::Text(found.into())))
        }
    }))
    .await
}
