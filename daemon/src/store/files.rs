//! The syncs sled 0.34.7 leaves out. Its flush writes the data file with
//! `sync_file_range`, which flushes neither the device cache nor the file's
//! size, and it writes pages larger than a quarter of a segment to files
//! under `blobs/` without any fsync. This module fdatasyncs the data file
//! and fsyncs each new blob file and the blobs directory.

use std::{
    collections::HashSet,
    ffi::OsString,
    fs::File,
    path::{Path, PathBuf},
    sync::Mutex,
};

use super::{StoreError, io_err};

/// What one sync covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncedFiles {
    /// Blob files fsynced by this call (new since the previous one).
    pub new_blobs: usize,
    /// Blob files present after this call, all of them synced.
    pub blobs_present: usize,
}

pub(super) struct Files {
    data_file: File,
    data_path: PathBuf,
    blobs_dir: PathBuf,
    sled_dir: PathBuf,
    data_dir: PathBuf,
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl Files {
    pub(super) fn open(data_dir: &Path, sled_dir: &Path) -> Result<Self, StoreError> {
        let data_path = sled_dir.join("db");
        let data_file = File::options()
            .read(true)
            .write(true)
            .open(&data_path)
            .map_err(io_err(&data_path))?;
        Ok(Self {
            data_file,
            data_path,
            blobs_dir: sled_dir.join("blobs"),
            sled_dir: sled_dir.to_owned(),
            data_dir: data_dir.to_owned(),
            synced_blobs: Mutex::new(HashSet::new()),
        })
    }

    /// At open: sync everything, including the directories that hold the
    /// data file, so a fresh store's files survive a power cut.
    pub(super) fn sync_all_now(&self) -> Result<(), StoreError> {
        self.data_file.sync_all().map_err(io_err(&self.data_path))?;
        self.sync()?;
        sync_dir(&self.sled_dir)?;
        sync_dir(&self.data_dir)?;
        Ok(())
    }

    pub(super) fn sync(&self) -> Result<SyncedFiles, StoreError> {
        self.data_file
            .sync_data()
            .map_err(io_err(&self.data_path))?;
        let mut synced = self
            .synced_blobs
            .lock()
            .map_err(|_| StoreError::Corrupt("blob sync state poisoned".into()))?;
        let mut present = HashSet::new();
        let mut new_blobs = 0;
        let dir = match std::fs::read_dir(&self.blobs_dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SyncedFiles::default());
            }
            Err(e) => return Err(io_err(&self.blobs_dir)(e)),
        };
        for item in dir {
            let item = item.map_err(io_err(&self.blobs_dir))?;
            let name = item.file_name();
            if !synced.contains(&name) {
                let path = item.path();
                match File::open(&path) {
                    Ok(f) => f.sync_all().map_err(io_err(&path))?,
                    // sled may remove a blob it has superseded meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&path)(e)),
                }
                new_blobs += 1;
            }
            present.insert(name);
        }
        if new_blobs > 0 {
            sync_dir(&self.blobs_dir)?;
        }
        let blobs_present = present.len();
        *synced = present;
        Ok(SyncedFiles {
            new_blobs,
            blobs_present,
        })
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    match File::open(dir) {
        Ok(f) => f.sync_all().map_err(io_err(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(dir)(e)),
    }
}
