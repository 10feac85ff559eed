//! Record ids of imported ACLED events: the daemon's id charset and
//! length, and the id an ACLED `event_id_cnty` becomes. The export needs
//! it to know when a row must carry our id as a tag (`acled.rs`); the
//! command line's import gives it to the reports it creates.

use sha2::{Digest, Sha256};

/// The longest id the daemon accepts.
pub const ID_MAX: usize = 128;

/// `s` in the id charset: every other character becomes '-'.
pub fn id_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The report id of an ACLED event: `acled-<event_id_cnty>` in the id
/// charset, or `acled-<hash>` when that would pass 128 characters.
pub fn report_id(event_id: &str) -> String {
    let id = format!("acled-{}", id_chars(event_id.trim()));
    if id.len() <= ID_MAX {
        return id;
    }
    let hash = hex::encode(Sha256::digest(event_id.trim().as_bytes()));
    format!("acled-{}", hash.get(..40).unwrap_or(&hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_the_charset_and_the_length() {
        assert_eq!(report_id("UKR 12/3"), "acled-UKR-12-3");
        let long = report_id(&"x".repeat(200));
        assert!(long.len() <= ID_MAX && long.starts_with("acled-"), "{long}");
    }
}
