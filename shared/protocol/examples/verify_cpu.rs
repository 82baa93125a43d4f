//! The CPU work of a phone call on the server, timed: the canonical bytes of an approve
//! (with the SHA-256 of its body), the stored public key decoded and the P-256 signature
//! verified, as `service::phone` does once per signed call. Everything else an approve does
//! is waiting on DynamoDB. `infra/bench/profiles.sh` runs it once per release profile.
//!
//! usage: verify_cpu [ITERATIONS]   prints the median and p99 of 20 rounds, in µs per call

use std::time::Instant;

use nsauth_protocol::ids::ServerId;
use nsauth_protocol::signing::{
    AccountRef, Canonical, SigningKey, canonical_bytes, public_key_b64url, sign, verify,
};

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let key = SigningKey::from_slice(&[0x2b; 32]).expect("a valid scalar");
    let publickey = public_key_b64url(&key);
    let serverid = ServerId::parse("AAAAAAAAAAAAAAAAAAAAAA").expect("a server id");
    let body = br#"{"code":"482913","deny":false}"#;
    let request = Canonical {
        method: "POST",
        host: "abc123.execute-api.eu-west-1.amazonaws.com",
        path_with_query: "/app/v1/sessions/0123456789abcdef0123456789abcdef/approve",
        serverid: &serverid,
        account: AccountRef::Id(42),
        ts: 1_796_000_000,
        body,
    };
    let sig = sign(&key, &canonical_bytes(&request));

    let mut rounds = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        for _ in 0..iterations {
            let canonical = canonical_bytes(std::hint::black_box(&request));
            verify(&publickey, &canonical, &sig).expect("the signature verifies");
        }
        rounds.push(started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations));
    }
    rounds.sort_by(f64::total_cmp);
    println!(
        "verify_cpu: {:.1} µs median, {:.1} µs p99 per call ({iterations} calls × 20 rounds)",
        rounds[rounds.len() / 2],
        rounds[rounds.len() - 1]
    );
}
