//! The key file: `{"version": 1, "accounts": [...]}`, one account per server, written
//! atomically (temporary file in the same directory, then rename) with mode 0600.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nsauth_protocol::ids::{ServerId, b64url};
use nsauth_protocol::signing::public_key_b64url;
use p256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::link::validate_api_base;
use crate::pin::PinHash;

pub const FILE_VERSION: u32 = 1;

/// One enrolled account. `key` is the private key: base64url of the 32-byte scalar.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub serverid: ServerId,
    pub servername: String,
    /// The API base URL from the enrolment link, ending in `/`.
    pub api: String,
    pub accountid: u64,
    pub userid: Option<String>,
    pub description: String,
    pub key: String,
    /// The push registration the server accepted (enrolment answered `"push": true`, or
    /// `PUT /app/v1/push` answered 200). Absent in files written before pushes existed.
    #[serde(default)]
    pub push: Option<PushRegistration>,
}

/// A device push token and the push service it belongs to (`apns`, `apns_sandbox`, `fcm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRegistration {
    pub platform: String,
    pub token: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("serverid", &self.serverid)
            .field("servername", &self.servername)
            .field("api", &self.api)
            .field("accountid", &self.accountid)
            .field("userid", &self.userid)
            .field("description", &self.description)
            .field("key", &"<private>")
            .field("push", &self.push)
            .finish()
    }
}

impl Account {
    pub fn signing_key(&self) -> Result<SigningKey, String> {
        decode_key(&self.key)
    }

    /// base64url SPKI of the account's public key.
    pub fn publickey(&self) -> String {
        self.signing_key()
            .map(|k| public_key_b64url(&k))
            .unwrap_or_default()
    }

    /// What may be shown: everything but the private key, plus the public key.
    pub fn public_view(&self) -> serde_json::Value {
        serde_json::json!({
            "serverid": self.serverid,
            "servername": self.servername,
            "api": self.api,
            "accountid": self.accountid,
            "userid": self.userid,
            "description": self.description,
            "publickey": self.publickey(),
            "push": self.push,
        })
    }
}

pub fn encode_key(key: &SigningKey) -> String {
    b64url(&key.to_bytes())
}

pub fn decode_key(b64: &str) -> Result<SigningKey, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| "the key is not base64url".to_string())?;
    if bytes.len() != 32 {
        return Err(format!(
            "the key is {} bytes, not a 32-byte P-256 scalar",
            bytes.len()
        ));
    }
    SigningKey::from_slice(&bytes).map_err(|_| "the key is not a valid P-256 scalar".to_string())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyFile {
    pub version: u32,
    pub accounts: Vec<Account>,
    /// The app's PIN, as a slow hash; absent when none is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinHash>,
}

impl KeyFile {
    pub fn empty() -> Self {
        KeyFile {
            version: FILE_VERSION,
            accounts: Vec::new(),
            pin: None,
        }
    }

    /// Reads and checks the file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, Error> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(file_error(path, format!("cannot read it: {e}"))),
        };
        let file: KeyFile = serde_json::from_str(&text)
            .map_err(|e| file_error(path, format!("not a key file: {e}")))?;
        if file.version != FILE_VERSION {
            return Err(file_error(
                path,
                format!(
                    "version {} is not supported (expected {FILE_VERSION})",
                    file.version
                ),
            ));
        }
        if file.pin.as_ref().is_some_and(|p| !p.well_formed()) {
            return Err(file_error(path, "its PIN hash is damaged".into()));
        }
        for (i, a) in file.accounts.iter().enumerate() {
            a.signing_key()
                .map_err(|m| file_error(path, format!("account of server {}: {m}", a.serverid)))?;
            validate_api_base(&a.api)
                .map_err(|m| file_error(path, format!("account of server {}: {m}", a.serverid)))?;
            if file.accounts[..i].iter().any(|b| b.serverid == a.serverid) {
                return Err(file_error(
                    path,
                    format!("server {} has two accounts; keep one", a.serverid),
                ));
            }
        }
        Ok(Some(file))
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| file_error(path, format!("cannot encode it: {e}")))?;
        bytes.push(b'\n');
        write_atomic(path, &bytes).map_err(|e| file_error(path, format!("cannot write it: {e}")))
    }
}

pub(crate) fn file_error(path: &Path, message: String) -> Error {
    Error::File {
        path: path.to_path_buf(),
        message,
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a fresh 0600 file next to `path`, flushes it and renames it over `path`,
/// so a reader sees the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // A leftover of a crashed writer with the same process id and counter.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            // The umask can only take bits away, but be explicit.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable (best effort).
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
