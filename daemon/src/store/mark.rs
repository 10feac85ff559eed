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

use std::path::Path;

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::merkle::Hash;

/// The mark's file name in the data dir.
pub const MARK_FILE: &str = "durable-mark";

/// (size, root) from a mark or checkpoint body: "<origin>\n<size>\n<root>\n".
pub fn read(path: &Path) -> Option<(u64, Hash)> {
    let text = std::fs::read_to_string(path).ok()?;
    crate::audit::checkpoint_body(&text)
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
