//! The durable mark: the last durable tree size and its Merkle root,
//! written beside the store (at most once a second while appends go on,
//! and when the store is closed). sled's recovery reads a damaged segment
//! as a torn tail and drops it, so a damaged store would otherwise open as
//! a shorter (even empty) log; the mark and the last signed checkpoint let
//! `Store::open` refuse such a store with a clear message instead of
//! serving a log that silently lost acknowledged entries. The mark is
//! written after the sync it describes and never claims more than was
//! durable; it is not synced itself, so after a power loss it may lag
//! (weaker detection, never a false alarm).
//!
//! The last signed checkpoint is kept here too (`last-checkpoint`): the
//! store reads it at open and in the scrub, audits compare with it, and
//! the checkpoint RPCs keep it current ([`LastCheckpoint`]).

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::model::merkle::Hash;

/// The mark's file name in the data dir.
pub const MARK_FILE: &str = "durable-mark";

/// (size, root) from a mark or checkpoint body: "<origin>\n<size>\n<root>\n".
pub fn read(path: &Path) -> Option<(u64, Hash)> {
    let text = std::fs::read_to_string(path).ok()?;
    checkpoint_body(&text)
}

/// Writes the mark (a temporary file renamed over the old one).
pub fn write(dir: &Path, size: u64, root: &Hash) -> std::io::Result<()> {
    let path = dir.join(MARK_FILE);
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        format!("durable\n{size}\n{}\n", STANDARD.encode(root)),
    )?;
    std::fs::rename(&tmp, &path)
}

/// The last checkpoint the daemon signed, kept beside the store for audits.
pub const LAST_CHECKPOINT_FILE: &str = "last-checkpoint";

/// Parses the size and root of a checkpoint note (its signature is the
/// daemon's own; clients verify signatures themselves).
pub fn checkpoint_body(note: &str) -> Option<(u64, Hash)> {
    let mut lines = note.lines();
    let _origin = lines.next()?;
    let size = lines.next()?.parse().ok()?;
    let root = STANDARD.decode(lines.next()?).ok()?.try_into().ok()?;
    Some((size, root))
}

/// The latest signed checkpoint, kept beside the store for `truced audit`
/// (best effort: the log's integrity does not depend on it). Its size is
/// held in memory, so the file is read once and written only when a larger
/// checkpoint is signed.
#[derive(Debug)]
pub struct LastCheckpoint {
    path: PathBuf,
    size: Mutex<Option<u64>>,
}

impl LastCheckpoint {
    pub fn open(dir: &Path) -> Self {
        let path = dir.join(LAST_CHECKPOINT_FILE);
        let size = std::fs::read_to_string(&path)
            .ok()
            .and_then(|n| checkpoint_body(&n))
            .map(|(size, _)| size);
        Self {
            path,
            size: Mutex::new(size),
        }
    }

    pub(crate) fn keep(&self, size: u64, note: &str) {
        let Ok(mut kept) = self.size.lock() else {
            return;
        };
        if kept.is_some_and(|k| k >= size) {
            return;
        }
        let tmp = self.path.with_extension("tmp");
        match std::fs::write(&tmp, note).and_then(|()| std::fs::rename(&tmp, &self.path)) {
            Ok(()) => *kept = Some(size),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot keep the last checkpoint for audits");
            }
        }
    }
}
