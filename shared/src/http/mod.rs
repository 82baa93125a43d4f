//! HTTP: the route table, request and response helpers, API key authentication and the
//! handlers. The same code serves Lambda (through `lambda_http`) and the local stack.

pub mod auth;
mod dispatch;
pub mod handlers;
pub mod phone_auth;
pub mod request;
pub mod response;
pub mod routes;

pub use dispatch::{dispatch, dispatch_guarded};
