//! Shared library of the nsauth phone-login server: the domain (servers, API keys, nonces,
//! sessions, UserContext), the error type and its one mapping to HTTP, configuration, the
//! store (DynamoDB and in-memory) and the HTTP handlers that every Lambda function and the
//! local stack run.

pub mod account;
pub mod admin;
pub mod apikey;
pub mod aws;
pub mod clock;
pub mod config;
pub mod deps;
pub mod error;
pub mod http;
pub mod ids;
pub mod lambda;
pub mod links;
pub mod live;
pub mod phone;
pub mod push;
pub mod qr;
pub mod server;
pub mod session;
pub mod settings;
pub mod store;
pub mod usercontext;

pub use deps::Deps;
pub use error::ApiError;
