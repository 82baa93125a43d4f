//! Transaction signing (the v2.2 Transactions calls): a website asks the account logged in
//! to a session to confirm a transaction (an amount, a beneficiary, a description); the phone
//! shows it and signs the exact bytes of [`signed_content`] with the account key, so the
//! website keeps a proof that anyone with the account's public key can check.
//!
//! What is signed is a JSON text the server writes once (fields in a fixed order, no
//! whitespace) and the phone receives verbatim: the phone parses it to show what it holds
//! and signs those bytes, never a text of its own making. The signature is ECDSA P-256 over
//! SHA-256, `r || s` (64 bytes), like the request signatures.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::{Hsid, b64url, random_bytes};

/// What a website asks the user to confirm. v2.2 spells the beneficiary `benificiary`;
/// `beneficiary` is read as well.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionContent {
    #[serde(default)]
    pub amount: String,
    #[serde(default, alias = "beneficiary")]
    pub benificiary: String,
    #[serde(default)]
    pub description: String,
}

pub const MAX_AMOUNT_CHARS: usize = 64;
pub const MAX_BENEFICIARY_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

impl TransactionContent {
    /// Each field bounded and free of control characters; at least one field set.
    pub fn validate(&self) -> Result<(), ApiError> {
        for (field, v, max) in [
            ("amount", &self.amount, MAX_AMOUNT_CHARS),
            ("benificiary", &self.benificiary, MAX_BENEFICIARY_CHARS),
            ("description", &self.description, MAX_DESCRIPTION_CHARS),
        ] {
            if v.chars().count() > max || v.chars().any(|c| c.is_control() || is_bidi_control(c)) {
                return Err(ApiError::invalid_field(
                    field,
                    format!(
                        "at most {max} characters, no control or bidirectional formatting characters"
                    ),
                ));
            }
        }
        if self.amount.trim().is_empty()
            && self.benificiary.trim().is_empty()
            && self.description.trim().is_empty()
        {
            return Err(ApiError::invalid_field(
                "amount",
                "a transaction needs an amount, a benificiary or a description",
            ));
        }
        Ok(())
    }
}

/// Bidirectional formatting characters: they can make "100" display as "001", so a text
/// the user confirms may not hold them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A transaction's id: base64url of the session's hsid (16 bytes) and 16 random bytes, 43
/// characters. The hsid inside lets the server find the transaction with one read of its
/// session; the random half makes it unguessable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TransactionId(String);

pub const TRANSACTION_ID_LEN: usize = 43;

impl TransactionId {
    pub fn generate(hsid: &Hsid) -> Self {
        let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(hsid.as_str())
            .expect("an hsid is base64url of 16 bytes");
        raw.extend_from_slice(&random_bytes::<16>());
        TransactionId(b64url(&raw))
    }

    /// Checks the shape (43 base64url characters decoding to 32 bytes).
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != TRANSACTION_ID_LEN {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        (raw.len() == 32).then(|| TransactionId(s.to_string()))
    }

    /// The hsid of the session the transaction belongs to.
    pub fn hsid(&self) -> Hsid {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.0)
            .expect("checked at parse");
        Hsid::parse(&b64url(&raw[..16])).expect("16 bytes are a valid hsid")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TransactionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TransactionId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TransactionId::parse(&s).ok_or_else(|| "not a transaction id".to_string())
    }
}

impl From<TransactionId> for String {
    fn from(t: TransactionId) -> String {
        t.0
    }
}

/// The type tag at the start of every signed transaction text.
pub const SIGNED_TYPE: &str = "nsauth-transaction-v1";

/// The fields of the signed text, in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    #[serde(rename = "type")]
    pub kind: String,
    pub serverid: String,
    pub servername: String,
    pub tid: String,
    pub accountid: u64,
    pub amount: String,
    pub benificiary: String,
    pub description: String,
    /// RFC 3339 UTC: when the website created the transaction.
    pub created: String,
}

/// The exact text the phone signs: compact JSON with the fields of [`SignedTransaction`] in
/// their order.
pub fn signed_content(t: &SignedTransaction) -> String {
    serde_json::to_string(t).expect("plain strings and an integer serialise")
}

