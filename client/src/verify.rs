//! Verification on the client's side, with its own code (it never takes
//! the daemon's word): RFC 9162 inclusion and consistency proof checks,
//! and C2SP signed-note checkpoints checked against a pinned Ed25519
//! verifier key (`<name>+<hex key id>+<base64(0x01 ‖ public key)>`).

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("bad verifier key: {0}")]
    Key(String),
    #[error("malformed checkpoint: {0}")]
    Note(String),
    #[error("the checkpoint carries no valid signature by {0}")]
    Signature(String),
    #[error("inclusion proof does not verify: {0}")]
    Inclusion(String),
    #[error("consistency proof does not verify: {0}")]
    Consistency(String),
}

pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn hashes(proof: &[Vec<u8>]) -> Result<Vec<Hash>, String> {
    proof
        .iter()
        .map(|p| {
            Hash::try_from(p.as_slice()).map_err(|_| "a proof hash is not 32 bytes".to_owned())
        })
        .collect()
}

/// RFC 9162 2.1.3.2: does `proof` show leaf `index` with `leaf` hash in
/// the tree of `size` leaves with `root`?
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Vec<u8>],
    root: &Hash,
) -> Result<(), VerifyError> {
    let fail = |m: &str| VerifyError::Inclusion(m.to_owned());
    if index >= size {
        return Err(fail("leaf index past the tree size"));
    }
    let proof = hashes(proof).map_err(|m| fail(&m))?;
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in &proof {
        if s == 0 {
            return Err(fail("proof too long"));
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(fail("proof too short"));
    }
    if &r != root {
        return Err(fail("the computed root differs"));
    }
    Ok(())
}

/// RFC 9162 2.1.4.2: does `proof` show the tree of `first` leaves with
/// `first_root` is a prefix of the tree of `second` leaves with
/// `second_root`?
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Vec<u8>],
) -> Result<(), VerifyError> {
    let fail = |m: &str| VerifyError::Consistency(m.to_owned());
    if first > second {
        return Err(fail("the first tree is larger than the second"));
    }
    if first == second {
        return if proof.is_empty() && first_root == second_root {
            Ok(())
        } else {
            Err(fail("same size, different roots"))
        };
    }
    if first == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(fail("a proof from the empty tree must be empty"))
        };
    }
    let mut proof = hashes(proof).map_err(|m| fail(&m))?;
    if first.is_power_of_two() {
        proof.insert(0, *first_root);
    }
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let Some((first_hash, rest)) = proof.split_first() else {
        return Err(fail("empty proof"));
    };
    let (mut fr, mut sr) = (*first_hash, *first_hash);
    for c in rest {
        if s == 0 {
            return Err(fail("proof too long"));
        }
        if f & 1 == 1 || f == s {
            fr = node(c, &fr);
            sr = node(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(fail("proof too short"));
    }
    if &fr != first_root || &sr != second_root {
        return Err(fail("the computed roots differ"));
    }
    Ok(())
}

/// A pinned verifier key.
#[derive(Debug, Clone)]
pub struct VerifierKey {
    pub name: String,
    pub key_id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// Parses `<name>+<hex key id>+<base64(0x01 ‖ public key)>` and checks
    /// that the key id matches the name and key.
    pub fn parse(vkey: &str) -> Result<Self, VerifyError> {
        let bad = |m: &str| VerifyError::Key(m.to_owned());
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<key id>+<key>"));
        };
        let id = hex::decode(id).map_err(|_| bad("the key id is not hex"))?;
        let key_id: [u8; 4] = id
            .try_into()
            .map_err(|_| bad("the key id is not 4 bytes"))?;
        let raw = STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let (alg, public) = raw.split_first().ok_or_else(|| bad("empty key"))?;
        if *alg != 0x01 {
            return Err(bad("not an Ed25519 key"));
        }
        let public: [u8; 32] = public.try_into().map_err(|_| bad("not a 32-byte key"))?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid Ed25519 key"))?;
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0x0a, 0x01]);
        h.update(public);
        let expected: [u8; 4] = h.finalize()[..4].try_into().map_err(|_| bad("hash"))?;
        if expected != key_id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id,
            key,
        })
    }
}

/// A checkpoint whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The signed note as received.
    pub note: String,
}

/// Checks a signed note against the pinned key (signatures by other keys
/// are ignored, as C2SP asks) and parses its checkpoint body.
pub fn verify_checkpoint(note: &str, key: &VerifierKey) -> Result<VerifiedCheckpoint, VerifyError> {
    let bad = |m: &str| VerifyError::Note(m.to_owned());
    let (body, signatures) = note
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line between text and signatures"))?;
    let body = format!("{body}\n");
    let mut verified = false;
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(bad("a signature line does not start with an em dash"));
        };
        let Some((name, sig)) = rest.split_once(' ') else {
            return Err(bad("a signature line has no signature"));
        };
        if name != key.name {
            continue;
        }
        let sig = STANDARD
            .decode(sig)
            .map_err(|_| bad("a signature is not base64"))?;
        if sig.len() != 68 || sig[..4] != key.key_id {
            continue;
        }
        let signature = Signature::from_slice(&sig[4..]).map_err(|_| bad("bad signature bytes"))?;
        if key.key.verify_strict(body.as_bytes(), &signature).is_ok() {
            verified = true;
        }
    }
    if !verified {
        return Err(VerifyError::Signature(key.name.clone()));
    }
    let mut lines = body.lines();
    let origin = lines.next().ok_or_else(|| bad("no origin line"))?;
    if origin != key.name {
        return Err(bad("the origin is not the key's name"));
    }
    let size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| bad("no tree size line"))?;
    let root: Hash = lines
        .next()
        .and_then(|l| STANDARD.decode(l).ok())
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| bad("no root hash line"))?;
    Ok(VerifiedCheckpoint {
        origin: origin.to_owned(),
        size,
        root,
        note: note.to_owned(),
    })
}
