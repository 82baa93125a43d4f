//! Push endpoints: one SNS platform endpoint per account (SPEC section 6). The trait keeps
//! the services free of SNS; the local stack uses an in-process implementation. The message
//! itself is the protocol's ([`PushMessage`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::account::Platform;

pub use nsauth_protocol::push::{OutboxEntry, PushMessage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// This deployment has no platform application for the platform.
    #[error("push through {0} is not configured on this deployment")]
    NotConfigured(&'static str),
    /// The push service refused the token (for example malformed).
    #[error("the push service refused the token: {0}")]
    Refused(String),
    /// SNS reports the endpoint disabled (the app was uninstalled or the token expired).
    #[error("the push endpoint is disabled")]
    Disabled,
    /// SNS failed after the SDK's retries.
    #[error("push service unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PushSender: Send + Sync {
    /// Creates (or finds) the platform endpoint for a device token; returns its ARN.
    async fn create_endpoint(
        &self,
        platform: Platform,
        token: &str,
        user_data: &str,
    ) -> Result<String, PushError>;
    /// Deletes an endpoint (idempotent).
    async fn delete_endpoint(&self, endpoint_arn: &str) -> Result<(), PushError>;
    /// Publishes a login push to an endpoint.
    async fn publish(&self, endpoint_arn: &str, message: &PushMessage) -> Result<(), PushError>;
}

/// The platform application ARNs of the stack (template parameters; empty = push off).
#[derive(Debug, Clone, Default)]
pub struct PlatformApps {
    pub apns: Option<String>,
    pub apns_sandbox: Option<String>,
    pub fcm: Option<String>,
}

impl PlatformApps {
    pub fn from_env() -> Self {
        let get = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        PlatformApps {
            apns: get("NSAUTH_APNS_APP_ARN"),
            apns_sandbox: get("NSAUTH_APNS_SANDBOX_APP_ARN"),
            fcm: get("NSAUTH_FCM_APP_ARN"),
        }
    }

    pub fn arn(&self, p: Platform) -> Option<&str> {
        match p {
            Platform::Apns => self.apns.as_deref(),
            Platform::ApnsSandbox => self.apns_sandbox.as_deref(),
            Platform::Fcm => self.fcm.as_deref(),
        }
    }
}

pub struct SnsPush {
    client: Client,
    apps: PlatformApps,
}

impl SnsPush {
    pub fn new(client: Client, apps: PlatformApps) -> Self {
        SnsPush { client, apps }
    }
}

#[async_trait]
impl PushSender for SnsPush {
    async fn create_endpoint(
        &self,
        platform: Platform,
        token: &str,
        user_data: &str,
    ) -> Result<String, PushError> {
        let app = self
            .apps
            .arn(platform)
            .ok_or(PushError::NotConfigured(platform.as_str()))?;
        let out = self
            .client
            .create_platform_endpoint()
            .platform_application_arn(app)
            .token(token)
            .custom_user_data(user_data)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_invalid_parameter_exception())
                {
                    PushError::Refused("invalid token".into())
                } else {
                    PushError::Unavailable(DisplayErrorContext(&e).to_string())
                }
            })?;
        out.endpoint_arn
            .ok_or_else(|| PushError::Unavailable("no endpoint ARN in the answer".into()))
    }

    async fn delete_endpoint(&self, endpoint_arn: &str) -> Result<(), PushError> {
        self.client
            .delete_endpoint()
            .endpoint_arn(endpoint_arn)
            .send()
            .await
            .map_err(|e| PushError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    async fn publish(&self, endpoint_arn: &str, message: &PushMessage) -> Result<(), PushError> {
        let mut req = self
            .client
            .publish()
            .target_arn(endpoint_arn)
            .message_structure("json")
            .message(message.sns_message());
        for (name, value) in message.sns_attributes() {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PushError::Unavailable(e.to_string()))?;
            req = req.message_attributes(name, attr);
        }
        req.send().await.map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_endpoint_disabled_exception())
            {
                PushError::Disabled
            } else {
                PushError::Unavailable(DisplayErrorContext(&e).to_string())
            }
        })?;
        Ok(())
    }
}

/// The push service of a function none of whose routes pushes (`Function::pushes`): so
/// that its binary does not link the SNS client. Reaching it is a bug of the route table,
/// logged as an error and answered as an outage.
pub struct NoPush;

impl NoPush {
    fn unreachable(&self, what: &str) -> PushError {
        tracing::error!(what, "a push from a function that has no push service");
        PushError::Unavailable("this function has no push service".into())
    }
}

#[async_trait]
impl PushSender for NoPush {
    async fn create_endpoint(
        &self,
        _platform: Platform,
        _token: &str,
        _user_data: &str,
    ) -> Result<String, PushError> {
        Err(self.unreachable("create_endpoint"))
    }

    async fn delete_endpoint(&self, _endpoint_arn: &str) -> Result<(), PushError> {
        Err(self.unreachable("delete_endpoint"))
    }

    async fn publish(&self, _endpoint_arn: &str, _message: &PushMessage) -> Result<(), PushError> {
        Err(self.unreachable("publish"))
    }
}

/// The local stack's push service: endpoints live in memory, nothing leaves the machine.
#[derive(Default)]
pub struct LocalPush {
    endpoints: Mutex<BTreeMap<String, (Platform, String, bool)>>,
    outbox: Mutex<Vec<OutboxEntry>>,
}

impl LocalPush {
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages "sent" to endpoints of this device token, oldest first.
    pub fn outbox_for(&self, token: &str) -> Vec<OutboxEntry> {
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| e.token == token)
            .cloned()
            .collect()
    }

    /// Every message "sent", oldest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Marks an endpoint disabled, as SNS does when the app is gone (tests).
    pub fn disable(&self, endpoint_arn: &str) {
        if let Some(e) = self
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(endpoint_arn)
        {
            e.2 = true;
        }
    }
}

#[async_trait]
impl PushSender for LocalPush {
    async fn create_endpoint(
        &self,
        platform: Platform,
        token: &str,
        _user_data: &str,
    ) -> Result<String, PushError> {
        let arn = format!(
            "local:endpoint/{}/{}",
            platform.as_str(),
            crate::ids::b64url(&crate::ids::random_bytes::<12>())
        );
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(arn.clone(), (platform, token.to_string(), false));
        Ok(arn)
    }

    async fn delete_endpoint(&self, endpoint_arn: &str) -> Result<(), PushError> {
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(endpoint_arn);
        Ok(())
    }

    async fn publish(&self, endpoint_arn: &str, message: &PushMessage) -> Result<(), PushError> {
        let (platform, token, disabled) = self
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(endpoint_arn)
            .cloned()
            .ok_or(PushError::Disabled)?;
        if disabled {
            return Err(PushError::Disabled);
        }
        let entry = OutboxEntry {
            endpoint_arn: endpoint_arn.to_string(),
            platform,
            token,
            message: serde_json::from_str(&message.sns_message()).unwrap_or_default(),
            attributes: message
                .sns_attributes()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        };
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
        Ok(())
    }
}
