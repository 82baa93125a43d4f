//! Handlers, one module per family of routes. A handler parses its request, calls one
//! service function and renders the answer; handlers share helpers through `request` and
//! `response`, never through each other.

pub mod accounts;
pub mod block;
pub mod management;
pub mod phone;
pub mod push;
pub mod sessions;
pub mod transactions;
