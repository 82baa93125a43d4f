//! Property tests of what a stranger's bytes reach first: the Authorization header, the
//! canonical bytes, UserContext bodies, WebSocket frames, nonces and ids, API keys and
//! cursors. None may panic, each accepts exactly what it documents, and what it accepts
//! reads back the same.
//!
//! `make test` runs 256 cases a property; a longer run:
//! `NSAUTH_PROPTEST_CASES=100000 cargo test --release -p nsauth-shared --test parsers`.

use nsauth::apikey::{ApiKey, Credentials};
use nsauth::ids::{Hsid, Nonce, ServerId, b64url, parse_accountid};
use nsauth::live::frames::{ClientKind, parse_client};
use nsauth::signing::{AccountRef, AuthHeader, Canonical, canonical_bytes};
use nsauth::store::SessionCursor;
use nsauth::usercontext::UserContext;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("NSAUTH_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn b64url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Text that is mostly like the real thing, sometimes not at all.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_=+/ ,.:;-]{0,140}",
        "\\PC{0,80}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// The Authorization header: any text parses or is refused as `bad_signature`; what
    /// parses formats to a header that parses to the same.
    #[test]
    fn authorization_header(v in texty(), server in "[A-Za-z0-9_-]{20,24}",
                            account in prop_oneof!["new".prop_map(String::from), "[0-9]{1,16}", "[a-z0-9+-]{0,4}"],
                            ts in "[0-9+-]{0,14}", sig in "[A-Za-z0-9_=-]{80,90}") {
        for text in [v.clone(), format!("NSAuth-P256 server={server},account={account},ts={ts},sig={sig}")] {
            match AuthHeader::parse(Some(&text)) {
                Ok(h) => prop_assert_eq!(AuthHeader::parse(Some(&h.format())).unwrap(), h),
                Err(e) => prop_assert_eq!(e.code(), "bad_signature"),
            }
        }
    }

    /// A well-formed header always parses, to exactly the fields it was made of (a
    /// timestamp may carry a leading zero, spaces may follow the commas).
    #[test]
    fn well_formed_authorization_headers_parse(
        sid in any::<[u8; 16]>(), account in prop_oneof![Just(0u64), 1u64..=999_999_999_999_999],
        ts in 0i64..99_999_999_999, zero in any::<bool>(), space in any::<bool>(),
        sig in proptest::collection::vec(any::<u8>(), 64),
    ) {
        let serverid = ServerId::parse(&b64url(&sid)).unwrap();
        let account = if account == 0 { AccountRef::New } else { AccountRef::Id(account) };
        let sep = if space { ", " } else { "," };
        let text = format!(
            "NSAuth-P256 server={serverid}{sep}account={account}{sep}ts={}{ts}{sep}sig={}",
            if zero { "0" } else { "" },
            b64url(&sig)
        );
        let h = AuthHeader::parse(Some(&text)).unwrap();
        prop_assert_eq!(&h.serverid, &serverid);
        prop_assert_eq!(h.account, account);
        prop_assert_eq!(h.ts, ts);
        prop_assert_eq!(h.sig.to_vec(), sig);
        prop_assert_eq!(AuthHeader::parse(Some(&h.format())).unwrap(), h);
    }

    /// The canonical bytes: two requests (fields without line breaks, as HTTP carries
    /// them) give the same bytes only when they are the same request.
    #[test]
    fn canonical_bytes_tell_requests_apart(
        a in (prop_oneof!["GET", "POST", "PUT", "DELETE"], "[a-z0-9.:-]{1,20}", "/[a-z0-9/?=&%._-]{0,30}",
              0u64..20, -5i64..5, proptest::collection::vec(any::<u8>(), 0..20)),
        b in (prop_oneof!["GET", "POST", "PUT", "DELETE"], "[a-z0-9.:-]{1,20}", "/[a-z0-9/?=&%._-]{0,30}",
              0u64..20, -5i64..5, proptest::collection::vec(any::<u8>(), 0..20)),
    ) {
        let sid = ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let bytes = |(m, h, p, acc, ts, body): &(String, String, String, u64, i64, Vec<u8>)| {
            canonical_bytes(&Canonical {
                method: m,
                host: h,
                path_with_query: p,
                serverid: &sid,
                account: if *acc == 0 { AccountRef::New } else { AccountRef::Id(*acc) },
                ts: *ts,
                body,
            })
        };
        prop_assert_eq!(bytes(&a) == bytes(&b), a == b);
    }

    /// Every field is in the canonical bytes: changing any one of them, the server id
    /// included, changes the bytes.
    #[test]
    fn canonical_bytes_cover_every_field(field in 0usize..7, n in 1i64..1_000) {
        let sids = [ServerId::parse("AAECAwQFBgcICQoLDA0ODw").unwrap(), ServerId::generate()];
        let base = Canonical {
            method: "POST",
            host: "api.example",
            path_with_query: "/app/v1/sessions/x/approve",
            serverid: &sids[0],
            account: AccountRef::Id(7),
            ts: 1_700_000_000,
            body: b"{}",
        };
        let (path, body) = (format!("/app/v1/sessions/{n}/approve"), n.to_string().into_bytes());
        let host = format!("api{n}.example");
        let changed = match field {
            0 => Canonical { method: "PUT", ..base },
            1 => Canonical { host: &host, ..base },
            2 => Canonical { path_with_query: &path, ..base },
            3 => Canonical { serverid: &sids[1], ..base },
            4 => Canonical { account: if n % 2 == 0 { AccountRef::New } else { AccountRef::Id(7 + n as u64) }, ..base },
            5 => Canonical { ts: base.ts + n, ..base },
            _ => Canonical { body: &body, ..base },
        };
        prop_assert_ne!(canonical_bytes(&changed), canonical_bytes(&base));
    }

    /// UserContext bodies: any bytes are a context or a 400 (`invalid_json` or
    /// `invalid_field`); an accepted one is valid and reads back the same from its JSON.
    #[test]
    fn user_context_bodies(raw in proptest::collection::vec(any::<u8>(), 0..200), text in texty(),
                           action in "\\PC{0,40}", ip in prop_oneof!["", "192.0.2.1", "::1", "[a-z0-9.:]{0,15}"]) {
        let built = serde_json::json!({"announceinfo": {"info": {"action": action}, "ip": ip}}).to_string();
        for body in [raw.clone(), text.clone().into_bytes(), built.into_bytes()] {
            match UserContext::from_body(&body) {
                Ok(ctx) => {
                    prop_assert!(ctx.validate().is_ok());
                    let again = UserContext::from_body(serde_json::to_string(&ctx).unwrap().as_bytes()).unwrap();
                    prop_assert_eq!(again, ctx);
                }
                Err(e) => prop_assert!(["invalid_json", "invalid_field"].contains(&e.code()), "{}", e.code()),
            }
        }
    }

    /// WebSocket frames: any text is a frame or an `ERROR bad_frame`; a frame written back
    /// is the text that was read (trimmed).
    #[test]
    fn websocket_frames(text in texty(), kind in prop_oneof!["REGISTER", "PROVOKE", "LOGOUT", "HELLO"],
                        hsid in "[A-Za-z0-9_-]{21,23}", sid in "[A-Za-z0-9_-]{21,23}",
                        token in proptest::option::of("[A-Za-z0-9_<-]{0,70}")) {
        let built = match &token {
            Some(t) => format!("{kind} {hsid} {sid} {t}"),
            None => format!("{kind} {hsid} {sid}"),
        };
        // The built frame is well formed exactly when its kind is one, and its token (if
        // any) is at most 64 characters of base64url (an empty one is a trailing space,
        // which the trim takes away).
        let want = kind != "HELLO" && hsid.len() == 22 && sid.len() == 22
            && token.as_ref().is_none_or(|t| t.len() <= 64 && t.chars().all(b64url_char));
        prop_assert_eq!(parse_client(&built).is_ok(), want, "{}", built);
        for t in [text.clone(), built] {
            match parse_client(&t) {
                Ok(f) => {
                    let k = match f.kind {
                        ClientKind::Register => "REGISTER",
                        ClientKind::Provoke => "PROVOKE",
                        ClientKind::Logout => "LOGOUT",
                    };
                    let mut back = format!("{k} {} {}", f.hsid, f.serverid);
                    if let Some(tok) = &f.token {
                        back = format!("{back} {tok}");
                    }
                    prop_assert_eq!(back, t.trim());
                }
                Err((code, message)) => {
                    prop_assert_eq!(code, "bad_frame");
                    prop_assert!(!message.is_empty());
                }
            }
        }
    }

    /// Nonces: accepted exactly when SPEC section 2 says (22 to 128 characters of
    /// `[A-Za-z0-9+/=_-]`, and `,` `.` that web frameworks' session ids hold; hex-only at
    /// least 32); otherwise `invalid_nonce`.
    #[test]
    fn nonces(text in prop_oneof!["[A-Za-z0-9+/=_,.-]{18,40}", "[0-9a-f]{20,40}", texty()]) {
        let want = (22..=128).contains(&text.len())
            && text.chars().all(|c| b64url_char(c) || "+/=,.".contains(c))
            && !(text.len() < 32 && text.chars().all(|c| c.is_ascii_hexdigit()));
        match Nonce::parse(Some(&text)) {
            Ok(n) => {
                prop_assert!(want, "{text:?} accepted");
                prop_assert_eq!(n.expose(), text.as_str());
                prop_assert!(Hsid::parse(n.hsid(&ServerId::generate()).as_str()).is_some());
            }
            Err(e) => {
                prop_assert!(!want, "{text:?} refused");
                prop_assert_eq!(e.code(), "invalid_nonce");
            }
        }
    }

    /// Ids a path or frame names: exactly their shapes.
    #[test]
    fn ids(text in prop_oneof!["[A-Za-z0-9_-]{20,24}", "[0-9]{0,17}", texty()]) {
        let id_shape = text.len() == 22 && text.chars().all(b64url_char);
        prop_assert_eq!(ServerId::parse(&text).is_some(), id_shape);
        prop_assert_eq!(Hsid::parse(&text).is_some(), id_shape);
        let account_shape = !text.is_empty() && text.len() <= 15
            && text.chars().all(|c| c.is_ascii_digit())
            && text.parse::<u64>().is_ok_and(|n| n > 0);
        prop_assert_eq!(parse_accountid(&text).is_ok(), account_shape);
    }

    /// API keys and the credentials of a call: a malformed key or server id is the one
    /// 401 `invalid_api_key`, whatever it holds; a generated key always parses.
    #[test]
    fn api_keys(text in texty(), server in texty()) {
        if let Some(k) = ApiKey::parse(&text) {
            prop_assert_eq!(k.expose(), text.as_str());
        }
        match Credentials::parse(Some(&text), &server, None) {
            Ok(c) => prop_assert_eq!(c.key.expose(), text.as_str()),
            Err(e) => prop_assert_eq!(e.code(), "invalid_api_key"),
        }
        let k = ApiKey::generate();
        prop_assert!(ApiKey::parse(k.expose()).is_some());
        let sid = ServerId::generate();
        let c = Credentials::parse(Some(k.expose()), sid.as_str(), None).unwrap();
        prop_assert_eq!((c.key.expose(), &c.serverid), (k.expose(), &sid));
        // One character changed (to one outside the key's alphabet) and it is refused.
        let mut bad = k.expose().to_string();
        bad.replace_range(bad.len() - 1.., "!");
        prop_assert_eq!(Credentials::parse(Some(&bad), sid.as_str(), None).err().map(|e| e.code()), Some("invalid_api_key"));
    }

    /// Cursors of session lists: any text decodes to a cursor or to nothing; cursors made
    /// here read back the same.
    #[test]
    fn cursors(text in texty(), at in 0i64..999_999_999_999, hsid in "[A-Za-z0-9_-]{22}") {
        let _ = SessionCursor::decode(&text);
        let c = SessionCursor { login_at: at, hsid: Hsid::parse(&hsid).unwrap() };
        prop_assert_eq!(SessionCursor::decode(&c.encode()), Some(c));
    }
}
