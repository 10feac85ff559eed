//! Bearer tokens: the hashed tokens of the config file, the lookup of a
//! presented token, and `truced token new`. Only SHA-256 hashes are kept
//! (in the file and in memory); a token is shown once, when it is made.

use std::{collections::HashMap, sync::Arc};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::Role;
use crate::error::Error;

/// A token as configured: `[[token]] name = …, role = …, sha256 = …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    pub sha256: [u8; 32],
}

/// What a known token stands for.
#[derive(Debug, Clone)]
pub struct Known {
    pub name: Arc<str>,
    pub role: Role,
}

/// The configured tokens, by hash.
#[derive(Debug)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], Known>,
}

impl Tokens {
    pub fn new(entries: &[TokenEntry]) -> Self {
        let by_hash = entries
            .iter()
            .map(|t| {
                (
                    t.sha256,
                    Known {
                        name: Arc::from(t.name.as_str()),
                        role: t.role,
                    },
                )
            })
            .collect();
        Self { by_hash }
    }

    /// The token's entry, if it is one of ours. Looked up by its hash, so
    /// the comparison never touches the secret itself.
    pub fn find(&self, token: &str) -> Option<&Known> {
        self.by_hash.get(&hash(token))
    }
}

/// SHA-256 of a token's bytes.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of an `authorization: Bearer <token>` header.
pub fn bearer(header: Option<&http::HeaderValue>) -> Result<&str, Error> {
    let header = header.ok_or_else(|| {
        Error::Unauthenticated(
            "a bearer token is required (authorization: Bearer <token>; truce --token or TRUCE_TOKEN)"
                .into(),
        )
    })?;
    let value = header
        .to_str()
        .map_err(|_| Error::Unauthenticated("the authorization header is not ASCII".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim())
        }
        _ => Err(Error::Unauthenticated(
            "the authorization header is not \"Bearer <token>\"".into(),
        )),
    }
}

/// Token names share the rules of ids: 1 to 128 of `[A-Za-z0-9._:-]`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if !ok {
        return Err(format!(
            "{name:?} is not a token name (1 to 128 of A-Z a-z 0-9 . _ : -)"
        ));
    }
    if name == super::ANONYMOUS {
        return Err(format!(
            "{name:?} is reserved for callers of a daemon without tokens"
        ));
    }
    Ok(())
}

/// Parses a token hash as written in the config file (64 hex digits).
pub fn parse_hash(hex_digits: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(hex_digits.trim())
        .map_err(|_| format!("{hex_digits:?} is not 64 hex digits"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{hex_digits:?} is not 64 hex digits"))
}

/// A fresh token: `truce_` and 256 random bits, base64url.
pub fn generate() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!(
        "truce_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The config lines that admit a token (its hash only).
pub fn config_lines(name: &str, role: Role, token: &str) -> String {
    format!(
        "[[token]]\nname = {name:?}\nrole = {:?}\nsha256 = {:?}\n",
        role.name(),
        hex::encode(hash(token))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_is_found_by_its_configured_hash() {
        let token = generate().unwrap();
        assert!(token.starts_with("truce_") && token.len() > 40, "{token}");
        assert_ne!(token, generate().unwrap());
        let lines = config_lines("m-1", Role::Reporter, &token);
        let sha = lines
            .lines()
            .find_map(|l| l.strip_prefix("sha256 = "))
            .unwrap()
            .trim_matches('"');
        let tokens = Tokens::new(&[TokenEntry {
            name: "m-1".into(),
            role: Role::Reporter,
            sha256: parse_hash(sha).unwrap(),
        }]);
        let found = tokens.find(&token).unwrap();
        assert_eq!((found.name.as_ref(), found.role), ("m-1", Role::Reporter));
        assert!(tokens.find("truce_other").is_none());
        assert!(!lines.contains(&token), "the config holds no token");
    }

    #[test]
    fn bearer_headers() {
        let h = |s: &str| http::HeaderValue::from_str(s).unwrap();
        assert_eq!(bearer(Some(&h("Bearer abc"))).unwrap(), "abc");
        assert_eq!(bearer(Some(&h("bearer abc"))).unwrap(), "abc");
        for bad in ["abc", "Basic abc", "Bearer "] {
            assert!(bearer(Some(&h(bad))).is_err(), "{bad}");
        }
        assert!(bearer(None).is_err());
    }

    #[test]
    fn names_and_hashes() {
        assert!(check_name("monitor-1").is_ok());
        for bad in ["", "a b", "anonymous", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(parse_hash(&"ab".repeat(32)).is_ok());
        assert!(parse_hash("abc").is_err());
        assert!(parse_hash(&"zz".repeat(32)).is_err());
    }
}
