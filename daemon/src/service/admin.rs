//! Admin RPCs: backups written by the daemon itself.

use std::path::Path;

use truce_proto::v1::{BackupRequest, BackupResponse};

use crate::{
    backup::{self, BackupError},
    checkpoint::Signer,
    error::Error,
    store::Store,
};

/// Writes a backup into `to_dir` on the daemon's machine.
pub fn backup(store: &Store, signer: &Signer, req: BackupRequest) -> Result<BackupResponse, Error> {
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
    let m = backup::write(store, signer, dir, req.with_key).map_err(|e| match e {
        BackupError::Store(e) => Error::Store(e),
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
