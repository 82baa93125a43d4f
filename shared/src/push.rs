//! Push endpoints: one SNS platform endpoint per account (SPEC section 6). The trait keeps
//! handlers free of SNS; the local stack uses an in-process implementation.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;

use crate::account::Platform;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// This deployment has no platform application for the platform.
    #[error("push through {0} is not configured on this deployment")]
    NotConfigured(&'static str),
    /// The push service refused the token (for example malformed).
    #[error("the push service refused the token: {0}")]
    Refused(String),
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
}

/// The local stack's push service: endpoints live in memory, nothing leaves the machine.
#[derive(Default)]
pub struct LocalPush {
    endpoints: Mutex<BTreeMap<String, (Platform, String)>>,
}

impl LocalPush {
    pub fn new() -> Self {
        Self::default()
    }

    /// The device token of a local endpoint.
    pub fn token_of(&self, endpoint_arn: &str) -> Option<String> {
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(endpoint_arn)
            .map(|(_, t)| t.clone())
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
            .insert(arn.clone(), (platform, token.to_string()));
        Ok(arn)
    }

    async fn delete_endpoint(&self, endpoint_arn: &str) -> Result<(), PushError> {
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(endpoint_arn);
        Ok(())
    }
}
