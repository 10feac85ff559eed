//! Admin RPCs: backups written by the daemon itself.

use std::path::Path;

use truce_proto::v1::{BackupRequest, BackupResponse};

use crate::{
    backup::{self, BackupError},
    checkpoint::Signer,
    error::Error,
    space::SpaceGuard,
    store::Store,
};

/// Writes a backup into `to_dir` on the daemon's machine, refused (and
/// what it wrote removed) once it would leave the data dir's filesystem
/// under the free-space margin of `space`.
pub fn backup(
    store: &Store,
    signer: &Signer,
    space: &SpaceGuard,
    req: BackupRequest,
) -> Result<BackupResponse, Error> {
    if req.to_dir.trim().is_empty() {
        return Err(Error::invalid("to_dir", "is required"));
    }
    let dir = Path::new(&req.to_dir);
    if !dir.is_absolute() {
        return Err(Error::invalid(
            "to_dir",
            "must be an absolute path on the daemon's machine",
        ));
    }
    if inside(dir, store.dir()) {
        return Err(Error::invalid(
            "to_dir",
            "is inside the daemon's data dir; back up to another directory",
        ));
    }
    let room = space.room_for(store.dir(), dir, store.space_ahead().total());
    let m = backup::write(store, signer, dir, req.with_key, &room).map_err(|e| match e {
        BackupError::Store(e) => Error::Store(e),
        BackupError::NoRoom(why) => Error::exhausted(format!("to_dir {why}")),
        BackupError::Target(reason) => Error::FailedPrecondition {
            field: "to_dir".into(),
            reason,
        },
        BackupError::Io { path, source } => Error::FailedPrecondition {
            field: "to_dir".into(),
            reason: format!("{}: {source}", path.display()),
        },
        BackupError::Invalid { reason, .. } => Error::Internal(reason),
    })?;
    Ok(BackupResponse {
        sequence: m.sequence,
        root: m.root,
        verifier_key: m.verifier_key,
        to_dir: req.to_dir,
        with_key: m.with_key,
    })
}

/// Whether `dir` (which may not exist yet) lies inside `data`, symlinks
/// resolved as far as the path exists.
fn inside(dir: &Path, data: &Path) -> bool {
    let data = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_owned());
    let mut existing = dir.to_owned();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent.to_owned();
            }
            _ => break,
        }
    }
    let mut full = std::fs::canonicalize(&existing).unwrap_or(existing);
    for name in rest.iter().rev() {
        full.push(name);
    }
    full.starts_with(&data)
}
