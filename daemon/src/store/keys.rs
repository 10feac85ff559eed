//! Key and value encodings of every store tree, in one place. Integers are
//! big-endian so that sled's byte order is numeric order.

use super::RecordKind;

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

#[cfg(test)]
mod tests {
    use super::*;

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
