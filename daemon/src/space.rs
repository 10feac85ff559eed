//! Free disk space: the commit writer refuses a group of appends while the
//! data dir's filesystem has less free space than the margin
//! (`min_free_disk_mb`), so sled never meets a full disk: the refusal is
//! RESOURCE_EXHAUSTED with the figures, nothing is written, reads and
//! subscriptions go on, and appends resume by themselves once space is
//! freed. The probe is a seam so tests can run out of space on demand.

use std::path::Path;

/// How much space is free for the data dir's filesystem.
pub trait DiskSpace: Send {
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

/// The margin and the probe, held by the commit writer.
pub struct SpaceGuard {
    margin: u64,
    probe: Box<dyn DiskSpace>,
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
    pub fn new(margin: u64, probe: Box<dyn DiskSpace>) -> Self {
        Self { margin, probe }
    }

    /// Why appends must wait, if they must.
    pub fn shortage(&self, dir: &Path) -> Option<String> {
        if self.margin == 0 {
            return None;
        }
        match self.probe.available(dir) {
            Ok(free) if free < self.margin => Some(format!(
                "the data dir's filesystem has {} MiB free, under the min_free_disk_mb margin of {} MiB: appends are refused until space is freed (reads go on)",
                free / (1024 * 1024),
                self.margin / (1024 * 1024)
            )),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read free disk space");
                None
            }
        }
    }
}
