//! The client side of the nsauth protocol, with no AWS, Lambda or HTTP server dependency:
//! what a phone app, the reference authenticator or a website library needs to speak to the
//! server.
//!
//! - [`ids`]: server ids, nonces, the hsid derived from them, account ids.
//! - [`links`]: login and enrolment links and `loginqrdata`.
//! - [`signing`]: the NSAuth-P256 request signature (SPEC 5.1).
//! - [`enrol`]: enrolment tokens (SPEC 5.2).
//! - [`usercontext`]: UserContext and SessionInfo with their limits.
//! - [`wire`]: the bodies and answers of the phone API, and the session states.
//! - [`push`]: the push payload the phone receives (SNS per platform).
//! - [`transaction`]: transaction signing: ids, the signed text, the phone's wire types.
//! - [`vash`]: the visual hash of a server, shown at enrolment.
//! - [`error`]: every error an API call ends in, as a stable code and a message.
//!
//! The server crate (`nsauth-shared`) builds on this one; nothing here knows about storage
//! or HTTP status codes.

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
