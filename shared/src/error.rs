//! The error type of every request and its one mapping to HTTP (SPEC section 10).

use lambda_http::Body;
use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::apikey::Permission;
use crate::store::StoreError;

/// The most a request body may hold (SPEC section 10: 413 above 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: bad input; `code` names the kind, the message names the field.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401 `invalid_api_key`: missing, wrong, revoked or another server's key, or an
    /// unknown server (one answer for all, so the API does not reveal which servers exist).
    #[error("{0}")]
    InvalidApiKey(&'static str),
    /// 401 from the phone API's request signing, with its reason code (`bad_signature`,
    /// `stale_timestamp`, `unknown_account`, `account_blocked`, `replayed_request`).
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// 403: the key is valid but lacks the permission the call needs.
    #[error("this API key lacks the '{0}' permission")]
    MissingPermission(Permission),
    /// 404: no such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method.
    #[error("method not allowed; this path accepts {allow}")]
    MethodNotAllowed { allow: String },
    /// 409: the resource is in a state that does not allow the call.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: body over [`MAX_BODY_BYTES`].
    #[error("the request body is larger than 65536 bytes")]
    PayloadTooLarge,
    /// 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: String,
        retry_after: u64,
    },
    /// 503: DynamoDB (or SNS) failed after the SDK's retries.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable,
    /// 500: a fault of ours (for example an unreadable stored item). Never carries details.
    #[error("internal error")]
    Internal,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid_field` naming the field.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        ApiError::BadRequest {
            code: "invalid_field",
            message: format!("{field}: {problem}"),
        }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidApiKey(_) | ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::MissingPermission(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unauthorized { code, .. } => code,
            ApiError::InvalidApiKey(_) => "invalid_api_key",
            ApiError::MissingPermission(_) => "missing_permission",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::TooManyRequests { code, .. } => code,
            ApiError::Unavailable => "service_unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    /// The one place an error becomes an HTTP response.
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_string(&ErrorBody {
            error: self.code(),
            message: self.to_string(),
        })
        .unwrap_or_else(|_| r#"{"error":"internal_error","message":"internal error"}"#.into());
        let mut resp = Response::new(Body::Text(body));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match &self {
            ApiError::TooManyRequests { retry_after, .. } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    h.insert(header::ALLOW, v);
                }
            }
            ApiError::Unavailable => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::error!(error = %detail, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Corrupt(detail) => {
                tracing::error!(error = %detail, "unreadable stored item");
                ApiError::Internal
            }
            // Callers that expect a condition to fail handle it before converting; one that
            // reaches here is a lost race the caller did not anticipate.
            StoreError::ConditionFailed => ApiError::Conflict {
                code: "conflict",
                message: "the resource changed concurrently; retry the call".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn every_error_is_json_with_code_and_message() {
        let cases = [
            (
                ApiError::invalid_field("userid", "too long"),
                400,
                "invalid_field",
            ),
            (ApiError::InvalidApiKey("wrong key"), 401, "invalid_api_key"),
            (
                ApiError::MissingPermission(Permission::Accounts),
                403,
                "missing_permission",
            ),
            (ApiError::NotFound("no such route".into()), 404, "not_found"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (ApiError::Unavailable, 503, "service_unavailable"),
            (ApiError::Internal, 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            let msg = err.to_string();
            let r = err.into_response();
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()["content-type"], "application/json");
            let j = body_json(&r);
            assert_eq!(j["error"], code);
            assert_eq!(j["message"], msg);
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn rate_limit_carries_retry_after() {
        let r = ApiError::TooManyRequests {
            code: "push_rate_limited",
            message: "too many pushes".into(),
            retry_after: 42,
        }
        .into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "42");
        assert_eq!(body_json(&r)["error"], "push_rate_limited");
    }

    #[test]
    fn store_failures_never_leak_details() {
        let r = ApiError::from(StoreError::Unavailable("secret table arn".into())).into_response();
        assert_eq!(r.status(), 503);
        let text = String::from_utf8(r.body().to_vec()).unwrap();
        assert!(!text.contains("arn"), "{text}");
    }
}
