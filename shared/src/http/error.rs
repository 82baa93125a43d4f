//! The one place an error becomes an HTTP response (SPEC section 10): its status, the JSON
//! body `{"error": code, "message": ...}`, and the headers some statuses carry.

use lambda_http::Body;
use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::error::ApiError;

pub fn status(e: &ApiError) -> StatusCode {
    match e {
        ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        ApiError::InvalidApiKey(_) | ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        ApiError::MissingPermission(_) | ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::Conflict { .. } => StatusCode::CONFLICT,
        ApiError::PayloadTooLarge | ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

/// The JSON error response: 429 carries `Retry-After`, 503 `Retry-After: 1`, 405 `Allow`.
pub fn response(e: ApiError) -> Response<Body> {
    let body = serde_json::to_string(&ErrorBody {
        error: e.code(),
        message: e.to_string(),
    })
    .unwrap_or_else(|_| r#"{"error":"internal_error","message":"internal error"}"#.into());
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = status(&e);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match &e {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

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
                ApiError::unauthorized("bad_signature", "no"),
                401,
                "bad_signature",
            ),
            (
                ApiError::MissingPermission("accounts"),
                403,
                "missing_permission",
            ),
            (ApiError::NotFound("no such route".into()), 404, "not_found"),
            (
                ApiError::conflict("session_state", "cannot"),
                409,
                "session_state",
            ),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (ApiError::Unavailable, 503, "service_unavailable"),
            (ApiError::Internal, 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            let msg = err.to_string();
            let r = response(err);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()["content-type"], "application/json");
            let j = body_json(&r);
            assert_eq!(j["error"], code);
            assert_eq!(j["message"], msg);
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn limits_carry_their_headers() {
        let r = response(ApiError::TooManyRequests {
            code: "push_rate_limited",
            message: "too many pushes".into(),
            retry_after: 42,
        });
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "42");
        assert_eq!(body_json(&r)["error"], "push_rate_limited");
        let r = response(ApiError::MethodNotAllowed {
            allow: "GET, POST".into(),
        });
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "GET, POST");
        assert_eq!(
            response(ApiError::Unavailable).headers()["retry-after"],
            "1"
        );
    }

    #[test]
    fn store_failures_never_leak_details() {
        let r = response(ApiError::from(StoreError::Unavailable(
            "secret table arn".into(),
        )));
        assert_eq!(r.status(), 503);
        let text = String::from_utf8(r.body().to_vec()).unwrap();
        assert!(!text.contains("arn"), "{text}");
    }
}
