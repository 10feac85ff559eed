//! The entry log: the one copy of every entry's bytes, in segment files of
//! our own under `<data-dir>/log/`, so that a group of appends costs one
//! write and one `fdatasync` and nothing else.
//!
//! Segments are created at their full size and filled with zeros, then
//! synced, before the first frame goes in (a spare is prepared in the
//! background): an append writes over blocks the file already has, so its
//! `fdatasync` changes no metadata (no size, no extent) and is one device
//! round trip. A segment is named by the sequence of its first frame.
//! The first is 1 MiB and each next one twice the last, up to the
//! configured size, so that a small store stays small.
//!
//! A frame is `len u32 LE ‖ seq u64 LE ‖ prev u32 LE ‖ crc u32 LE ‖ bytes`,
//! where `crc` is CRC-32 over `seq ‖ prev ‖ bytes` and `prev` is the crc of
//! the frame before it (0 for the first). A read checks its frame's own
//! crc; a scan also checks the chain, so a frame left over from a write
//! that never completed (after a crash, behind a shorter frame written
//! since) can never pass for the next entry. The log ends at the first
//! frame that does not check, in its segment or at the start of the next.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufReader, Read, Seek, SeekFrom},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    thread::JoinHandle,
};

use super::{StoreError, io_err};

/// The log's directory under the data dir.
pub const LOG_DIR: &str = "log";
/// The largest segment size unless configured.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The first segment's size, and the smallest allowed (a frame of the
/// largest entry must fit in one).
pub const MIN_SEGMENT_BYTES: u64 = 1024 * 1024;
const HEADER: usize = 20;
/// Larger than any entry the writer accepts; guards a scan against a
/// length read from garbage.
const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
const SPARE: &str = "spare";
/// Appended to the name of a segment set aside at open.
const DISCARDED: &str = ".discarded";
const ZEROS: usize = 1024 * 1024;

fn segment_name(first: u64) -> String {
    format!("{first:020}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn crc(seq: u64, prev: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&prev.to_le_bytes());
    h.update(bytes);
    h.finalize()
}

/// A frame header as read.
#[derive(Debug, Clone, Copy)]
struct Header {
    len: usize,
    seq: u64,
    prev: u32,
    crc: u32,
}

impl Header {
    fn parse(b: &[u8; HEADER]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&b[4..12]);
        Self {
            len: u32_at(0) as usize,
            seq: u64::from_le_bytes(seq),
            prev: u32_at(12),
            crc: u32_at(16),
        }
    }
}

fn encode_frame(out: &mut Vec<u8>, seq: u64, prev: u32, bytes: &[u8]) -> u32 {
    let c = crc(seq, prev, bytes);
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&prev.to_le_bytes());
    out.extend_from_slice(&c.to_le_bytes());
    out.extend_from_slice(bytes);
    c
}

/// Reads the frame of a sequence at an offset (an earlier one, during a
/// scan).
pub(super) type ReadFrame<'a> = &'a dyn Fn(u64, u64) -> Result<Vec<u8>, StoreError>;

/// A frame found by a scan: its sequence, offset in its segment, bytes,
/// and a reader of the frames before it.
pub(super) struct Scanned<'a> {
    pub seq: u64,
    pub offset: u64,
    pub bytes: &'a [u8],
    pub read: ReadFrame<'a>,
}

/// Where a scan starts: after the frame of `seq` at `offset`, the last
/// one the derived trees hold.
#[derive(Debug, Clone, Copy)]
pub(super) struct After {
    pub seq: u64,
    pub offset: u64,
}

/// The scan could not start where the derived trees say they end: the
/// log lost entries they hold (or they are damaged).
#[derive(Debug)]
pub(super) struct Behind(pub String);

/// The writer's position.
struct Tail {
    file: Arc<File>,
    path: PathBuf,
    len: u64,
    /// Where the next frame goes.
    offset: u64,
    next: u64,
    prev: u32,
    /// Frames appended and not yet written, starting at `buf_at`.
    buf: Vec<u8>,
    buf_at: u64,
    /// Segments left behind since the last sync, written, not synced.
    left: Vec<(Arc<File>, PathBuf)>,
}

