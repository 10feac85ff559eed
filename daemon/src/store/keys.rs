//! Key and value encodings of every store tree, in one place. Integers are
//! big-endian so that sled's byte order is numeric order.

use super::RecordKind;
use crate::model::index::Term;

/// Length of a sequence key.
pub const SEQ_LEN: usize = 8;
/// Length of a SHA-256 digest.
pub const HASH_LEN: usize = 32;

/// `entries` key: the sequence number, big-endian.
pub fn entry_key(sequence: u64) -> [u8; SEQ_LEN] {
    sequence.to_be_bytes()
}

/// Decodes an `entries` key (or any big-endian u64).
pub fn decode_seq(bytes: &[u8]) -> Option<u64> {
    let arr: [u8; SEQ_LEN] = bytes.get(..SEQ_LEN)?.try_into().ok()?;
    Some(u64::from_be_bytes(arr))
}

/// `records` key: the record kind's tag byte, then the id's bytes.
pub fn record_key(kind: RecordKind, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(kind.tag());
    key.extend_from_slice(id.as_bytes());
    key
}

/// `requests` value: sequence ‖ SHA-256 of the request without its id ‖
/// submitter (UTF-8, the rest of the value).
pub fn request_value(sequence: u64, hash: &[u8; HASH_LEN], submitter: &str) -> Vec<u8> {
    let mut value = Vec::with_capacity(SEQ_LEN + HASH_LEN + submitter.len());
    value.extend_from_slice(&sequence.to_be_bytes());
    value.extend_from_slice(hash);
    value.extend_from_slice(submitter.as_bytes());
    value
}

/// A decoded `requests` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    pub sequence: u64,
    pub hash: [u8; HASH_LEN],
    pub submitter: String,
}

/// Decodes a `requests` value; `None` if it is malformed.
pub fn decode_request_value(bytes: &[u8]) -> Option<StoredRequest> {
    let sequence = decode_seq(bytes)?;
    let hash: [u8; HASH_LEN] = bytes.get(SEQ_LEN..SEQ_LEN + HASH_LEN)?.try_into().ok()?;
    let submitter = std::str::from_utf8(bytes.get(SEQ_LEN + HASH_LEN..)?)
        .ok()?
        .to_owned();
    Some(StoredRequest {
        sequence,
        hash,
        submitter,
    })
}

/// `tree` key: a leaf index, big-endian. Its value holds the hashes of the
/// complete subtrees that appending that leaf completed, level 0 first.
pub fn tree_key(leaf_index: u64) -> [u8; 8] {
    leaf_index.to_be_bytes()
}

/// A signed integer as big-endian bytes that sort in numeric order.
fn flip64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn flip32(v: i32) -> [u8; 4] {
    ((v as u32) ^ (1 << 31)).to_be_bytes()
}

fn flip16(v: i16) -> [u8; 2] {
    ((v as u16) ^ (1 << 15)).to_be_bytes()
}

fn string(key: &mut Vec<u8>, s: &str) {
    // Ids and codes are at most a few hundred bytes; longer values are cut
    // (the query verifies every candidate anyway).
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    key.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    key.extend_from_slice(bytes);
}

/// The `indexes` key prefix of a term: a tag byte, then the value
/// (strings length-prefixed, integers big-endian with the sign bit
/// flipped, times as flipped seconds then nanos).
pub fn term_prefix(term: &Term) -> Vec<u8> {
    let mut k = Vec::with_capacity(24);
    match term {
        Term::AllReports => k.push(0x01),
        Term::ReportAgreement(s) => {
            k.push(0x02);
            string(&mut k, s);
        }
        Term::Perpetrator(s) => {
            k.push(0x03);
            string(&mut k, s);
        }
        Term::ReportedBy(s) => {
            k.push(0x04);
            string(&mut k, s);
        }
        Term::EventType(v) => {
            k.push(0x05);
            k.extend_from_slice(&flip32(*v));
        }
        Term::TargetClass(v) => {
            k.push(0x06);
            k.extend_from_slice(&flip32(*v));
        }
        Term::Evidence(v) => {
            k.push(0x07);
            k.extend_from_slice(&flip32(*v));
        }
        Term::Country(s) => {
            k.push(0x08);
            string(&mut k, s);
        }
        Term::Admin1(s) => {
            k.push(0x09);
            string(&mut k, s);
        }
        Term::OccurredHour(hour) => {
            k.push(OCCURRED_HOUR_TAG);
            k.extend_from_slice(&flip64(*hour));
        }
        Term::Cell(lat, lon) => {
            k.push(0x0b);
            k.extend_from_slice(&flip16(*lat));
            k.extend_from_slice(&flip16(*lon));
        }
        Term::AllAgreements => k.push(0x21),
        Term::Party(s) => {
            k.push(0x22);
            string(&mut k, s);
        }
        Term::AgreementStatus(v) => {
            k.push(0x23);
            k.extend_from_slice(&flip32(*v));
        }
    }
    k
}

