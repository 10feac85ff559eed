//! deploy/: the systemd unit is hardened and passes `systemd-analyze
//! verify` (where the command exists; skipped otherwise), and the
//! Dockerfile builds `truced`, runs it as a non-root user with the data dir
//! as a volume, and exposes the ports its settings listen on (no container
//! engine runs here, so the file itself is what is checked); truced speaks
//! the unit's `Type=notify` protocol.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

mod common;

use std::{
    os::unix::net::UnixDatagram,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

fn deploy(file: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// The values of `Key=` lines.
fn directive<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_systemd_unit_is_sandboxed_and_restarts_within_a_limit() {
    let (_, unit) = deploy("truced.service");
    for (key, value) in [
        ("User", "truce"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/truce"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("Restart", "on-failure"),
        ("CapabilityBoundingSet", ""),
        // `systemctl reload` re-reads the tokens.
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        // `systemctl start` returns once truced says it serves.
        ("Type", "notify"),
    ] {
        assert_eq!(directive(&unit, key), [value], "{key}");
    }
    assert!(!directive(&unit, "StartLimitBurst").is_empty());
    assert!(!directive(&unit, "StartLimitIntervalSec").is_empty());
    assert!(!directive(&unit, "LimitNOFILE").is_empty());
    // The data dir it may write is the one it is told to use.
    assert!(directive(&unit, "Environment").contains(&"TRUCE_DATA_DIR=/var/lib/truce"));
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let available = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    // verify checks that ExecStart= is executable: point it at the build.
    let (_, unit) = deploy("truced.service");
    let unit = unit.replace("/usr/local/bin/truced", env!("CARGO_BIN_EXE_truced"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truced.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("truced.service"),
        "warnings about the unit: {stderr}"
    );
}

/// The port of an address like `0.0.0.0:50051`.
fn port(addr: &str) -> &str {
    addr.trim_matches('"').rsplit_once(':').unwrap().1
}

#[test]
fn the_dockerfile_builds_truced_and_runs_it_unprivileged_on_its_ports() {
    let (_, file) = deploy("Dockerfile");
    // Instructions, with continuation lines joined.
    let joined = file
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let instructions: Vec<&str> = joined.lines().map(str::trim).collect();
    let froms: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(froms[0].starts_with("FROM rust:1-bookworm"), "{froms:?}");
    let run_stage = &joined[joined.rfind("\nFROM ").unwrap()..];
    assert!(
        joined.contains("cargo build --release --locked -p truce-daemon --bin truced"),
        "builds the binary"
    );
    assert!(run_stage.contains("COPY --from=build /out/truced /usr/local/bin/truced"));
    assert!(run_stage.contains("ENTRYPOINT [\"/usr/local/bin/truced\"]"));
    assert!(run_stage.contains("VOLUME [\"/var/lib/truce\"]"));
    let users: Vec<&str> = run_stage
        .lines()
        .filter_map(|l| l.trim().strip_prefix("USER "))
        .collect();
    assert_eq!(users.len(), 1, "{users:?}");
    let user = users[0].split(':').next().unwrap();
    assert!(user != "root" && user != "0", "runs as {user}");
    let words = run_stage.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains(&format!("useradd --system --uid 10001 --user-group --home-dir /var/lib/truce --shell /usr/sbin/nologin {user}")));

    // The settings it passes through the environment are real ones, and
    // truced reads them as meant.
    let env: Vec<(&str, &str)> = run_stage
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| k.starts_with("TRUCE_"))
        .collect();
    let get = |k: &str| env.iter().find(|(key, _)| *key == k).unwrap().1;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/truced.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_truced"))
        .arg("config")
        .envs(env.iter().filter(|(k, _)| *k != "TRUCE_CONFIG").copied())
        .env("TRUCE_CONFIG", &example)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let shown = String::from_utf8_lossy(&out.stdout);
    let listen = get("TRUCE_LISTEN");
    let metrics = get("TRUCE_METRICS_LISTEN");
    assert!(shown.contains(&format!("listen = \"{listen}\"")), "{shown}");
    assert!(
        shown.contains(&format!("metrics_listen = \"{metrics}\"")),
        "{shown}"
    );
    assert!(shown.contains("data_dir = \"/var/lib/truce\""), "{shown}");
    assert!(run_stage.contains(&format!(
        "COPY deploy/truced.example.toml {}",
        get("TRUCE_CONFIG")
    )));

    // It exposes exactly those ports, and gRPC is on the example's port.
    let exposed: Vec<&str> = run_stage
        .lines()
        .filter_map(|l| l.trim().strip_prefix("EXPOSE "))
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(exposed, [port(listen), port(metrics)]);
    let (_, example) = deploy("truced.example.toml");
    let example_listen = example
        .lines()
        .find_map(|l| l.strip_prefix("listen = "))
        .unwrap();
    assert_eq!(port(example_listen), port(listen));
}

#[test]
fn truced_tells_the_service_manager_when_it_is_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let next = || {
        let mut buf = [0u8; 4096];
        let n = socket
            .recv(&mut buf)
            .expect("a notification within a minute");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut cmd = common::truced();
    cmd.env("NOTIFY_SOCKET", &socket_path)
        .args(["--listen", "127.0.0.1:0", "--shutdown-pause-ms", "0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"));
    let (child, started) = common::spawn(cmd);
    let addr = started.unwrap();

    let ready = next();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    assert!(
        ready
            .lines()
            .any(|l| l == format!("STATUS=serving on {addr}")),
        "{ready}"
    );
    // A reload (here with no config file: nothing to read) is bracketed.
    common::signal(&child, "-HUP");
    let reloading = next();
    assert!(reloading.lines().any(|l| l == "RELOADING=1"), "{reloading}");
    let ready = next();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");

    let stderr = common::stop(child);
    let stopping = next();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping}");
    assert!(stderr.contains("no config file"), "{stderr}");
}
