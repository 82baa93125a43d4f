//! Successful responses: JSON, HTML, and a link as text or as a QR image. Errors become
//! responses in `error.rs`, nowhere else.

use lambda_http::Body;
use lambda_http::http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::error::ApiError;
use crate::qr::{self, QrFormat};

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

/// JSON sent as `text/plain` (v2.2's attribute answers are typed so).
pub fn json_as_text<T: Serialize>(value: &T) -> Result<Response<Body>, ApiError> {
    let mut resp = json(StatusCode::OK, value)?;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

/// Bytes of the given type, which do not change (cacheable for a day).
pub fn bytes(content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::Binary(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    resp
}

/// An HTML fragment with the given cache policy.
pub fn html(status: StatusCode, body: String, cache: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// The raw link as text, or its QR code.
pub fn link_or_image(
    link: String,
    image: Option<(QrFormat, u32)>,
) -> Result<Response<Body>, ApiError> {
    let (body, content_type) = match image {
        None => (Body::Text(link), "text/plain; charset=utf-8"),
        Some((QrFormat::Svg, s)) => (Body::Text(qr::svg(&link, s)?), QrFormat::Svg.content_type()),
        Some((QrFormat::Png, s)) => (
            Body::Binary(qr::png(&link, s)?),
            QrFormat::Png.content_type(),
        ),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Open to every origin (the polling endpoint and the block's assets).
pub fn cors(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}
