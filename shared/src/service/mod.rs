//! The use cases, one module per family. Each is a plain async function over [`Deps`] and
//! typed inputs that returns a typed answer or an [`ApiError`]; the HTTP handlers and the
//! WebSocket frames parse, call one of them and render.
//!
//! An input that the API has always checked after the caller's key (a body, a query value)
//! arrives as [`Checked`]: the handler has parsed it, and the service reports its error only
//! once the key (or the phone's signature) has been accepted. So a bad body with a bad key
//! is still 401, and with a good key 400, whatever order the handler parsed them in.
//!
//! - [`website`]: the website backend's calls: the key check, the session of a nonce.
//! - [`key_cache`]: the optional few-second cache of server and API key items.
//! - [`sessions`]: createSession, getSession, logout, registerUser, getQrEnrol.
//! - [`block`]: the browser side: QR and HTML block, footer, the polling status.
//! - [`phone`]: the signed phone API: enrolment, show, approve, deny, logout, lists.
//! - [`push`]: push login, its rate limit and number matching.
//! - [`limits`]: the fixed-window counters of every rate limit.
//! - [`accounts`]: account and user administration, and account changes carried to
//!   the account's sessions.
//! - [`listings`]: getAllAccounts, getUsers, getUser: offset pages over the account index.
//! - [`transactions`]: transaction signing (createTransaction, getTransactionResult, the
//!   phone's show/approve/decline).
//! - [`live`]: the WebSocket frames' and the notifier's use of the store.
//! - [`admin`]: servers and API keys (admin tool, local stack).
//! - [`sweeps`]: an account's sessions brought in line with it, off the request path.
//! - [`lifetimes`]: logins that `session_lifetime` ended, written down by a scheduled run
//!   (the LOGOUT frame and the logout event).
//! - [`versioned`]: the one read-modify-conditional-write loop every change goes through.
//!
//! [`Deps`]: crate::deps::Deps
//! [`ApiError`]: crate::error::ApiError

pub mod accounts;
pub mod admin;
pub mod block;
pub mod key_cache;
pub mod lifetimes;
pub mod limits;
pub mod listings;
pub mod live;
pub mod management;
pub mod phone;
pub mod provisioning;
pub mod push;
pub mod servers;
pub mod sessions;
pub mod sweeps;
pub mod transactions;
pub mod versioned;
pub mod website;

use crate::error::ApiError;

/// An input parsed by the handler, whose error is reported after the caller is authorised.
pub type Checked<T> = Result<T, ApiError>;
