//! Rewriting an entry inside the entry log's segment files the way an
//! attacker with write access to the data dir would: same length, every
//! frame's CRC and the CRC chain recomputed, so that every frame check
//! still passes. Written from the documented frame format (ARCHITECTURE.md,
//! "The entry log"), not with the daemon's code, so that it can be used
//! on a log a running daemon holds open.

use std::{
    fs::File,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

const HEADER: usize = 20;

fn crc(seq: u64, prev: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&prev.to_le_bytes());
    h.update(bytes);
    h.finalize()
}

fn u32_at(h: &[u8; HEADER], at: usize) -> u32 {
    u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

/// The segment files of `data_dir`'s log, in order.
fn segments(data_dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))
        .expect("log dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "log")
                && p.file_stem().is_some_and(|s| s.len() == 20)
        })
        .collect();
    out.sort();
    out
}

/// Changes entry `sequence`'s bytes with `change` (in place: the length
/// stays) and recomputes the CRC of that frame and of every later one.
/// Returns the entry's bytes before and after.
pub fn rewrite_entry(
    data_dir: &Path,
    sequence: u64,
    change: impl FnOnce(&mut [u8]),
) -> (Vec<u8>, Vec<u8>) {
    let mut change = Some(change);
    let mut result = None;
    let mut prev_crc: Option<u32> = None;
    for path in segments(data_dir) {
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .expect("segment");
        let len = file.metadata().expect("metadata").len();
        let mut offset = 0u64;
        while offset + HEADER as u64 <= len {
            let mut h = [0u8; HEADER];
            file.read_exact_at(&mut h, offset).expect("header");
            let size = u32_at(&h, 0) as usize;
            let seq = u64::from_le_bytes(h[4..12].try_into().expect("8 bytes"));
            if size == 0 || seq == 0 {
                break;
            }
            let mut bytes = vec![0u8; size];
            file.read_exact_at(&mut bytes, offset + HEADER as u64)
                .expect("frame");
            if seq == sequence {
                let before = bytes.clone();
                (change.take().expect("one entry per sequence"))(&mut bytes);
                result = Some((before, bytes.clone()));
            }
            let prev = u32_at(&h, 12);
            if result.is_some() {
                // From the changed frame on: the chain is recomputed.
                let prev = if seq == sequence {
                    prev
                } else {
                    prev_crc.unwrap_or(prev)
                };
                let c = crc(seq, prev, &bytes);
                h[12..16].copy_from_slice(&prev.to_le_bytes());
                h[16..20].copy_from_slice(&c.to_le_bytes());
                file.write_all_at(&h, offset).expect("header write");
                file.write_all_at(&bytes, offset + HEADER as u64)
                    .expect("frame write");
                prev_crc = Some(c);
            }
            offset += (HEADER + size) as u64;
        }
        file.sync_all().expect("sync");
    }
    result.unwrap_or_else(|| panic!("entry {sequence} is not in the log"))
}

/// Flips the case of one ASCII letter in the second half of `bytes` (text
/// inside the entry: the record still decodes, with other content).
pub fn flip_a_letter(bytes: &mut [u8]) {
    let at = (bytes.len() / 2..bytes.len())
        .chain(0..bytes.len() / 2)
        .find(|&i| bytes[i].is_ascii_alphabetic())
        .expect("an entry holds some text");
    bytes[at] ^= 0x20;
}
