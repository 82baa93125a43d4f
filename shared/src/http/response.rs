//! Successful JSON responses. Errors become responses in `error.rs`, nowhere else.

use lambda_http::Body;
use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::error::ApiError;

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response<Body>, ApiError> {
    let text = serde_json::to_string(value).map_err(|e| {
        tracing::error!(error = %e, "response serialisation failed");
        ApiError::Internal
    })?;
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Session answers are per browser session and change at any moment.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
