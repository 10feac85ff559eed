//! `truce verify`: check the log's latest signed checkpoint against a
//! pinned key (or N of a cluster's replicas' keys, `--require`), prove it consistent with the last checkpoint this machine
//! verified (kept in a state file), and optionally prove one entry's
//! inclusion. A forked or rewritten log exits 3 with both checkpoints.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, terminal};
use truce_client::{
    Client, VerifyFailure,
    verify::{self, VerifiedCheckpoint, VerifierKey},
};

/// `truce verify`.
#[derive(Debug, Args)]
pub struct VerifyFlags {
    /// The log's verifier key, as `truced key show` prints it
    /// (`<origin>+<key id>+<key>`). Give it once per replica of a cluster
    /// (the replicas cosign one checkpoint, each with its own key).
    #[arg(
        long,
        visible_alias = "verifier-key",
        env = "TRUCE_LOG_KEY",
        required = true
    )]
    pub key: Vec<String>,
    /// How many of the given keys must have signed the checkpoint.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub require: usize,
    /// Where the last verified checkpoint is kept [default: under
    /// $XDG_STATE_HOME or ~/.local/state, truce/<origin>.checkpoint].
    #[arg(long, env = "TRUCE_STATE")]
    pub state: Option<PathBuf>,
    /// Also prove that this entry is in the log.
    #[arg(long)]
    pub entry: Option<u64>,
}

fn default_state(origin: &str) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from(".truce-state"));
    base.join("truce")
        .join(format!("{}.checkpoint", origin.replace(['/', '\\'], "_")))
}

/// Exit code 3: the log does not verify.
pub fn failed(e: VerifyFailure) -> CliError {
    match e {
        VerifyFailure::Client(c) => CliError::Client(c),
        VerifyFailure::Invalid(e) => CliError::Verification(e.to_string()),
        VerifyFailure::Fork { reason, old, new } => CliError::Verification(format!(
            "THE LOG WAS FORKED OR REWRITTEN: {reason}\n\nlast verified checkpoint:\n{}\nnew checkpoint:\n{}",
            old.note, new.note
        )),
    }
}

/// The keys of `--key` and the count `--require` asks for, checked.
fn keys(flags: &VerifyFlags) -> Result<Vec<VerifierKey>, CliError> {
    let keys = flags
        .key
        .iter()
        .map(|k| VerifierKey::parse(k).map_err(|e| CliError::Usage(format!("--key {k}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if flags.require == 0 || flags.require > keys.len() {
        return Err(CliError::Usage(format!(
            "--require {} needs between 1 and the {} key(s) given with --key",
            flags.require,
            keys.len()
        )));
    }
    Ok(keys)
}

pub async fn run(client: &Client, flags: VerifyFlags) -> Result<(), CliError> {
    let keys = keys(&flags)?;
    let origin = keys.first().map(|k| k.name.clone()).unwrap_or_default();
    let state = flags.state.unwrap_or_else(|| default_state(&origin));
    let previous = match std::fs::read_to_string(&state) {
        // Verified in full when it was kept; one known signature shows it
        // is the one kept.
        Ok(note) => Some(verify::verify_cosigned(&note, &keys, 1).map_err(|e| {
            CliError::Verification(format!(
                "the state file {} does not verify: {e}",
                state.display()
            ))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::Usage(format!("{}: {e}", state.display()))),
    };
    let checkpoint = client
        .verify_cosigned_checkpoint(&keys, flags.require, previous.as_ref())
        .await
        .map_err(failed)?;
    if let Some(dir) = state.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = state.with_extension("tmp");
    std::fs::write(&tmp, &checkpoint.note)?;
    std::fs::rename(&tmp, &state)?;
    print_checkpoint(&checkpoint, previous.as_ref());
    if keys.len() > 1 {
        terminal::println(format_args!(
            "signed by at least {} of the {} keys given",
            flags.require,
            keys.len()
        ));
    }
    if let Some(seq) = flags.entry {
        if seq == 0 || seq > checkpoint.size {
            return Err(CliError::Usage(format!(
                "--entry {seq} is not in the checkpoint's {} entries",
                checkpoint.size
            )));
        }
        client
            .verify_entry(seq, &checkpoint)
            .await
            .map_err(failed)?;
        terminal::println(format_args!(
            "entry {seq} is included (leaf {} of {})",
            seq - 1,
            checkpoint.size
        ));
    }
    Ok(())
}

fn print_checkpoint(cp: &VerifiedCheckpoint, previous: Option<&VerifiedCheckpoint>) {
    use base64::Engine;
    terminal::println(format_args!(
        "checkpoint verified: {} size {} root {}",
        cp.origin,
        cp.size,
        base64::engine::general_purpose::STANDARD.encode(cp.root)
    ));
    match previous {
        Some(p) => terminal::println(format_args!(
            "consistent with the last verified checkpoint (size {})",
            p.size
        )),
        None => terminal::println("no earlier checkpoint on this machine: this one is now pinned"),
    }
}

/// Verifies a checkpoint (without state) and every entry of `sequences`.
pub async fn entries(client: &Client, key: &str, sequences: &[u64]) -> Result<u64, CliError> {
    let key = VerifierKey::parse(key).map_err(|e| CliError::Usage(e.to_string()))?;
    let checkpoint = client.verify_checkpoint(&key, None).await.map_err(failed)?;
    for seq in sequences {
        client
            .verify_entry(*seq, &checkpoint)
            .await
            .map_err(failed)?;
    }
    Ok(checkpoint.size)
}
