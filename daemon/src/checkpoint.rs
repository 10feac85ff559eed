//! Signed checkpoints: the log's Ed25519 key (generated on first start
//! into the data dir with mode 0600, or loaded from a configured path) and
//! C2SP tlog-checkpoint bodies signed as C2SP signed notes. The daemon only
//! ever signs roots of its append-only tree at durable sizes, so no two of
//! its checkpoints can be inconsistent with each other.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The key file's name in the data dir.
pub const KEY_FILE: &str = "checkpoint.key";

/// Why the key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key {path}: {message}")]
    Key { path: PathBuf, message: String },
}

/// The log's signer.
pub struct Signer {
    name: String,
    key: SigningKey,
    key_id: [u8; 4],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The C2SP key id of an Ed25519 key: the first 4 bytes of
/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

impl Signer {
    /// Loads the key at `path`, creating it (mode 0600) if absent. The
    /// origin (key name) defaults to "truce/" and 16 hex digits of the
    /// public key's SHA-256.
    pub fn load_or_create(path: &Path, origin: Option<&str>) -> Result<Self, KeyError> {
        let bad = |message: String| KeyError::Key {
            path: path.to_owned(),
            message,
        };
        let seed: [u8; 32] = match std::fs::read_to_string(path) {
            Ok(text) => STANDARD
                .decode(text.trim())
                .map_err(|e| bad(format!("not base64: {e}")))?
                .try_into()
                .map_err(|_| bad("not a 32-byte Ed25519 seed".into()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| bad(format!("no randomness: {e}")))?;
                let mut options = std::fs::File::options();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut f = options.open(path).map_err(|e| bad(e.to_string()))?;
                writeln!(f, "{}", STANDARD.encode(seed)).map_err(|e| bad(e.to_string()))?;
                f.sync_all().map_err(|e| bad(e.to_string()))?;
                seed
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key().to_bytes();
        let name = match origin {
            Some(o) if !o.is_empty() => o.to_owned(),
            _ => format!("truce/{}", &hex::encode(Sha256::digest(public))[..16]),
        };
        if name.contains(char::is_whitespace) || name.contains('+') {
            return Err(bad(format!(
                "origin {name:?} may not contain spaces or '+'"
            )));
        }
        let key_id = key_id(&name, &public);
        Ok(Self { name, key, key_id })
    }

    /// The origin line and key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The verifier key in C2SP note format:
    /// `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut k = vec![0x01];
        k.extend_from_slice(&self.public_key());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            STANDARD.encode(k)
        )
    }

    /// A signed checkpoint note for the tree of `size` leaves with `root`.
    pub fn sign(&self, size: u64, root: &Hash) -> String {
        let body = format!("{}\n{size}\n{}\n", self.name, STANDARD.encode(root));
        let signature = self.key.sign(body.as_bytes());
        let mut sig = self.key_id.to_vec();
        sig.extend_from_slice(&signature.to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.name, STANDARD.encode(sig))
    }
}