/// The tag byte that starts every OccurredHour key (0x0a was format 2's
/// exact occurred.start).
const OCCURRED_HOUR_TAG: u8 = 0x0c;

/// The `[from, to)` term-prefix range of index keys holding every report
/// whose occurred.start may lie in `[since, until)` (seconds since 1970;
/// `None` is open): whole hours, so a superset the caller verifies.
pub fn occurred_range(since: Option<i64>, until: Option<i64>) -> (Vec<u8>, Vec<u8>) {
    let from = since.map_or(vec![OCCURRED_HOUR_TAG], |s| {
        term_prefix(&Term::OccurredHour(crate::model::index::occurred_hour(s)))
    });
    let to = until.map_or(vec![OCCURRED_HOUR_TAG + 1], |u| {
        // An until with nanos lies inside its second's hour: the next
        // hour's prefix bounds it either way.
        term_prefix(&Term::OccurredHour(
            crate::model::index::occurred_hour(u).saturating_add(1),
        ))
    });
    (from, to)
}

/// An `indexes` key: the term's prefix, then the creating sequence.
pub fn index_key(term: &Term, sequence: u64) -> Vec<u8> {
    let mut k = term_prefix(term);
    k.extend_from_slice(&sequence.to_be_bytes());
    k
}

/// The creating sequence at the end of an `indexes` key.
pub fn index_key_sequence(key: &[u8]) -> Option<u64> {
    decode_seq(key.get(key.len().checked_sub(SEQ_LEN)?..)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_sort_by_value_then_sequence() {
        let before_1970 = index_key(&Term::OccurredHour(-24), 9);
        let after_1970 = index_key(&Term::OccurredHour(24), 1);
        assert!(before_1970 < after_1970, "times sort across 1970");
        let a = index_key(&Term::Perpetrator("UA".into()), 300);
        let b = index_key(&Term::Perpetrator("UA".into()), 1000);
        assert!(a < b);
        assert!(a.starts_with(&term_prefix(&Term::Perpetrator("UA".into()))));
        // Length prefixes keep "U" from matching "UA".
        assert!(!a.starts_with(&term_prefix(&Term::Perpetrator("U".into()))));
        assert_eq!(index_key_sequence(&b), Some(1000));
        assert!(index_key(&Term::Cell(-1, 5), 1) < index_key(&Term::Cell(0, 5), 1));
    }

    #[test]
    fn sequence_keys_sort_numerically() {
        assert!(entry_key(255) < entry_key(256));
        assert!(entry_key(1) < entry_key(u64::MAX));
        assert_eq!(decode_seq(&entry_key(42)), Some(42));
    }

    #[test]
    fn request_values_round_trip() {
        let hash = [7u8; HASH_LEN];
        let value = request_value(9, &hash, "local");
        let decoded = decode_request_value(&value);
        assert_eq!(
            decoded,
            Some(StoredRequest {
                sequence: 9,
                hash,
                submitter: "local".into()
            })
        );
        assert_eq!(decode_request_value(&value[..10]), None);
    }

    #[test]
    fn record_keys_are_separated_by_kind() {
        assert_ne!(
            record_key(RecordKind::Agreement, "x"),
            record_key(RecordKind::Report, "x")
        );
    }
}
