#![doc = include_str!("../README.md")]
// The README is the crate's documentation (and its examples run as doctests); the server
// crate (`nsauth-shared`) builds on this one, and nothing here knows about storage or HTTP
// status codes.

pub mod enrol;
pub mod error;
pub mod ids;
pub mod links;
pub mod proximity;
pub mod push;
pub mod signing;
pub mod transaction;
pub mod usercontext;
pub mod vash;
pub mod wire;

pub use error::ApiError;
