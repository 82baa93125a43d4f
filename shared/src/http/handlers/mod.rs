//! Handlers, one module per concern.

pub mod sessions;
