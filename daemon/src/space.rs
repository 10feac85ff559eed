//! Free disk space: the commit writer refuses a group of appends while the
//! data dir's filesystem has less free space than the margin
//! (`min_free_disk_mb`), so sled never meets a full disk: the refusal is
//! RESOURCE_EXHAUSTED with the figures, nothing is written, reads and
//! subscriptions go on, and appends resume by themselves once space is
//! freed. The probe is a seam so tests can run out of space on demand.
//! Should a write meet a full disk anyway, the writer frees a 4 MiB
//! reserve kept in the data dir so that sled can be reopened at once (sled
//! fails some reads once it has met an I/O error), and appends resume when
//! the margin is back and a real write of 1 MiB passes.

use std::{path::Path, sync::Arc};

/// What [`SpaceGuard::room_to_write`] writes before a reopen.
pub const ROOM_PROBE_BYTES: usize = 1024 * 1024;
const ROOM_PROBE_FILE: &str = "space-probe";
/// The reserve kept in the data dir, freed when a write meets a full disk
/// so that sled can be opened again at once.
pub const RESERVE_BYTES: usize = 4 * 1024 * 1024;
const RESERVE_FILE: &str = "space-reserve";

/// How much space is free for the data dir's filesystem.
pub trait DiskSpace: Send + Sync {
    fn available(&self, dir: &Path) -> std::io::Result<u64>;
}

/// The filesystem's figure for unprivileged users (statvfs f_bavail).
#[derive(Debug, Default)]
pub struct RealDiskSpace;

impl DiskSpace for RealDiskSpace {
    fn available(&self, dir: &Path) -> std::io::Result<u64> {
        fs2::available_space(dir)
    }
}

/// The margin and the probe, held by the commit writer (and by the
/// Backup RPC, which must not eat into the margin either).
#[derive(Clone)]
pub struct SpaceGuard {
    margin: u64,
    probe: Arc<dyn DiskSpace>,
}

impl std::fmt::Debug for SpaceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpaceGuard")
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl SpaceGuard {
    /// A margin of 0 turns the check off.
    pub fn new(margin: u64, probe: Arc<dyn DiskSpace>) -> Self {
        Self { margin, probe }
    }

    /// Whether the data dir's filesystem takes a write of
    /// [`ROOM_PROBE_BYTES`] now (written, synced and removed): checked
    /// before the store is reopened after a write failed on a full disk,
    /// since with no margin set (or a margin too small) the probe's figure
    /// alone cannot tell that space is back.
    pub fn room_to_write(&self, dir: &Path) -> std::io::Result<()> {
        let path = dir.join(ROOM_PROBE_FILE);
        let result = (|| {
            let mut file = std::fs::File::create(&path)?;
            std::io::Write::write_all(&mut file, &[0u8; ROOM_PROBE_BYTES])?;
            file.sync_data()
        })();
        let _ = std::fs::remove_file(&path);
        result
    }

    /// Makes sure the reserve file is in the data dir (written and
    /// synced). Appends resume after a full disk only once it is back.
    pub fn keep_reserve(&self, dir: &Path) -> std::io::Result<()> {
        let path = dir.join(RESERVE_FILE);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == RESERVE_BYTES as u64) {
            return Ok(());
        }
        let written = (|| {
            let mut file = std::fs::File::create(&path)?;
            std::io::Write::write_all(&mut file, &vec![0u8; RESERVE_BYTES])?;
            file.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        written
    }

    /// Frees the reserve (after a write met a full disk).
    pub fn release_reserve(&self, dir: &Path) {
        let _ = std::fs::remove_file(dir.join(RESERVE_FILE));
    }

    /// The check for writing into `target` (the Backup RPC's, before each
    /// page): whether `bytes` more may go there without leaving the data
    /// dir's filesystem under the margin. Whether `target` is on that
    /// filesystem (or that cannot be told) is decided once, here; off it,
    /// nothing is checked.
    pub fn room_for<'a>(
        &'a self,
        data_dir: &'a Path,
        target: &Path,
        ahead: u64,
    ) -> impl Fn(u64) -> Result<(), String> + 'a {
        let checked = self.margin > 0 && same_filesystem(data_dir, target);
        let margin = self.margin.saturating_add(ahead);
        move |bytes| {
            if !checked {
                return Ok(());
            }
            match self.probe.available(data_dir) {
                Ok(free) if free < margin.saturating_add(bytes) => Err(format!(
                    "is on the data dir's filesystem, which has {:.1} MiB free: {} KiB more there would leave less than the min_free_disk_mb margin of {:.1} MiB that appends need",
                    mib(free),
                    bytes.div_ceil(1024),
                    mib(self.margin)
                )),
                Ok(_) => Ok(()),
                Err(e) => {
                    tracing::warn!(dir = %data_dir.display(), error = %e, "cannot read free disk space");
                    Ok(())
                }
            }
        }
    }

    /// Why appends must wait, if they must: less free space than the
    /// margin plus `ahead`, the log segments the next rotations allocate.
    pub fn shortage(&self, dir: &Path, ahead: u64) -> Option<String> {
        if self.margin == 0 {
            return None;
        }
        match self.probe.available(dir) {
            Ok(free) if free < self.margin.saturating_add(ahead) => Some(format!(
                "the data dir's filesystem has {} MiB free; appends need {:.1} MiB (the min_free_disk_mb margin of {} MiB and {:.1} MiB for the entry log's next segments): appends are refused until space is freed (reads go on)",
                free / (1024 * 1024),
                mib(self.margin.saturating_add(ahead)),
                self.margin / (1024 * 1024),
                mib(ahead)
            )),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read free disk space");
                None
            }
        }
    }

    /// After a write met a full disk: whether there is room for appends to
    /// resume, whatever the margin (0 included): the log's next segment
    /// (`ahead`), the reserve and the write probe. The refusal says how
    /// much space is needed.
    pub fn room_to_resume(&self, dir: &Path, ahead: u64) -> Result<(), String> {
        let reserve_missing = !std::fs::metadata(dir.join(RESERVE_FILE))
            .is_ok_and(|m| m.len() == RESERVE_BYTES as u64);
        let need = ahead
            .saturating_add(if reserve_missing {
                RESERVE_BYTES as u64
            } else {
                0
            })
            .saturating_add(ROOM_PROBE_BYTES as u64)
            .saturating_add(self.margin);
        let short = |free: u64| {
            format!(
                "appends resume once {:.1} MiB are free on the data dir's filesystem ({:.1} MiB for the entry log's next segment, the {} MiB space reserve, the min_free_disk_mb margin of {:.1} MiB); {:.1} MiB are free now",
                mib(need),
                mib(ahead),
                RESERVE_BYTES / (1024 * 1024),
                mib(self.margin),
                mib(free)
            )
        };
        match self.probe.available(dir) {
            Ok(free) if free < need => return Err(short(free)),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read free disk space");
            }
        }
        self.keep_reserve(dir)
            .and_then(|()| self.room_to_write(dir))
            .map_err(|e| {
                let free = self.probe.available(dir).unwrap_or(0);
                format!("{} (a write failed: {e})", short(free))
            })
    }
}

/// Bytes as MiB, for messages.
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Whether both paths are on one filesystem, by device number (true when
/// either cannot be read: the careful answer). Subvolumes that share one
/// pool's space (btrfs, ZFS) have device numbers of their own and count
/// as other filesystems here.
fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => true,
    }
}