/// Reads a signed text back (the phone, to show it; a verifier, to learn what was signed).
pub fn parse_signed(text: &str) -> Option<SignedTransaction> {
    let t: SignedTransaction = serde_json::from_str(text).ok()?;
    (t.kind == SIGNED_TYPE && signed_content(&t) == text).then_some(t)
}

/// A transaction's state as the phone and the website see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionState {
    /// Waiting for the phone.
    New,
    Approved,
    Declined,
    /// Not answered in time, replaced by a newer transaction, or its login ended.
    Expired,
}

impl TransactionState {
    /// v2.2's `tstatus`: "0" new, "1" approved, "2" declined (an expired one is declined:
    /// it will never be approved).
    pub fn tstatus(self) -> &'static str {
        match self {
            TransactionState::New => "0",
            TransactionState::Approved => "1",
            TransactionState::Declined | TransactionState::Expired => "2",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransactionState::New => "new",
            TransactionState::Approved => "approved",
            TransactionState::Declined => "declined",
            TransactionState::Expired => "expired",
        }
    }
}

/// The answer of `GET /app/v1/transactions/{tid}`: what the phone shows, and the text to
/// sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionShown {
    pub serverid: String,
    pub servername: String,
    pub logo: String,
    pub tid: String,
    pub amount: String,
    pub benificiary: String,
    pub description: String,
    pub state: TransactionState,
    /// The exact text to sign (see [`signed_content`]).
    pub signed: String,
    /// RFC 3339 UTC: the phone's answer must arrive before this.
    pub expires: String,
}

/// `POST /app/v1/transactions/{tid}/approve`: the signature over `signed`, base64url of
/// `r || s`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionApproval {
    #[serde(default)]
    pub signature: String,
    /// How the phone verified its user: a transaction needs `pin` or `biometric`.
    #[serde(default)]
    pub verification: crate::wire::Verification,
}

/// The answer of the phone's approve and decline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAnswer {
    pub state: TransactionState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SignedTransaction {
        SignedTransaction {
            kind: SIGNED_TYPE.into(),
            serverid: "AAECAwQFBgcICQoLDA0ODw".into(),
            servername: "Acme \"bank\"".into(),
            tid: "x".repeat(43),
            accountid: 7,
            amount: "EUR 12.50".into(),
            benificiary: "Bob".into(),
            description: "rent\u{e9}".into(),
            created: "2026-12-02T12:00:00Z".into(),
        }
    }

    #[test]
    fn signed_text_reads_back_and_refuses_other_spellings() {
        let t = sample();
        let text = signed_content(&t);
        assert!(text.starts_with(r#"{"type":"nsauth-transaction-v1","serverid":"#));
        assert_eq!(parse_signed(&text), Some(t.clone()));
        // The same fields written differently are not the signed text.
        let spaced = text.replace(",\"", ", \"");
        assert_eq!(parse_signed(&spaced), None);
        let mut other = t;
        other.kind = "something-else".into();
        assert_eq!(parse_signed(&signed_content(&other)), None);
    }

    #[test]
    fn ids_carry_their_session() {
        let hsid = Hsid::parse("AAECAwQFBgcICQoLDA0ODw").unwrap();
        let tid = TransactionId::generate(&hsid);
        assert_eq!(tid.as_str().len(), TRANSACTION_ID_LEN);
        assert_eq!(tid.hsid(), hsid);
        assert_eq!(TransactionId::parse(tid.as_str()), Some(tid.clone()));
        assert_ne!(TransactionId::generate(&hsid), tid);
        assert!(TransactionId::parse("short").is_none());
        assert!(TransactionId::parse(&"*".repeat(43)).is_none());
    }

    #[test]
    fn content_limits() {
        let ok = TransactionContent {
            amount: "1".into(),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        assert!(TransactionContent::default().validate().is_err());
        let long = TransactionContent {
            amount: "9".repeat(65),
            ..Default::default()
        };
        assert!(long.validate().is_err());
        let ctl = TransactionContent {
            benificiary: "a\u{1b}[2J".into(),
            ..Default::default()
        };
        assert!(ctl.validate().is_err());
        let bidi = TransactionContent {
            amount: "\u{202E}001".into(),
            ..Default::default()
        };
        assert!(bidi.validate().is_err());
        let spelled: TransactionContent =
            serde_json::from_str(r#"{"beneficiary":"Bob","amount":"3"}"#).unwrap();
        assert_eq!(spelled.benificiary, "Bob");
    }
}
