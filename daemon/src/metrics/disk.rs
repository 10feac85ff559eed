//! The store's size on disk for the `truce_store_size_bytes` gauge: a walk
//! of the data dir at scrape time, bounded in depth and files so a scrape
//! stays cheap whatever lands in the directory.

use std::path::Path;

/// Directories deeper than this under the data dir are not counted
/// (`store/blobs/` is at depth 2).
const MAX_DEPTH: usize = 4;
/// At most this many entries are looked at.
const MAX_ENTRIES: usize = 100_000;

/// Bytes of the regular files under `dir` (symlinks not followed);
/// unreadable entries count as 0.
pub fn size(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut seen = 0usize;
    let mut stack = vec![(dir.to_owned(), 0usize)];
    while let Some((path, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return total;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_file() {
                total = total.saturating_add(meta.len());
            } else if meta.is_dir() && depth < MAX_DEPTH {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_nested_files_and_stops_at_the_depth_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a"), [0u8; 10]).expect("write");
        let nested = dir.path().join("x/y");
        std::fs::create_dir_all(&nested).expect("mkdir");
        std::fs::write(nested.join("b"), [0u8; 5]).expect("write");
        let deep = dir.path().join("1/2/3/4/5/6");
        std::fs::create_dir_all(&deep).expect("mkdir");
        std::fs::write(deep.join("c"), [0u8; 1000]).expect("write");
        assert_eq!(super::size(dir.path()), 15);
        assert_eq!(super::size(&dir.path().join("missing")), 0);
    }
}
