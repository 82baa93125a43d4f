//! Handlers, one module per concern.

pub mod accounts;
pub mod block;
pub mod common;
pub mod phone;
pub mod push;
pub mod sessions;
