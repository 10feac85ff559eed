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
    #[error(
        "the checkpoint carries valid signatures by {found} of the {known} known keys, {required} required"
    )]
    Quorum {
        found: usize,
        required: usize,
        known: usize,
    },
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
    verify_cosigned(note, std::slice::from_ref(key), 1)
}

/// Checks that a signed note carries valid signatures by at least
/// `required` distinct keys of `keys` (a key given twice counts once;
/// signatures by other keys are ignored) and that its origin is the name
/// of one of them, and parses its checkpoint body. A cluster's replicas
/// sign one note under one origin, each with its own key.
pub fn verify_cosigned(
    note: &str,
    keys: &[VerifierKey],
    required: usize,
) -> Result<VerifiedCheckpoint, VerifyError> {
    let bad = |m: &str| VerifyError::Note(m.to_owned());
    let (body, signatures) = note
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line between text and signatures"))?;
    let body = format!("{body}\n");
    let mut signed_by: Vec<&VerifierKey> = Vec::new();
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(bad("a signature line does not start with an em dash"));
        };
        let Some((name, sig)) = rest.split_once(' ') else {
            return Err(bad("a signature line has no signature"));
        };
        if !keys.iter().any(|k| k.name == name) {
            continue;
        }
        let sig = STANDARD
            .decode(sig)
            .map_err(|_| bad("a signature is not base64"))?;
        if sig.len() != 68 {
            continue;
        }
        let signature = Signature::from_slice(&sig[4..]).map_err(|_| bad("bad signature bytes"))?;
        for key in keys
            .iter()
            .filter(|k| k.name == name && sig[..4] == k.key_id)
        {
            let counted = signed_by.iter().any(|k| k.key == key.key);
            if !counted && key.key.verify_strict(body.as_bytes(), &signature).is_ok() {
                signed_by.push(key);
            }
        }
    }
    if signed_by.len() < required.max(1) {
        return Err(match keys {
            [key] => VerifyError::Signature(key.name.clone()),
            _ => VerifyError::Quorum {
                found: signed_by.len(),
                required: required.max(1),
                known: keys.len(),
            },
        });
    }
    let (origin, size, root) = parse_body(&body)?;
    if !keys.iter().any(|k| k.name == origin) {
        return Err(bad("the origin is not the name of a known key"));
    }
    Ok(VerifiedCheckpoint {
        origin,
        size,
        root,
        note: note.to_owned(),
    })
}

/// A checkpoint body's origin, tree size and root.
fn parse_body(body: &str) -> Result<(String, u64, Hash), VerifyError> {
    let bad = |m: &str| VerifyError::Note(m.to_owned());
    let mut lines = body.lines();
    let origin = lines.next().ok_or_else(|| bad("no origin line"))?;
    let size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| bad("no tree size line"))?;
    let root: Hash = lines
        .next()
        .and_then(|l| STANDARD.decode(l).ok())
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| bad("no root hash line"))?;
    Ok((origin.to_owned(), size, root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    /// A key of `name` from a seed byte, as its verifier key string.
    fn key(name: &str, seed: u8) -> (SigningKey, String) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let public = signing.verifying_key().to_bytes();
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0x0a, 0x01]);
        h.update(public);
        let id = &h.finalize()[..4];
        let mut raw = vec![0x01];
        raw.extend_from_slice(&public);
        let vkey = format!("{name}+{}+{}", hex::encode(id), STANDARD.encode(raw));
        (signing, vkey)
    }

    /// The signature line of `signing` (named `name`) over `body`.
    fn line(name: &str, seed: u8, body: &str) -> String {
        let (signing, vkey) = key(name, seed);
        let parsed = VerifierKey::parse(&vkey).expect("a key");
        let mut sig = parsed.key_id.to_vec();
        sig.extend_from_slice(&signing.sign(body.as_bytes()).to_bytes());
        format!("\u{2014} {name} {}\n", STANDARD.encode(sig))
    }

    fn known(seeds: &[u8]) -> Vec<VerifierKey> {
        seeds
            .iter()
            .map(|s| VerifierKey::parse(&key("c/log", *s).1).expect("a key"))
            .collect()
    }

    const BODY: &str = "c/log\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n";

    /// A note over BODY signed by the keys of `seeds`.
    fn note(seeds: &[u8]) -> String {
        let lines: String = seeds.iter().map(|s| line("c/log", *s, BODY)).collect();
        format!("{BODY}\n{lines}")
    }

    #[test]
    fn two_of_three_known_keys_verify_and_a_missing_one_is_counted_out() {
        let note = note(&[1, 2]);
        let cp = verify_cosigned(&note, &known(&[1, 2, 3]), 2).expect("2 of 3");
        assert_eq!(
            (cp.origin.as_str(), cp.size, cp.root),
            ("c/log", 5, [7; 32])
        );
        assert_eq!(
            verify_cosigned(&note, &known(&[1, 2, 3]), 3),
            Err(VerifyError::Quorum {
                found: 2,
                required: 3,
                known: 3
            })
        );
        // Each key alone, and a key that did not sign.
        assert!(verify_checkpoint(&note, &known(&[2])[0]).is_ok());
        assert_eq!(
            verify_checkpoint(&note, &known(&[3])[0]),
            Err(VerifyError::Signature("c/log".into()))
        );
    }

    #[test]
    fn a_key_given_twice_or_signing_twice_counts_once() {
        let doubled = format!("{}{}", note(&[1]), line("c/log", 1, BODY));
        assert!(matches!(
            verify_cosigned(&doubled, &known(&[1, 1, 2]), 2),
            Err(VerifyError::Quorum { found: 1, .. })
        ));
    }

    #[test]
    fn signatures_over_another_body_or_by_unknown_keys_do_not_count() {
        let other = BODY.replace("\n5\n", "\n6\n");
        let mixed = format!(
            "{BODY}\n{}{}{}",
            line("c/log", 1, BODY),
            line("c/log", 2, &other),
            line("someone/else", 9, BODY)
        );
        assert!(matches!(
            verify_cosigned(&mixed, &known(&[1, 2]), 2),
            Err(VerifyError::Quorum { found: 1, .. })
        ));
        assert!(verify_cosigned(&mixed, &known(&[1, 2]), 1).is_ok());
        // A note whose origin names none of the keys.
        let foreign_body = BODY.replace("c/log", "x/log");
        let foreign = format!("{foreign_body}\n{}", line("c/log", 1, &foreign_body));
        assert!(matches!(
            verify_cosigned(&foreign, &known(&[1]), 1),
            Err(VerifyError::Note(_))
        ));
    }
}
