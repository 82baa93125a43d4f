//! The server library of the nsauth phone-login server, which every Lambda function and the
//! local stack run. Its modules stand on five floors; a module imports only from its own
//! floor or those below (`tests/layers.rs` checks it):
//!
//! ```text
//!  4  lambda                      the functions' entry points
//!  3  http          live          HTTP handlers and routes | WebSocket frames, stream notifier
//!  2  service       deps          the use cases: sessions, phone, push, accounts, live, admin
//!  1  store   push  aws  geoip    DynamoDB / in-memory store, SNS / local push, SDK config, GeoIP file
//!  0  domain and error            ids, sessions, accounts, keys, settings, ... (no I/O)
//! ```
//!
//! Floor 0 includes the client protocol (`nsauth-protocol`: ids, links, signing, enrolment
//! tokens, UserContext, wire types, the error type), re-exported here under the same names.

// Floor 0: the domain and the error type.
pub use nsauth_protocol::{enrol, error, ids, links, proximity, signing, usercontext, vash, wire};
pub mod account;
pub mod apikey;
pub mod attributes;
pub mod clock;
pub mod config;
pub mod enrolment;
pub mod pull;
pub mod qr;
pub mod role;
pub mod rotation;
pub mod server;
pub mod session;
pub mod settings;
pub mod transaction;

// Floor 1: storage and the outside services.
pub mod aws;
pub mod geoip;
pub mod push;
pub mod store;

// Floor 2: the use cases.
pub mod deps;
pub mod service;

// Floor 3: the ways in.
pub mod http;
pub mod live;

// Floor 4: the Lambda functions' entry points.
pub mod lambda;

pub use deps::Deps;
pub use error::ApiError;
