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
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::model::merkle::Hash;

/// The key file's name in the data dir.
pub const KEY_FILE: &str = "checkpoint.key";

/// Why the key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("no signing key at {path} (`truced serve` or `truced key new` creates one)")]
    Missing { path: PathBuf },
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
        match Self::load(path, origin) {
            Err(KeyError::Missing { .. }) => {}
            other => return other,
        }
        let bad = |message: String| KeyError::Key {
            path: path.to_owned(),
            message,
        };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| bad(format!("no randomness: {e}")))?;
        let mut options = std::fs::File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(path).map_err(|e| bad(e.to_string()))?;
        writeln!(f, "{}", STANDARD.encode(seed)).map_err(|e| bad(e.to_string()))?;
        f.sync_all().map_err(|e| bad(e.to_string()))?;
        Self::from_seed(path, seed, origin)
    }

    /// Loads the key at `path`, creating nothing: [`KeyError::Missing`]
    /// when there is no file (the commands that only read a store).
    pub fn load(path: &Path, origin: Option<&str>) -> Result<Self, KeyError> {
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
                return Err(KeyError::Missing {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        Self::from_seed(path, seed, origin)
    }

    /// The signer of `seed` under `origin` (or the default name).
    fn from_seed(path: &Path, seed: [u8; 32], origin: Option<&str>) -> Result<Self, KeyError> {
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key().to_bytes();
        let name = match origin {
            Some(o) if !o.is_empty() => o.to_owned(),
            _ => format!("truce/{}", &hex::encode(Sha256::digest(public))[..16]),
        };
        if name.contains(char::is_whitespace) || name.contains('+') {
            return Err(KeyError::Key {
                path: path.to_owned(),
                message: format!("origin {name:?} may not contain spaces or '+'"),
            });
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

impl Signer {
    /// Writes the key (as `load_or_create` reads it) to a new file with
    /// mode 0600, for backups that carry it.
    pub fn write_key(&self, path: &Path) -> std::io::Result<()> {
        let mut options = std::fs::File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(path)?;
        writeln!(f, "{}", STANDARD.encode(self.key.to_bytes()))?;
        f.sync_all()
    }
}

/// Checks a signed checkpoint note against a verifier key
/// (`<name>+<hex key id>+<base64(0x01 ‖ key)>`) and returns its size and
/// root.
pub fn verify_note(verifier_key: &str, note: &str) -> Result<(u64, Hash), String> {
    let mut parts = verifier_key.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("the verifier key is not <name>+<id>+<key>".into());
    };
    let key = STANDARD
        .decode(key)
        .map_err(|e| format!("the verifier key is not base64: {e}"))?;
    let public: [u8; 32] = match key.split_first() {
        Some((0x01, rest)) => rest
            .try_into()
            .map_err(|_| "the verifier key is not an Ed25519 key".to_owned())?,
        _ => return Err("the verifier key is not an Ed25519 key".into()),
    };
    let key_id = key_id(name, &public);
    if hex::encode(key_id) != id {
        return Err("the verifier key's id does not match its key".into());
    }
    let (body, signatures) = note
        .split_once("\n\n")
        .ok_or_else(|| "the note has no signature block".to_owned())?;
    let body = format!("{body}\n");
    let prefix = format!("\u{2014} {name} ");
    let signature = signatures
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|s| STANDARD.decode(s).ok())
        .find(|s| s.len() == 68 && s[..4] == key_id)
        .ok_or_else(|| format!("the note carries no signature by {name}"))?;
    let signature = Signature::from_slice(&signature[4..]).map_err(|e| e.to_string())?;
    VerifyingKey::from_bytes(&public)
        .map_err(|e| e.to_string())?
        .verify(body.as_bytes(), &signature)
        .map_err(|_| "the note's signature does not verify".to_owned())?;
    crate::store::mark::checkpoint_body(note)
        .ok_or_else(|| "the note's body is malformed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_note_verifies_and_a_changed_one_does_not() {
        let dir = std::env::temp_dir().join(format!("truce-key-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let signer = Signer::load_or_create(&dir, Some("example.org/log")).unwrap();
        let root = [7u8; 32];
        let note = signer.sign(5, &root);
        assert_eq!(verify_note(&signer.verifier_key(), &note), Ok((5, root)));
        let forged = note.replacen("\n5\n", "\n6\n", 1);
        assert!(verify_note(&signer.verifier_key(), &forged).is_err());
        let other =
            Signer::load_or_create(&dir.with_extension("other"), Some("example.org/log")).unwrap();
        assert!(verify_note(&other.verifier_key(), &note).is_err());
        let copy = dir.with_extension("copy");
        let _ = std::fs::remove_file(&copy);
        signer.write_key(&copy).unwrap();
        let again = Signer::load_or_create(&copy, Some("example.org/log")).unwrap();
        assert_eq!(
            again.sign(5, &root),
            note,
            "the written key is the same key"
        );
        for p in [dir.clone(), dir.with_extension("other"), copy] {
            let _ = std::fs::remove_file(p);
        }
    }
}