pub(super) struct Log {
    dir: PathBuf,
    segment_bytes: u64,
    segments: RwLock<BTreeMap<u64, Arc<File>>>,
    tail: Mutex<Tail>,
    spare: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

/// The segment files in `dir` by their first sequence (an interrupted
/// preparation removed; the first segment made when there is none and the
/// derived trees expect none).
fn segment_paths(
    dir: &Path,
    after: Option<After>,
) -> Result<Result<BTreeMap<u64, PathBuf>, Behind>, StoreError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut paths = BTreeMap::new();
    for item in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        if let Some(first) = parse_segment_name(&name) {
            paths.insert(first, item.path());
        } else if name.ends_with(".tmp") {
            // A segment whose preparation was interrupted.
            let _ = std::fs::remove_file(item.path());
        }
    }
    if paths.is_empty() {
        if let Some(a) = after {
            return Ok(Err(Behind(format!(
                "the entry log is empty but the indexes hold entry {}",
                a.seq
            ))));
        }
        let path = dir.join(segment_name(1));
        create_segment(dir, &path, MIN_SEGMENT_BYTES)?;
        paths.insert(1, path);
    }
    Ok(Ok(paths))
}

/// Where the scan starts: after the frame `after` names, or at the log's
/// start.
fn scan_start(
    after: Option<After>,
    paths: &BTreeMap<u64, PathBuf>,
    segments: &BTreeMap<u64, Arc<File>>,
) -> Result<Result<ScanAt, Behind>, StoreError> {
    let Some(a) = after else {
        if paths.keys().next() != Some(&1) {
            return Err(StoreError::Corrupt(
                "the entry log does not start at 1".into(),
            ));
        }
        return Ok(Ok(ScanAt {
            first: 1,
            offset: 0,
            next: 1,
            prev: 0,
        }));
    };
    let Some((&first, file)) = segments.range(..=a.seq).next_back() else {
        return Ok(Err(Behind(format!("no segment holds entry {}", a.seq))));
    };
    Ok(match read_frame(file, a.offset, a.seq) {
        Ok((h, _)) => Ok(ScanAt {
            first,
            offset: a.offset + (HEADER + h.len) as u64,
            next: a.seq + 1,
            prev: h.crc,
        }),
        Err(e) => Err(Behind(e)),
    })
}

