//! Sending frames to WebSocket connections: API Gateway's Management API in AWS, channels
//! in the local stack.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::DisplayErrorContext;
use aws_sdk_apigatewaymanagement::primitives::Blob;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The connection is gone; its subscriptions should be dropped.
    #[error("connection gone")]
    Gone,
    #[error("post failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Connections: Send + Sync {
    async fn post(&self, conn: &str, text: &str) -> Result<(), PostError>;
}

/// A connection id as API Gateway makes them (base64-ish, short); anything else is refused
/// before it reaches DynamoDB.
pub fn valid_connection_id(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 128
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b))
}

pub struct ManagementApi {
    client: Client,
}

impl ManagementApi {
    /// A client for the WebSocket API's management endpoint
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`).
    pub fn new(conf: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let c = aws_sdk_apigatewaymanagement::config::Builder::from(conf)
            .endpoint_url(endpoint)
            .build();
        ManagementApi {
            client: Client::from_conf(c),
        }
    }

    pub fn from_client(client: Client) -> Self {
        ManagementApi { client }
    }
}

#[async_trait]
impl Connections for ManagementApi {
    async fn post(&self, conn: &str, text: &str) -> Result<(), PostError> {
        self.client
            .post_to_connection()
            .connection_id(conn)
            .data(Blob::new(text.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_gone_exception()) {
                    PostError::Gone
                } else {
                    PostError::Failed(DisplayErrorContext(&e).to_string())
                }
            })?;
        Ok(())
    }
}
