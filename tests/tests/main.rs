//! The integration tests over HTTP, one module per file beside this one, linked into one
//! test binary: each binary links the whole stack and the AWS SDK (about 45 MB in a debug
//! build), and 21 of them filled a CI machine's disk. Run one file's tests with
//! `cargo test -p nsauth-tests --test integration <file>::`.

mod attacks;
mod block_context;
mod enrol_retries;
mod key_cache;
mod lifetimes;
mod listings;
mod live;
mod login_safety;
mod management;
mod management_service;
mod memory_expiry;
mod outage;
mod phone_flow;
mod push_login;
mod retries;
mod roles;
mod round_trips;
mod safety_faults;
mod sessions_api;
mod store_contract;
mod transactions;
mod v22_inputs;
