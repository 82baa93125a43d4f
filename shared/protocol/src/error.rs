//! Every way an API call can fail, as a stable code and a message (SPEC section 10). The
//! server maps each kind to its HTTP status in one place (`nsauth::http::error`); this type
//! knows nothing of HTTP, storage or API key permissions, so every layer can use it.

/// The error of an API call: what kind of failure, its stable `code()` and a message that
/// says what was wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Bad input; `code` names the kind, the message names the field.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// `invalid_api_key`: missing, wrong, revoked or another server's key, or an unknown
    /// server (one answer for all, so the API does not reveal which servers exist).
    #[error("{0}")]
    InvalidApiKey(&'static str),
    /// The phone API's request signing refused the call, with its reason code
    /// (`bad_signature`, `stale_timestamp`, `unknown_account`, `account_blocked`,
    /// `replayed_request`).
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// The key is valid but lacks the permission (by name) the call needs.
    #[error("this API key lacks the '{0}' permission")]
    MissingPermission(&'static str),
    /// The caller is known but may not do this to this resource (a transaction of another
    /// account, a session nobody is logged in to).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// No such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method; `allow` lists the methods it takes.
    #[error("method not allowed; this path accepts {allow}")]
    MethodNotAllowed { allow: String },
    /// The resource is in a state that does not allow the call.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The body is larger than the API takes (64 KiB).
    #[error("the request body is larger than 65536 bytes")]
    PayloadTooLarge,
    /// What the call would store is over a documented limit (attributes).
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    /// A limit was reached; retry after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: String,
        retry_after: u64,
    },
    /// A service the call needs (DynamoDB, SNS) failed after its retries; retry shortly.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable,
    /// A fault of the server's (for example an unreadable stored item). Never carries
    /// details.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// `invalid_field` naming the field.
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

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    /// The stable code of the JSON error's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::TooManyRequests { code, .. }
            | ApiError::TooLarge { code, .. } => code,
            ApiError::InvalidApiKey(_) => "invalid_api_key",
            ApiError::MissingPermission(_) => "missing_permission",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Unavailable => "service_unavailable",
            ApiError::Internal => "internal_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let cases = [
            (
                ApiError::invalid_field("userid", "too long"),
                "invalid_field",
            ),
            (ApiError::InvalidApiKey("wrong key"), "invalid_api_key"),
            (
                ApiError::MissingPermission("accounts"),
                "missing_permission",
            ),
            (ApiError::not_found("no such route"), "not_found"),
            (ApiError::PayloadTooLarge, "payload_too_large"),
            (ApiError::Unavailable, "service_unavailable"),
            (ApiError::Internal, "internal_error"),
            (
                ApiError::conflict("session_state", "cannot approve"),
                "session_state",
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code);
            assert!(!err.to_string().is_empty(), "{err:?}");
        }
        assert_eq!(
            ApiError::invalid_field("userid", "too long").to_string(),
            "userid: too long"
        );
        assert_eq!(
            ApiError::MissingPermission("accounts").to_string(),
            "this API key lacks the 'accounts' permission"
        );
    }
}