/// Scans from `at` to the log's end, segment after segment, handing each
/// frame to `found`; returns where the log ends.
fn scan_to_end(
    segments: &BTreeMap<u64, Arc<File>>,
    paths: &BTreeMap<u64, PathBuf>,
    mut at: ScanAt,
    found: &mut dyn FnMut(Scanned<'_>) -> Result<(), StoreError>,
) -> Result<ScanAt, StoreError> {
    let read = |seq: u64, offset: u64| read_in(segments, seq, offset);
    loop {
        let Some(file) = segments.get(&at.first) else {
            return Err(StoreError::Corrupt(format!(
                "segment {} vanished",
                at.first
            )));
        };
        let path = &paths[&at.first];
        let (end, chain) = scan_segment(file, path, at.offset, at.next, at.prev, &read, found)?;
        (at.offset, at.next, at.prev) = (end.offset, end.next, chain);
        // The log goes on in the next segment if its first frame
        // continues the chain.
        let Some(following) = segments.get(&at.next) else {
            return Ok(at);
        };
        match read_frame(following, 0, at.next) {
            Ok((h, _)) if h.prev == at.prev => {
                at.first = at.next;
                at.offset = 0;
            }
            _ => return Ok(at),
        }
    }
}

/// Segments after the one the log ends in hold nothing it keeps: a
/// segment made just before a crash, never written, is removed. One with
/// frames means the log broke off before it (a damaged frame), so it may
/// hold acknowledged entries: it is set aside, never deleted, and the
/// marks check then refuses the store.
fn set_aside_past_the_end(
    segments: &mut BTreeMap<u64, Arc<File>>,
    paths: &BTreeMap<u64, PathBuf>,
    last: u64,
) -> Result<(), StoreError> {
    let stale: Vec<u64> = segments.range(last + 1..).map(|(k, _)| *k).collect();
    for k in stale {
        let (Some(file), Some(p)) = (segments.remove(&k), paths.get(&k)) else {
            continue;
        };
        let mut head = [0u8; HEADER];
        let written = file.read_exact_at(&mut head, 0).is_ok() && head != [0u8; HEADER];
        if written {
            let mut aside = p.as_os_str().to_owned();
            aside.push(DISCARDED);
            tracing::warn!(segment = %p.display(), "entry log: a segment after the end of the log holds frames; set aside");
            std::fs::rename(p, &aside).map_err(io_err(p))?;
        } else {
            std::fs::remove_file(p).map_err(io_err(p))?;
        }
    }
    Ok(())
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Corrupt("the entry log's lock is poisoned".into())
}

/// Where a scan is: the segment (by its first sequence), the offset in
/// it, the next sequence and the crc the next frame chains to.
#[derive(Debug, Clone, Copy)]
struct ScanAt {
    first: u64,
    offset: u64,
    next: u64,
    prev: u32,
}

impl Log {
    /// Opens the log in `dir` (creating it with its first segment), scans
    /// it from `after` (or from its start) to its end and hands every
    /// frame found to `found`. Segments past the end are removed.
    pub(super) fn open(
        dir: &Path,
        segment_bytes: u64,
        after: Option<After>,
        found: &mut dyn FnMut(Scanned<'_>) -> Result<(), StoreError>,
    ) -> Result<Result<Self, Behind>, StoreError> {
        let paths = match segment_paths(dir, after)? {
            Ok(paths) => paths,
            Err(behind) => return Ok(Err(behind)),
        };
        let mut segments = BTreeMap::new();
        for (first, path) in &paths {
            let file = File::options()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io_err(path))?;
            segments.insert(*first, Arc::new(file));
        }
        let start = match scan_start(after, &paths, &segments)? {
            Ok(start) => start,
            Err(behind) => return Ok(Err(behind)),
        };
        // What the scan finds is derived into rows a seal may put in sled:
        // a frame written before a crash but never synced is synced first,
        // so sled never holds a row the log could still lose.
        for (k, file) in segments.range(start.first..) {
            sync_scanned(file, &paths[k])?;
        }
        let end = scan_to_end(&segments, &paths, start, found)?;
        set_aside_past_the_end(&mut segments, &paths, end.first)?;
        let file = Arc::clone(&segments[&end.first]);
        let path = paths[&end.first].clone();
        let len = file.metadata().map_err(io_err(&path))?.len();
        let log = Self {
            dir: dir.to_owned(),
            segment_bytes: segment_bytes.max(MIN_SEGMENT_BYTES),
            segments: RwLock::new(segments),
            tail: Mutex::new(Tail {
                file,
                path,
                len,
                offset: end.offset,
                next: end.next,
                prev: end.prev,
                buf: Vec::new(),
                buf_at: end.offset,
                left: Vec::new(),
            }),
            spare: Mutex::new(None),
        };
        log.prepare_spare(log.next_size(len));
        Ok(Ok(log))
    }

    /// The last sequence appended (written or not).
    pub(super) fn last(&self) -> Result<u64, StoreError> {
        Ok(self.tail.lock().map_err(poisoned)?.next - 1)
    }

    /// Adds a frame for `seq` to the writer's buffer and returns its
    /// offset in its segment. Starts a new segment when it does not fit.
    pub(super) fn append(&self, seq: u64, bytes: &[u8]) -> Result<u64, StoreError> {
        let mut t = self.tail.lock().map_err(poisoned)?;
        if seq != t.next {
            return Err(StoreError::Corrupt(format!(
                "entry {seq} appended where {} was expected",
                t.next
            )));
        }
        let size = (HEADER + bytes.len()) as u64;
        if t.offset + size > t.len {
            self.rotate(&mut t, size)?;
        }
        let prev = t.prev;
        let at = t.offset;
        t.prev = encode_frame(&mut t.buf, seq, prev, bytes);
        t.offset += size;
        t.next += 1;
        Ok(at)
    }

    /// The bytes of segment files the log will allocate at its next
    /// rotations: the next segment, unless a spare of its size is ready
    /// (the bytes the next rotation cannot do without), and the spare
    /// made right after it (whose failure is only logged). Space checks
    /// count them, so that a rotation never takes the filesystem under
    /// its margin.
    pub(super) fn space_ahead(&self) -> Result<(u64, u64), StoreError> {
        let next = self.next_size(self.tail.lock().map_err(poisoned)?.len);
        let ready = std::fs::metadata(self.dir.join(SPARE)).is_ok_and(|m| m.len() == next)
            && self
                .spare
                .lock()
                .map_err(poisoned)?
                .as_ref()
                .is_none_or(JoinHandle::is_finished);
        Ok((if ready { 0 } else { next }, self.next_size(next)))
    }

    /// Writes what was appended since the last write.
    pub(super) fn write(&self) -> Result<(), StoreError> {
        let mut t = self.tail.lock().map_err(poisoned)?;
        write_buffer(&mut t)
    }

    /// fdatasync of every segment written since the last sync. The tail
    /// is not locked during the syncs: the writer appends and writes the
    /// next group meanwhile (whatever of it the sync takes along is
    /// synced again by the next one). After a failure the segments not
    /// yet synced are forgotten here: writes stop, and the next open
    /// syncs what it scans.
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        let (left, file, path) = {
            let mut t = self.tail.lock().map_err(poisoned)?;
            (
                std::mem::take(&mut t.left),
                Arc::clone(&t.file),
                t.path.clone(),
            )
        };
        for (f, p) in left {
            f.sync_data().map_err(io_err(&p))?;
        }
        file.sync_data().map_err(io_err(&path))
    }

    /// The bytes of the frame of `seq` at `offset`, checked.
    pub(super) fn read(&self, seq: u64, offset: u64) -> Result<Vec<u8>, StoreError> {
        read_in(&*self.segments.read().map_err(poisoned)?, seq, offset)
    }

    /// The segment that holds `seq`, and its path.
    #[cfg(feature = "testing")]
    fn segment_of(&self, seq: u64) -> Result<(Arc<File>, PathBuf), StoreError> {
        let segments = self.segments.read().map_err(poisoned)?;
        let (first, file) = holding_segment(&segments, seq)?;
        Ok((Arc::clone(file), self.dir.join(segment_name(first))))
    }

    /// Hands every written frame, from the first, to `found` (reindex).
    pub(super) fn scan_all(
        &self,
        found: &mut dyn FnMut(Scanned<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.tail.lock().map_err(poisoned)?;
        let segments = self.segments.read().map_err(poisoned)?.clone();
        let read = |seq: u64, offset: u64| read_in(&segments, seq, offset);
        let (mut next, mut prev) = (1, 0);
        for (&first, file) in &segments {
            if first != next {
                return Err(StoreError::Corrupt(format!(
                    "the entry log's segment {first} follows entry {}",
                    next - 1
                )));
            }
            let path = self.dir.join(segment_name(first));
            let (end, chain) = scan_segment(file, &path, 0, next, prev, &read, found)?;
            (next, prev) = (end.next, chain);
        }
        if next != t.next {
            return Err(StoreError::Corrupt(format!(
                "the entry log reads to entry {} but holds {}",
                next - 1,
                t.next - 1
            )));
        }
        Ok(())
    }

    /// Rewrites the bytes of a frame in place (same length), with a crc
    /// that checks: what someone rewriting the log would do. Tests only.
    #[cfg(feature = "testing")]
    pub(super) fn overwrite(&self, seq: u64, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let (file, path) = self.segment_of(seq)?;
        let (h, old) = read_frame(&file, offset, seq).map_err(StoreError::Corrupt)?;
        if old.len() != bytes.len() {
            return Err(StoreError::Corrupt(
                "an overwrite must keep the length".into(),
            ));
        }
        let mut frame = Vec::with_capacity(HEADER + bytes.len());
        encode_frame(&mut frame, seq, h.prev, bytes);
        file.write_all_at(&frame, offset).map_err(io_err(&path))?;
        file.sync_data().map_err(io_err(&path))
    }

    /// Closes the current segment and continues in a new one named by the
    /// next sequence: the spare, or one made now.
    fn rotate(&self, t: &mut Tail, size: u64) -> Result<(), StoreError> {
        let bytes = self.next_size(t.len);
        if size > bytes {
            return Err(StoreError::Corrupt(format!(
                "a frame of {size} bytes does not fit in a segment"
            )));
        }
        write_buffer(t)?;
        let path = self.dir.join(segment_name(t.next));
        let spare = self.dir.join(SPARE);
        let job = self.spare.lock().map_err(poisoned)?.take();
        if let Some(job) = job {
            // Its failure was logged; the segment is then made here.
            let _ = job.join();
        }
        if std::fs::metadata(&spare).is_ok_and(|m| m.len() == bytes) {
            std::fs::rename(&spare, &path).map_err(io_err(&path))?;
            sync_dir(&self.dir)?;
        } else {
            // None, or one of another size (the setting changed).
            let _ = std::fs::remove_file(&spare);
            create_segment(&self.dir, &path, bytes)?;
        }
        let file = Arc::new(
            File::options()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?,
        );
        self.segments
            .write()
            .map_err(poisoned)?
            .insert(t.next, Arc::clone(&file));
        let old_file = std::mem::replace(&mut t.file, file);
        let old_path = std::mem::replace(&mut t.path, path);
        t.left.push((old_file, old_path));
        t.len = bytes;
        t.offset = 0;
        t.buf_at = 0;
        tracing::debug!(first = t.next, "entry log: new segment");
        self.prepare_spare(self.next_size(bytes));
        Ok(())
    }

    /// The size of the segment after one of `len` bytes.
    fn next_size(&self, len: u64) -> u64 {
        len.saturating_mul(2)
            .clamp(MIN_SEGMENT_BYTES, self.segment_bytes)
    }

    /// Starts making the next segment in the background, unless one is
    /// ready or being made.
    fn prepare_spare(&self, bytes: u64) {
        let Ok(mut job) = self.spare.lock() else {
            return;
        };
        let spare = self.dir.join(SPARE);
        if job.is_some() || spare.exists() {
            return;
        }
        let dir = self.dir.clone();
        let started = std::thread::Builder::new()
            .name("truce-log-spare".into())
            .spawn(move || {
                let made = create_segment(&dir, &spare, bytes).map_err(|e| match e {
                    StoreError::Io { source, .. } => source,
                    other => std::io::Error::other(other.to_string()),
                });
                if let Err(e) = &made {
                    tracing::warn!(error = %e, "entry log: the spare segment could not be made");
                }
                made
            });
        match started {
            Ok(handle) => *job = Some(handle),
            Err(e) => tracing::warn!(error = %e, "entry log: no thread for the spare segment"),
        }
    }

    /// Waits for a spare being made (so that nothing writes in the log's
    /// directory after the store is closed).
    pub(super) fn settle(&self) {
        if let Ok(mut job) = self.spare.lock()
            && let Some(handle) = job.take()
        {
            let _ = handle.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.settle();
    }
}

fn write_buffer(t: &mut Tail) -> Result<(), StoreError> {
    if t.buf.is_empty() {
        return Ok(());
    }
    t.file
        .write_all_at(&t.buf, t.buf_at)
        .map_err(io_err(&t.path))?;
    t.buf.clear();
    t.buf_at = t.offset;
    Ok(())
}

/// The bytes of the frame of `seq` at `offset` among `segments`, checked.
fn read_in(
    segments: &BTreeMap<u64, Arc<File>>,
    seq: u64,
    offset: u64,
) -> Result<Vec<u8>, StoreError> {
    let (_, file) = holding_segment(segments, seq)?;
    read_frame(file, offset, seq)
        .map(|(_, bytes)| bytes)
        .map_err(StoreError::Corrupt)
}

/// The segment among `segments` whose range holds `seq`: (first, file).
fn holding_segment(
    segments: &BTreeMap<u64, Arc<File>>,
    seq: u64,
) -> Result<(u64, &Arc<File>), StoreError> {
    segments
        .range(..=seq)
        .next_back()
        .map(|(first, file)| (*first, file))
        .ok_or_else(|| StoreError::Corrupt(format!("no segment holds entry {seq}")))
}

/// Reads and checks the frame of `seq` at `offset`.
fn read_frame(file: &File, offset: u64, seq: u64) -> Result<(Header, Vec<u8>), String> {
    let mut head = [0u8; HEADER];
    file.read_exact_at(&mut head, offset)
        .map_err(|e| format!("entry {seq}: {e}"))?;
    let h = Header::parse(&head);
    if h.seq != seq || h.len > MAX_FRAME_BYTES {
        return Err(format!("entry {seq}: no such frame at offset {offset}"));
    }
    let mut bytes = vec![0u8; h.len];
    file.read_exact_at(&mut bytes, offset + HEADER as u64)
        .map_err(|e| format!("entry {seq}: {e}"))?;
    if crc(h.seq, h.prev, &bytes) != h.crc {
        return Err(format!("entry {seq}: checksum mismatch at offset {offset}"));
    }
    Ok((h, bytes))
}

/// fdatasync of a segment an open is about to scan; the tests see the
/// calls, in order with the frames the scan hands over.
fn sync_scanned(file: &File, path: &Path) -> Result<(), StoreError> {
    #[cfg(test)]
    tests::SEEN.with(|seen| seen.borrow_mut().push(tests::Seen::Synced(path.to_owned())));
    file.sync_data().map_err(io_err(path))
}

/// Where a segment's scan stopped.
struct End {
    offset: u64,
    next: u64,
}

/// Reads frames from `offset` while they check and continue the chain.
fn scan_segment(
    file: &File,
    path: &Path,
    mut offset: u64,
    mut next: u64,
    mut prev: u32,
    read: ReadFrame<'_>,
    found: &mut dyn FnMut(Scanned<'_>) -> Result<(), StoreError>,
) -> Result<(End, u32), StoreError> {
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(offset)).map_err(io_err(path))?;
    let mut bytes = Vec::new();
    while offset + HEADER as u64 <= len {
        let mut head = [0u8; HEADER];
        reader.read_exact(&mut head).map_err(io_err(path))?;
        let h = Header::parse(&head);
        if h.len > MAX_FRAME_BYTES
            || offset + (HEADER + h.len) as u64 > len
            || h.seq != next
            || h.prev != prev
        {
            break;
        }
        bytes.resize(h.len, 0);
        reader.read_exact(&mut bytes).map_err(io_err(path))?;
        if crc(h.seq, h.prev, &bytes) != h.crc {
            break;
        }
        found(Scanned {
            seq: next,
            offset,
            bytes: &bytes,
            read,
        })?;
        offset += (HEADER + h.len) as u64;
        next += 1;
        prev = h.crc;
    }
    Ok((End { offset, next }, prev))
}

/// Makes a segment of `bytes` zeros at `path`, synced, through a
/// temporary file so that a half-made one never carries a segment's name.
fn create_segment(dir: &Path, path: &Path, bytes: u64) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let made = (|| {
        let f = File::create(&tmp)?;
        let zeros = vec![0u8; ZEROS];
        let mut at = 0u64;
        while at < bytes {
            let n = (bytes - at).min(ZEROS as u64) as usize;
            f.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        f.sync_all()
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: u64 = MIN_SEGMENT_BYTES;

    /// What an open did, in order: a segment synced, a frame handed over.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) enum Seen {
        Synced(PathBuf),
        Found(u64),
    }

    thread_local! {
        pub(super) static SEEN: std::cell::RefCell<Vec<Seen>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Opens the log and returns what the open did, in order.
    fn open_seen(dir: &Path, after: Option<After>) -> Vec<Seen> {
        SEEN.with(|seen| seen.borrow_mut().clear());
        Log::open(dir, SEG, after, &mut |s| {
            SEEN.with(|seen| seen.borrow_mut().push(Seen::Found(s.seq)));
            Ok(())
        })
        .unwrap()
        .unwrap();
        SEEN.with(|seen| seen.take())
    }

    #[test]
    fn an_open_syncs_every_segment_it_scans_before_handing_over_a_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        let mut offsets = Vec::new();
        for seq in 1..=3000 {
            offsets.push(log.append(seq, &entry(seq)).unwrap());
        }
        // Written, never synced: what a crash between the write and the
        // sync leaves behind.
        log.write().unwrap();
        drop(log);
        let mut segments: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        segments.sort();
        assert!(segments.len() >= 3, "it rotated: {segments:?}");

        let synced_then_found = |seen: &[Seen], from: usize| {
            let synced: Vec<PathBuf> = seen
                .iter()
                .map_while(|s| match s {
                    Seen::Synced(p) => Some(p.clone()),
                    Seen::Found(_) => None,
                })
                .collect();
            assert_eq!(synced, segments[from..], "synced first, each once");
            let found = &seen[synced.len()..];
            assert!(!found.is_empty());
            assert!(
                found.iter().all(|s| matches!(s, Seen::Found(_))),
                "no sync after a frame: {found:?}"
            );
        };
        // From the start: every segment.
        let seen = open_seen(dir.path(), None);
        synced_then_found(&seen, 0);
        assert_eq!(seen.last(), Some(&Seen::Found(3000)));
        // From a frame in a later segment: that segment and the ones after.
        let after = After {
            seq: 2500,
            offset: offsets[2499],
        };
        let first_of_2500 = segments
            .iter()
            .rposition(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                parse_segment_name(&name).is_some_and(|first| first <= 2500)
            })
            .unwrap();
        assert!(first_of_2500 > 0);
        let seen = open_seen(dir.path(), Some(after));
        synced_then_found(&seen, first_of_2500);
        assert_eq!(seen.last(), Some(&Seen::Found(3000)));
    }

    fn open(dir: &Path, after: Option<After>) -> (Log, Vec<(u64, u64, Vec<u8>)>) {
        let mut seen = Vec::new();
        let log = Log::open(dir, SEG, after, &mut |s| {
            seen.push((s.seq, s.offset, s.bytes.to_vec()));
            Ok(())
        })
        .unwrap()
        .unwrap();
        (log, seen)
    }

    fn entry(seq: u64) -> Vec<u8> {
        vec![(seq % 251) as u8; 1000 + (seq as usize % 7) * 100]
    }

    #[test]
    fn frames_survive_a_reopen_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (log, seen) = open(dir.path(), None);
        assert!(seen.is_empty());
        let mut offsets = Vec::new();
        for seq in 1..=3000 {
            offsets.push(log.append(seq, &entry(seq)).unwrap());
            if seq % 100 == 0 {
                log.write().unwrap();
                log.sync().unwrap();
            }
        }
        drop(log);
        let (log, seen) = open(dir.path(), None);
        assert_eq!(seen.len(), 3000);
        for (seq, offset, bytes) in &seen {
            assert_eq!(*bytes, entry(*seq));
            assert_eq!(*offset, offsets[*seq as usize - 1]);
            assert_eq!(log.read(*seq, *offset).unwrap(), entry(*seq));
        }
        assert!(log.segments.read().unwrap().len() >= 3, "it rotated");
        assert_eq!(log.last().unwrap(), 3000);
        // Scanning from a known frame yields only what follows it.
        drop(log);
        let after = After {
            seq: 2500,
            offset: offsets[2499],
        };
        let (log, seen) = open(dir.path(), Some(after));
        assert_eq!(seen.first().map(|s| s.0), Some(2501));
        assert_eq!(seen.len(), 500);
        assert!(log.append(3001, b"next").unwrap() > 0);
    }

    #[test]
    fn an_unwritten_tail_is_not_in_the_log_and_a_stale_frame_does_not_return() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        for seq in 1..=3 {
            log.append(seq, &entry(seq)).unwrap();
        }
        log.write().unwrap();
        log.append(4, b"never written").unwrap();
        drop(log);
        let (log, seen) = open(dir.path(), None);
        assert_eq!(
            seen.len(),
            3,
            "an appended frame is not there until written"
        );
        log.append(4, &[1u8; 3000]).unwrap();
        log.append(5, &[2u8; 3000]).unwrap();
        log.write().unwrap();
        drop(log);

        // Another history of the same length up to 4: 1, 2, 3, then a
        // different 4, written over the first (as after a crash that lost
        // 4 and 5 and a restart that wrote another 4). The old 5 stays
        // right behind the new 4 but was chained to the old one.
        let other = tempfile::tempdir().unwrap();
        let (log, _) = open(other.path(), None);
        for seq in 1..=3 {
            log.append(seq, &entry(seq)).unwrap();
        }
        let four = log.append(4, &[9u8; 3000]).unwrap();
        log.write().unwrap();
        drop(log);
        let name = segment_name(1);
        let newer = std::fs::read(other.path().join(&name)).unwrap();
        let end = four as usize + HEADER + 3000;
        let f = File::options()
            .write(true)
            .open(dir.path().join(&name))
            .unwrap();
        f.write_all_at(&newer[..end], 0).unwrap();
        drop(f);
        let (_, seen) = open(dir.path(), None);
        assert_eq!(seen.len(), 4, "the old 5 does not chain to the new 4");
        assert_eq!(seen[3].2, vec![9u8; 3000]);
    }

    #[test]
    fn a_damaged_frame_is_refused_on_read_and_ends_a_scan() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        let mut offsets = Vec::new();
        for seq in 1..=5 {
            offsets.push(log.append(seq, &entry(seq)).unwrap());
        }
        log.write().unwrap();
        log.sync().unwrap();
        drop(log);
        let path = dir.path().join(segment_name(1));
        let f = File::options().write(true).open(&path).unwrap();
        f.write_all_at(&[0xff], offsets[3] + HEADER as u64 + 5)
            .unwrap();
        let (log, seen) = open(dir.path(), None);
        assert_eq!(seen.len(), 3);
        let err = log.read(4, offsets[3]).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        // A scan from a frame that is not there says the log is behind.
        drop(log);
        let behind = Log::open(
            dir.path(),
            SEG,
            Some(After {
                seq: 5,
                offset: offsets[4] + 1,
            }),
            &mut |_| Ok(()),
        )
        .unwrap();
        assert!(behind.is_err());
    }

    #[test]
    fn segments_after_a_break_are_set_aside_and_unwritten_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        let mut offsets = Vec::new();
        for seq in 1..=2000 {
            offsets.push(log.append(seq, &entry(seq)).unwrap());
        }
        log.write().unwrap();
        log.sync().unwrap();
        drop(log);
        let later: Vec<String> = names(dir.path())
            .into_iter()
            .filter(|n| n.ends_with(".log") && n != &segment_name(1))
            .collect();
        assert!(!later.is_empty(), "it rotated: {later:?}");
        // A segment made just before a crash and never written.
        let empty = segment_name(9_000);
        create_segment(dir.path(), &dir.path().join(&empty), MIN_SEGMENT_BYTES).unwrap();
        // A damaged frame in the first segment breaks the log there.
        let f = File::options()
            .write(true)
            .open(dir.path().join(segment_name(1)))
            .unwrap();
        f.write_all_at(&[0xff], offsets[99] + HEADER as u64)
            .unwrap();
        drop(f);

        let (log, seen) = open(dir.path(), None);
        assert_eq!(seen.len(), 99);
        assert_eq!(log.last().unwrap(), 99);
        let now = names(dir.path());
        for name in &later {
            assert!(
                !now.contains(name),
                "{name} is no longer a segment: {now:?}"
            );
            assert!(
                now.contains(&format!("{name}{DISCARDED}")),
                "{name} was set aside, not deleted: {now:?}"
            );
        }
        assert!(
            !now.iter().any(|n| n.starts_with(&empty)),
            "the unwritten segment was removed: {now:?}"
        );
    }

    fn names(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("spare"), None);
        assert_eq!(parse_segment_name("00000000000000000001.log.tmp"), None);
    }
}
