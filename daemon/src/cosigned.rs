//! Checkpoints cosigned by a quorum of a cluster's replicas. Every replica
//! signs with its own key under the cluster's one origin, so their notes
//! for one size and root have the same body and differ only in their
//! signature lines; a note that carries the lines of a quorum is final.
//! This module holds the newest final note a replica has assembled (the
//! checkpoint RPC serves it, `service/proofs.rs`) and the note arithmetic
//! that assembling needs; the exchange through etcd is `cluster/cosign.rs`.

use std::sync::{Arc, RwLock};

use crate::model::merkle::Hash;

/// A checkpoint that a quorum of replicas cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Final {
    pub(crate) size: u64,
    pub(crate) root: Hash,
    /// The body and the quorum's signature lines.
    pub(crate) note: String,
    /// How many replicas' signatures it carries.
    pub(crate) signatures: usize,
}

/// The newest final checkpoint of this replica (none on a single node, or
/// before a quorum first cosigned): cheap to clone, shared by the cosigner
/// and the checkpoint RPC.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cosigned {
    latest: Arc<RwLock<Option<Final>>>,
}

impl Cosigned {
    /// The newest final checkpoint, if any.
    pub(crate) fn latest(&self) -> Option<Final> {
        self.latest.read().ok().and_then(|l| l.clone())
    }

    /// Keeps `checkpoint` if it is newer than the one held (or as large
    /// with more signatures); true when it was kept.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn offer(&self, checkpoint: Final) -> bool {
        let Ok(mut latest) = self.latest.write() else {
            return false;
        };
        let newer = latest
            .as_ref()
            .is_none_or(|l| (checkpoint.size, checkpoint.signatures) > (l.size, l.signatures));
        if newer {
            *latest = Some(checkpoint);
        }
        newer
    }
}

/// A note's body (with its final newline) and its signature lines.
pub(crate) fn split(note: &str) -> Option<(String, Vec<&str>)> {
    let (body, signatures) = note.split_once("\n\n")?;
    let lines: Vec<&str> = signatures.lines().filter(|l| !l.is_empty()).collect();
    if lines.iter().any(|l| !l.starts_with("\u{2014} ")) {
        return None;
    }
    Some((format!("{body}\n"), lines))
}

/// One note of `body` carrying every line of `lines` once, in a stable
/// order (so that every replica assembles the same text from the same
/// signatures).
pub(crate) fn combine<'a>(body: &str, lines: impl IntoIterator<Item = &'a str>) -> String {
    let mut lines: Vec<&str> = lines.into_iter().collect();
    lines.sort_unstable();
    lines.dedup();
    let mut note = format!("{body}\n");
    for line in lines {
        note.push_str(line);
        note.push('\n');
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_combined_note_has_one_body_and_each_line_once() {
        let body = "o\n3\nAAAA\n";
        let note = combine(
            body,
            ["\u{2014} o BBBB", "\u{2014} o AAAA", "\u{2014} o BBBB"],
        );
        assert_eq!(note, "o\n3\nAAAA\n\n\u{2014} o AAAA\n\u{2014} o BBBB\n");
        let (again, lines) = split(&note).expect("a note");
        assert_eq!(again, body);
        assert_eq!(lines, ["\u{2014} o AAAA", "\u{2014} o BBBB"]);
        assert!(split("o\n3\nAAAA\n\nnot a signature\n").is_none());
        assert!(split("no blank line").is_none());
    }

    #[test]
    fn only_a_newer_or_better_signed_checkpoint_replaces_the_held_one() {
        let held = Cosigned::default();
        let at = |size, signatures| Final {
            size,
            root: [0; 32],
            note: String::new(),
            signatures,
        };
        assert!(held.offer(at(5, 2)));
        assert!(!held.offer(at(4, 3)));
        assert!(!held.offer(at(5, 2)));
        assert!(held.offer(at(5, 3)));
        assert!(held.offer(at(6, 2)));
        assert_eq!(held.latest().map(|f| f.size), Some(6));
    }
}
