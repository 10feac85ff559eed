//! Backups and restores. A backup is the log itself up to one durable
//! sequence, with the checkpoint signed over exactly those entries:
//! everything else in a store (views, indexes, the Merkle tree, request
//! ids) is derived from the log, so a restore writes the entries into an
//! empty store, rebuilds the rest as reindex does, and checks the rebuilt
//! tree's root against the signed checkpoint. Entries are immutable once
//! durable, so a backup taken while appends go on is consistent at the
//! sequence it names, and claims nothing after it.
//!
//! A backup directory holds `entries` (each entry from sequence 1 as a u32
//! big-endian length and its stored bytes), `checkpoint` (the signed note),
//! optionally `checkpoint.key` (the signing key, mode 0600), and, written
//! last so that its presence marks a complete backup, `manifest.toml`.

use std::{
    fs::File,
    io::{BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use crate::{
    checkpoint::{self, KEY_FILE, Signer},
    model::merkle,
    store::{Store, StoreError, StoreWriter},
};

const ENTRIES_FILE: &str = "entries";
const CHECKPOINT_FILE: &str = "checkpoint";
const MANIFEST_FILE: &str = "manifest.toml";
const FORMAT: u32 = 1;
/// Entries read from the store per page while backing up.
const PAGE: usize = 1000;

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The target is not usable (exists and is not empty, ...).
    #[error("{0}")]
    Target(String),
    /// Writing on would leave too little free space for appends (the
    /// daemon's margin).
    #[error("{0}")]
    NoRoom(String),
    /// The backup is incomplete, altered or does not verify.
    #[error("backup {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a backup's manifest records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The number of entries: the backup holds sequences 1 to this.
    pub sequence: u64,
    /// The Merkle root of those entries, hex.
    pub root: String,
    /// SHA-256 of the `entries` file, hex.
    pub entries_sha256: String,
    /// The log's verifier key at backup time.
    pub verifier_key: String,
    /// Whether `checkpoint.key` is in the backup.
    pub with_key: bool,
}

/// Writes a backup of the durable log into `dir`, which must not exist or
/// be empty; with `with_key`, the signing key goes with it. `room` is
/// asked before each page of entries whether that many bytes more may be
/// written. On any failure the files written are removed again, so that
/// the directory is empty for another try and no partial backup holds
/// disk space.
pub fn write(
    store: &Store,
    signer: &Signer,
    dir: &Path,
    with_key: bool,
    room: &dyn Fn(u64) -> Result<(), String>,
) -> Result<Manifest, BackupError> {
    prepare_empty_dir(dir)?;
    let written = write_into(store, signer, dir, with_key, room);
    if written.is_err() {
        // The directory was empty: whatever is in it now is ours.
        for name in [ENTRIES_FILE, CHECKPOINT_FILE, KEY_FILE, MANIFEST_FILE] {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
    written
}

fn write_into(
    store: &Store,
    signer: &Signer,
    dir: &Path,
    with_key: bool,
    room: &dyn Fn(u64) -> Result<(), String>,
) -> Result<Manifest, BackupError> {
    let sequence = store.durable_sequence();
    let path = dir.join(ENTRIES_FILE);
    let file = File::create_new(&path).map_err(io(&path))?;
    let mut out = BufWriter::new(file);
    let mut hash = Sha256::new();
    let mut next = 1;
    while next <= sequence {
        let page = store.read_entries(next, PAGE, usize::MAX)?;
        if page.is_empty() {
            return Err(StoreError::Corrupt(format!("entry {next} is missing")).into());
        }
        let bytes = page
            .iter()
            .take_while(|(s, _)| *s <= sequence)
            .map(|(_, b)| 4 + b.len() as u64)
            .sum();
        room(bytes).map_err(BackupError::NoRoom)?;
        for (seq, bytes) in page.into_iter().take_while(|(s, _)| *s <= sequence) {
            if seq != next {
                return Err(StoreError::Corrupt(format!("entry {next} is missing")).into());
            }
            let len = u32::try_from(bytes.len())
                .map_err(|_| StoreError::Corrupt(format!("entry {seq} is too large")))?
                .to_be_bytes();
            out.write_all(&len).map_err(io(&path))?;
            out.write_all(&bytes).map_err(io(&path))?;
            hash.update(len);
            hash.update(&bytes);
            next += 1;
        }
    }
    let file = out.into_inner().map_err(|e| io(&path)(e.into_error()))?;
    file.sync_all().map_err(io(&path))?;

    let root = store.tree_root(sequence)?;
    write_synced(&dir.join(CHECKPOINT_FILE), &signer.sign(sequence, &root))?;
    if with_key {
        let key = dir.join(KEY_FILE);
        signer.write_key(&key).map_err(io(&key))?;
    }
    let manifest = Manifest {
        format: FORMAT,
        sequence,
        root: hex::encode(root),
        entries_sha256: hex::encode(hash.finalize()),
        verifier_key: signer.verifier_key(),
        with_key,
    };
    let text = toml::to_string(&manifest)
        .map_err(|e| BackupError::Target(format!("cannot write the manifest: {e}")))?;
    write_synced(&dir.join(MANIFEST_FILE), &text)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    tracing::info!(dir = %dir.display(), sequence, with_key, "backup written");
    Ok(manifest)
}

fn prepare_empty_dir(dir: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut items) => {
            if items.next().is_some() {
                return Err(BackupError::Target(format!(
                    "{} exists and is not empty",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io(dir))
        }
        Err(e) => Err(io(dir)(e)),
    }
}

fn write_synced(path: &Path, text: &str) -> Result<(), BackupError> {
    let mut f = File::create_new(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Reads and checks a backup's manifest.
pub fn manifest(from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(MANIFEST_FILE);
    let invalid = |reason: String| BackupError::Invalid {
        path: from.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| invalid(format!("no readable {MANIFEST_FILE} (incomplete?): {e}")))?;
    let m: Manifest =
        toml::from_str(&text).map_err(|e| invalid(format!("{MANIFEST_FILE}: {e}")))?;
    if m.format != FORMAT {
        return Err(invalid(format!(
            "format {} (this truced reads {FORMAT})",
            m.format
        )));
    }
    Ok(m)
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    /// The verified checkpoint note, now the store's last checkpoint.
    pub note: String,
}

/// Restores the backup in `from` into a new store in `data_dir` (which
/// must not hold a store): the entries are checked against the manifest's
/// hash, the rebuilt tree's root against the checkpoint, and the
/// checkpoint's signature against the manifest's verifier key (or
/// `pinned`, when given, which must be the same key).
pub fn restore(
    from: &Path,
    data_dir: &Path,
    options: crate::store::StoreOptions,
    pinned: Option<&str>,
) -> Result<Restored, BackupError> {
    let m = manifest(from)?;
    let invalid = |reason: String| BackupError::Invalid {
        path: from.to_owned(),
        reason,
    };
    if let Some(pinned) = pinned
        && pinned != m.verifier_key
    {
        return Err(invalid(format!(
            "signed by {}, not by the pinned key {pinned}",
            m.verifier_key
        )));
    }
    let note_path = from.join(CHECKPOINT_FILE);
    let note = std::fs::read_to_string(&note_path).map_err(io(&note_path))?;
    let (size, root) = checkpoint::verify_note(&m.verifier_key, &note)
        .map_err(|e| invalid(format!("checkpoint: {e}")))?;
    if size != m.sequence || hex::encode(root) != m.root {
        return Err(invalid("the checkpoint and the manifest disagree".into()));
    }
    if Store::exists_in(data_dir) {
        return Err(BackupError::Target(format!(
            "{} already holds a store",
            data_dir.display()
        )));
    }

    let store = Store::open_with(data_dir, options)?.into_writer();
    let restored = fill(&store, from, &m, root);
    drop(store);
    if let Err(e) = restored {
        // Leave nothing unverified behind for a later `truced serve`.
        Store::remove_files(data_dir);
        return Err(e);
    }
    write_synced(
        &data_dir.join(crate::store::mark::LAST_CHECKPOINT_FILE),
        &note,
    )?;
    if m.with_key {
        let key = from.join(KEY_FILE);
        let to = data_dir.join(KEY_FILE);
        std::fs::copy(&key, &to).map_err(io(&to))?;
        #[cfg(unix)]
        std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(io(&to))?;
        // The key must be the one that signed the checkpoint.
        let origin = m.verifier_key.split('+').next().unwrap_or_default();
        let signer = Signer::load_or_create(&to, Some(origin))
            .map_err(|e| invalid(format!("{KEY_FILE}: {e}")))?;
        if signer.verifier_key() != m.verifier_key {
            let _ = std::fs::remove_file(&to);
            return Err(invalid(format!(
                "{KEY_FILE} is not the key that signed the checkpoint"
            )));
        }
    }
    tracing::info!(from = %from.display(), data_dir = %data_dir.display(), sequence = m.sequence, "backup restored");
    Ok(Restored { manifest: m, note })
}

/// Writes the backup's entries into the new store and checks them: the
/// manifest's hash, then the rebuilt tree's root against the signed one,
/// before anything is marked durable.
fn fill(
    store: &StoreWriter,
    from: &Path,
    m: &Manifest,
    root: merkle::Hash,
) -> Result<(), BackupError> {
    let invalid = |reason: String| BackupError::Invalid {
        path: from.to_owned(),
        reason,
    };
    let path = from.join(ENTRIES_FILE);
    let mut input = BufReader::new(File::open(&path).map_err(io(&path))?);
    let mut hash = Sha256::new();
    let mut page = Vec::with_capacity(PAGE);
    let mut seq = 0u64;
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io(&path)(e)),
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > crate::commit::MAX_ENTRY_BYTES {
            return Err(invalid(format!("entry {} claims {n} bytes", seq + 1)));
        }
        let mut bytes = vec![0u8; n];
        input
            .read_exact(&mut bytes)
            .map_err(|e| invalid(format!("entry {} is cut short: {e}", seq + 1)))?;
        hash.update(len);
        hash.update(&bytes);
        seq += 1;
        page.push((seq, bytes));
        if page.len() == PAGE {
            store.append_restored(&page)?;
            page.clear();
        }
    }
    store.append_restored(&page)?;
    if seq != m.sequence || hex::encode(hash.finalize()) != m.entries_sha256 {
        return Err(invalid(format!(
            "the entries file holds {seq} entries that do not match the manifest's hash"
        )));
    }
    store.reindex()?;
    let rebuilt = store.tree_root(seq)?;
    if rebuilt != root {
        return Err(invalid(
            "the restored entries' tree root differs from the signed checkpoint".into(),
        ));
    }
    store.mark_restored()?;
    Ok(())
}
