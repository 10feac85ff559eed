//! The pure domain: what a record is and what an entry implies, with no
//! storage, no I/O and no clock. Everything above builds on it: the store
//! turns what [`derive`] and [`project`] compute into rows, the commit
//! pipeline and reindex call the same functions, and the read side uses
//! [`scope`] and [`index`] to answer questions. Nothing here imports a
//! module outside `model`.
//!
//! - [`derive`]: the record an entry creates and its idempotency key;
//! - [`project`]: views as projections of the log;
//! - [`index`]: the query index terms of a view;
//! - [`scope`]: a report against an agreement, per reading of its start;
//! - [`merkle`]: RFC 6962 tree math;
//! - [`time`] and [`geo`]: timestamps and bounding boxes;
//! - [`decode_entry`]: a stored entry's bytes back into an `Entry`.

pub mod derive;
pub mod geo;
pub mod index;
pub mod merkle;
pub mod project;
pub mod scope;
pub mod time;

use prost::Message;
use truce_proto::v1::Entry;

/// Stored bytes that do not decode as a `truce.v1.Entry`: the store is not
/// a log of entries this daemon wrote.
#[derive(Debug, thiserror::Error)]
#[error("entry {sequence} is undecodable: {source}")]
pub struct UndecodableEntry {
    pub sequence: u64,
    pub source: prost::DecodeError,
}

/// Decodes the stored bytes of entry `sequence`: the one place the daemon
/// turns entry bytes back into an `Entry`.
pub fn decode_entry(sequence: u64, bytes: &[u8]) -> Result<Entry, UndecodableEntry> {
    Entry::decode(bytes).map_err(|source| UndecodableEntry { sequence, source })
}

/// The kinds of record that have their own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Agreement,
    Report,
    Claim,
}

impl RecordKind {
    /// The tag byte that prefixes this kind's keys in `records`.
    pub fn tag(self) -> u8 {
        match self {
            Self::Agreement => 1,
            Self::Report => 2,
            Self::Claim => 3,
        }
    }

    /// The kind's name, as used in server-assigned ids and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Agreement => "agreement",
            Self::Report => "report",
            Self::Claim => "claim",
        }
    }
}
