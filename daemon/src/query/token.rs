//! Opaque page tokens: base64url of a `PageToken` message holding the
//! sequence the query is answered at, where to resume, and the filter's
//! hash.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use prost::Message;
use truce_proto::v1::PageToken;

use crate::error::Error;

pub fn encode(as_of: u64, after: u64, hash: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(
        PageToken {
            as_of_sequence: as_of,
            after_sequence: after,
            filter_hash: hash.to_vec(),
        }
        .encode_to_vec(),
    )
}

/// (as_of, after) of a token; an empty token starts at the durable
/// sequence from the beginning.
pub fn decode(token: &str, hash: &[u8; 32], durable: u64) -> Result<(u64, u64), Error> {
    if token.is_empty() {
        return Ok((durable, 0));
    }
    let bad = |why: &str| Error::invalid("page_token", why.to_owned());
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad("is not a page token from this server"))?;
    let t = PageToken::decode(bytes.as_slice())
        .map_err(|_| bad("is not a page token from this server"))?;
    if t.filter_hash != hash {
        return Err(bad("belongs to a query with other filters"));
    }
    if t.as_of_sequence > durable {
        return Err(bad("is ahead of this log"));
    }
    Ok((t.as_of_sequence, t.after_sequence))
}
