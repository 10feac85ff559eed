//! The real `truced` as its own process (so RSS and CPU are its own): found
//! next to this executable, started on 127.0.0.1:0 with a given data dir,
//! cache and no rate limit, its metrics endpoint on a free loopback port;
//! stopped with SIGTERM (killed if it does not exit) when dropped.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::error::{Error, Result};

/// A running truced.
pub struct Truced {
    child: Child,
    pub url: String,
    pub metrics: SocketAddr,
    stderr_path: PathBuf,
}

/// `truced` next to the running executable (`target/<profile>/`).
pub fn beside_this_executable() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| Error::other("the executable has no directory"))?;
    // Test executables live one level down, in deps/.
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let truced = d.join("truced");
        if truced.exists() {
            return Ok(truced);
        }
    }
    Err(Error::other(format!(
        "no truced next to {}: cargo build --release -p truce-daemon -p truce-tests",
        exe.display()
    )))
}

/// A port nobody listens on now (bind, read, release).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Truced {
    /// Starts `binary` on `data_dir` with a `cache_mb` sled cache; waits
    /// for its "listening on ADDR" line.
    pub fn start(binary: &Path, data_dir: &Path, cache_mb: u64) -> Result<Self> {
        let metrics: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let stderr_path = data_dir.with_extension("stderr");
        let stderr = std::fs::File::create(&stderr_path)?;
        let mut cmd = Command::new(binary);
        for (key, _) in std::env::vars() {
            if key.starts_with("TRUCE_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0", "--rate-limit-per-sec", "0"])
            .arg("--metrics-listen")
            .arg(metrics.to_string())
            .arg("--cache-mb")
            .arg(cache_mb.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .env("TRUCE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            let why = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            return Err(Error::other(format!(
                "{} did not start: {}",
                binary.display(),
                why.trim()
            )));
        };
        Ok(Self {
            url: format!("http://{addr}"),
            child,
            metrics,
            stderr_path,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One scrape of GET /metrics.
    pub fn scrape(&self) -> Result<Metrics> {
        Ok(Metrics::parse(&scrape(self.metrics)?))
    }

    /// SIGTERM, then a kill after 20 s; stderr if it did not exit cleanly.
    pub fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                let why = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
                return Err(Error::other(format!("truced exited with {status}: {why}")));
            }
            if Instant::now() >= deadline {
                return Err(Error::other("truced did not stop within 20 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One GET /metrics of truced's endpoint at `addr`: the whole answer,
/// headers included.
pub fn scrape(addr: SocketAddr) -> Result<String> {
    get_metrics(addr, "HTTP/1.1")
}

/// The same of etcd's (its client URL serves /metrics): asked in HTTP/1.0
/// so that the answer is not chunked.
pub fn scrape_etcd(addr: SocketAddr) -> Result<String> {
    get_metrics(addr, "HTTP/1.0")
}

fn get_metrics(addr: SocketAddr, version: &str) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = format!("GET /metrics {version}\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    let status = body.lines().next().unwrap_or_default();
    if !(status.starts_with("HTTP/1.") && status.contains(" 200")) {
        return Err(Error::other(format!(
            "metrics at {addr} answered {:?}",
            body.lines().next()
        )));
    }
    Ok(body)
}

/// The value of the unlabelled series `name` in a scrape; NaN if absent.
pub fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

impl Drop for Truced {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The commit pipeline's counters from one scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    /// Entries made durable.
    pub appends: f64,
    /// Σ entries over groups, and groups (one sync each).
    pub group_entries_sum: f64,
    pub groups: f64,
}

impl Metrics {
    fn parse(text: &str) -> Self {
        let value = |name: &str| series(text, name);
        Self {
            appends: value("truce_appends_total"),
            group_entries_sum: value("truce_group_commit_entries_sum"),
            groups: value("truce_group_commit_entries_count"),
        }
    }

    /// Entries per group commit (so per fsync) between two scrapes.
    pub fn entries_per_sync(before: &Self, after: &Self) -> f64 {
        (after.group_entries_sum - before.group_entries_sum) / (after.groups - before.groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_commit_series() {
        let text = "# TYPE truce_appends counter\ntruce_appends_total 120\n\
            truce_group_commit_entries_sum 120.0\ntruce_group_commit_entries_count 30\n\
            truce_group_commit_entries_bucket{le=\"1.0\"} 3\n";
        let m = Metrics::parse(text);
        assert_eq!(
            (m.appends, m.group_entries_sum, m.groups),
            (120.0, 120.0, 30.0)
        );
        let before = Metrics {
            appends: 20.0,
            group_entries_sum: 20.0,
            groups: 10.0,
        };
        assert_eq!(Metrics::entries_per_sync(&before, &m), 5.0);
        assert!(Metrics::parse("").appends.is_nan());
    }
}
