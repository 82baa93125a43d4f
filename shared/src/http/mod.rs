//! HTTP: the route table, reading requests, rendering responses and errors, and the
//! handlers. The same code serves Lambda (through `lambda_http`) and the local stack. A
//! handler parses its request, calls one service function and renders the answer.

mod dispatch;
pub mod error;
pub mod handlers;
pub mod request;
pub mod response;
pub mod routes;

pub use dispatch::{dispatch, dispatch_guarded};

/// The most a request body may hold (SPEC section 10: 413 above 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
