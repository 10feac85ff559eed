//! A PostgreSQL server of the benchmark's own: its binaries found (PATH,
//! then /usr/lib/postgresql/*/bin) or installed with apt-get when allowed
//! and root; a fresh cluster in a temporary dir on the benchmark's
//! filesystem (owned by `postgres` and run through `runuser` when we are
//! root, as initdb refuses root), trust auth, loopback only, on a free
//! port, `synchronous_commit` and `fsync` on, WAL settings left at their
//! defaults. Stopped (`pg_ctl stop -m fast`) and deleted when dropped.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use super::{truced::free_port, usage::effective_uid};

/// The superuser initdb creates; the benchmark connects as it.
pub const USER: &str = "truce_bench";

/// Why PostgreSQL is left out of a run (shown in the table).
pub type Skip = String;

/// The directory holding `initdb` and `pg_ctl`, installing the
/// `postgresql` package first when `install` and we are root.
pub fn binaries(install: bool) -> Result<PathBuf, Skip> {
    if let Some(dir) = find_binaries() {
        return Ok(dir);
    }
    if !install {
        return Err("initdb/pg_ctl not found (this run installs nothing)".into());
    }
    if effective_uid() != Some(0) {
        return Err("initdb/pg_ctl not found, and not root to apt-get install postgresql".into());
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    eprintln!("PostgreSQL not found: apt-get install -y postgresql");
    if !apt(&["install", "-y", "-qq", "postgresql"]) {
        let _ = apt(&["update", "-qq"]);
        if !apt(&["install", "-y", "-qq", "postgresql"]) {
            return Err("initdb/pg_ctl not found and apt-get install postgresql failed".into());
        }
    }
    find_binaries().ok_or_else(|| "apt-get installed postgresql but no initdb/pg_ctl found".into())
}

fn find_binaries() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH")
        && let Some(d) = std::env::split_paths(&path).find(|d| has_both(d))
    {
        return Some(d);
    }
    // Debian keeps them per major version; take the newest.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((major, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A running server; stopped and deleted on drop.
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    pub port: u16,
    pub version: String,
    dir: tempfile::TempDir,
}

/// The server's processes: the postmaster (from `postmaster.pid`) and its
/// children (backends, WAL writer, checkpointer...), for their CPU time.
pub fn pids(server: &PgServer) -> Vec<u32> {
    let Some(main) = std::fs::read_to_string(server.data.join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
    else {
        return Vec::new();
    };
    let mut pids = vec![main];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let parent = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let rest = &stat[stat.rfind(')')? + 1..];
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        if parent == Some(main) {
            pids.push(pid);
        }
    }
    pids
}

impl PgServer {
    /// initdb, configure and start a cluster under `base`.
    pub fn start(bin: &Path, base: &Path) -> Result<Self, Skip> {
        let dir = tempfile::Builder::new()
            .prefix("truce-bench-pg")
            .tempdir_in(base)
            .map_err(|e| format!("temp dir: {e}"))?;
        let as_postgres = effective_uid() == Some(0);
        if as_postgres {
            if let Some(closed) = unsearchable_ancestor(base) {
                return Err(format!(
                    "the postgres user cannot enter {} (mode o-x): give --dir a directory every user can reach",
                    closed.display()
                ));
            }
            let (uid, gid) = user_ids("postgres")
                .ok_or("running as root and there is no postgres user to run initdb as")?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.path().display()))?;
        }
        let port = free_port().map_err(|e| e.to_string())?;
        let mut server = Self {
            bin: bin.to_owned(),
            data: dir.path().join("data"),
            as_postgres,
            port,
            version: String::new(),
            dir,
        };
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                server.data.as_os_str(),
                "-U".as_ref(),
                USER.as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        )?;
        let conf = format!(
            "\n# truce-bench\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nsynchronous_commit = on\nfsync = on\n\
             max_connections = 200\n",
            server.dir.path().display()
        );
        append(&server.data.join("postgresql.conf"), &conf)
            .map_err(|e| format!("postgresql.conf: {e}"))?;
        let log = server.dir.path().join("server.log");
        server.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                server.data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )?;
        server.version = server
            .run("postgres", &["--version".as_ref()])?
            .trim()
            .to_owned();
        Ok(server)
    }

    /// Runs one of the binaries (as `postgres` when we are root); its
    /// stdout, or why it failed.
    fn run(&self, name: &str, args: &[&std::ffi::OsStr]) -> Result<String, Skip> {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{name}: {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            return Err(format!(
                "{name} failed ({}): {}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data.clone();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}

/// The first directory on the way to `dir` that other users cannot
/// search (enter), if any.
fn unsearchable_ancestor(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = dir.canonicalize().ok()?;
    dir.ancestors()
        .find(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 == 0))
        .map(Path::to_owned)
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// uid and gid of `user` from /etc/passwd.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd_ids(&passwd, user)
}

fn passwd_ids(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == user).then_some(())?;
        let _password = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_directories_are_found() -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let open = dir.path().join("open");
        std::fs::create_dir(&open)?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755))?;
        assert_eq!(
            unsearchable_ancestor(&open),
            Some(dir.path().canonicalize()?)
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        assert_eq!(unsearchable_ancestor(&open), None);
        Ok(())
    }

    #[test]
    fn ids_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(passwd_ids(passwd, "postgres"), Some((101, 104)));
        assert_eq!(passwd_ids(passwd, "nobody"), None);
    }
}
