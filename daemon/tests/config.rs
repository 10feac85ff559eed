//! Configuration through the real binary: flags > environment > config
//! file > defaults, and bad files stop truced with a message naming the
//! setting and the file.

use std::{path::Path, process::Command};

fn truced_config(
    file: Option<&Path>,
    env: &[(&str, &str)],
    flags: &[&str],
) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_truced"));
    // Start from a clean environment for the settings under test.
    for var in [
        "TRUCE_CONFIG",
        "TRUCE_LISTEN",
        "TRUCE_DATA_DIR",
        "TRUCE_LOG_FORMAT",
        "TRUCE_CACHE_MB",
        "TRUCE_MAX_MESSAGE_BYTES",
        "TRUCE_MAX_SUBSCRIPTIONS",
        "TRUCE_SIGNING_KEY",
        "TRUCE_LOG_ORIGIN",
        "TRUCE_SHUTDOWN_PAUSE_MS",
        "TRUCE_SHUTDOWN_GRACE_SECS",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    if let Some(f) = file {
        cmd.arg("--config").arg(f);
    }
    cmd.args(flags).arg("config");
    let out = cmd.output().expect("truced runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn value<'a>(toml: &'a str, key: &str) -> &'a str {
    toml.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("{key} missing from {toml}"))
}

/// (use the file?, environment, flags, expected listen, cache_mb, grace).
type Case<'a> = (
    bool,
    &'a [(&'a str, &'a str)],
    &'a [&'a str],
    &'a str,
    &'a str,
    &'a str,
);

#[test]
fn precedence_flags_env_file_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("truced.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7000\"\ncache_mb = 64\nshutdown_grace_secs = 3\n",
    )
    .expect("write config");

    // (file?, env, flags) → expected listen, cache_mb, grace
    let cases: &[Case] = &[
        (false, &[], &[], "\"127.0.0.1:50051\"", "256", "10"),
        (true, &[], &[], "\"127.0.0.1:7000\"", "64", "3"),
        (
            true,
            &[("TRUCE_LISTEN", "127.0.0.1:7001")],
            &[],
            "\"127.0.0.1:7001\"",
            "64",
            "3",
        ),
        (
            true,
            &[("TRUCE_LISTEN", "127.0.0.1:7001"), ("TRUCE_CACHE_MB", "32")],
            &["--listen", "127.0.0.1:7002"],
            "\"127.0.0.1:7002\"",
            "32",
            "3",
        ),
        (
            false,
            &[("TRUCE_SHUTDOWN_GRACE_SECS", "5")],
            &[],
            "\"127.0.0.1:50051\"",
            "256",
            "5",
        ),
        (
            true,
            &[],
            &["--shutdown-grace-secs", "1"],
            "\"127.0.0.1:7000\"",
            "64",
            "1",
        ),
    ];
    for (i, (use_file, env, flags, listen, cache, grace)) in cases.iter().enumerate() {
        let (ok, out, err) = truced_config(use_file.then_some(file.as_path()), env, flags);
        assert!(ok, "case {i}: {err}");
        assert_eq!(value(&out, "listen"), *listen, "case {i}");
        assert_eq!(value(&out, "cache_mb"), *cache, "case {i}");
        assert_eq!(value(&out, "shutdown_grace_secs"), *grace, "case {i}");
    }
    // TRUCE_CONFIG names the file too.
    let (ok, out, _) = truced_config(
        None,
        &[("TRUCE_CONFIG", file.to_str().expect("utf-8"))],
        &[],
    );
    assert!(ok);
    assert_eq!(value(&out, "listen"), "\"127.0.0.1:7000\"");
}

/// The send budget and the connections' timeouts come from every source.
#[test]
fn the_budget_and_timeouts_come_from_each_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("truced.toml");
    std::fs::write(
        &file,
        "stream_buffer_mb = 8\nhandshake_timeout_ms = 250\nidle_timeout_secs = 7\n",
    )
    .expect("write config");
    let (ok, out, err) = truced_config(
        Some(&file),
        &[
            ("TRUCE_IDLE_TIMEOUT_SECS", "9"),
            ("TRUCE_KEEPALIVE_INTERVAL_SECS", "0"),
        ],
        &[
            "--stream-stall-timeout-ms",
            "1500",
            "--handshake-timeout-ms",
            "100",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(value(&out, "stream_buffer_mb"), "8");
    assert_eq!(value(&out, "stream_stall_timeout_ms"), "1500");
    assert_eq!(value(&out, "handshake_timeout_ms"), "100");
    assert_eq!(value(&out, "idle_timeout_secs"), "9");
    assert_eq!(value(&out, "keepalive_interval_secs"), "0");
    assert_eq!(value(&out, "keepalive_timeout_secs"), "20");
    // A zero budget is refused, naming the setting.
    std::fs::write(&file, "stream_buffer_mb = 0\n").expect("write config");
    let (ok, _, err) = truced_config(Some(&file), &[], &[]);
    assert!(!ok);
    assert!(err.contains("stream_buffer_mb"), "{err}");
}

#[test]
fn the_example_config_is_accepted_as_is() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/truced.example.toml");
    let (ok, out, err) = truced_config(Some(&example), &[], &[]);
    assert!(ok, "{err}");
    let (_, defaults, _) = truced_config(None, &[], &[]);
    assert_eq!(out, defaults, "the example holds the defaults");
}

#[test]
fn bad_config_files_name_the_setting_and_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("unknown.toml", "listne = \"127.0.0.1:1\"\n", "listne"),
        ("badaddr.toml", "listen = \"somewhere\"\n", "listen"),
        ("badtype.toml", "cache_mb = \"lots\"\n", "cache_mb"),
        ("badformat.toml", "log_format = \"xml\"\n", "log_format"),
        (
            "small.toml",
            "max_message_bytes = 10\n",
            "max_message_bytes",
        ),
        ("segment.toml", "log_segment_mb = 0\n", "log_segment_mb"),
        ("syntax.toml", "listen = \n", "syntax.toml"),
    ];
    for (name, text, setting) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let (ok, _, err) = truced_config(Some(&path), &[], &[]);
        assert!(!ok, "{name} accepted");
        assert!(err.contains(setting), "{name}: {err}");
        assert!(err.contains(name), "{name}: the file is named: {err}");
    }
    let (ok, _, err) = truced_config(Some(&dir.path().join("missing.toml")), &[], &[]);
    assert!(!ok);
    assert!(err.contains("missing.toml"), "{err}");
    // A bad environment value names the setting as well.
    let (ok, _, err) = truced_config(None, &[("TRUCE_CACHE_MB", "lots")], &[]);
    assert!(!ok);
    assert!(err.contains("cache-mb"), "{err}");
    let (ok, _, err) = truced_config(None, &[("TRUCE_LOG_SEGMENT_MB", "0")], &[]);
    assert!(!ok);
    assert!(err.contains("log-segment-mb"), "{err}");
}

#[test]
fn the_systemd_unit_runs_truced_with_the_example_config_as_a_dedicated_user() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/truced.service"),
    )
    .expect("the unit exists");
    let directive = |name: &str| {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{name}=")))
            .collect::<Vec<_>>()
    };
    let exec = directive("ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(
        exec[0].contains("truced --config /etc/truce/truced.toml"),
        "{exec:?}"
    );
    assert_eq!(directive("User"), ["truce"]);
    assert_eq!(directive("StateDirectory"), ["truce"]);
    assert!(directive("Environment").contains(&"TRUCE_DATA_DIR=/var/lib/truce"));
    assert!(unit.contains("install -m 0644 deploy/truced.example.toml /etc/truce/truced.toml"));
    // The arguments it passes parse.
    let args: Vec<&str> = exec[0].split_whitespace().skip(1).collect();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/truced.example.toml");
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == "/etc/truce/truced.toml" {
                example.display().to_string()
            } else if *a == "serve" {
                "config".to_owned()
            } else {
                (*a).to_owned()
            }
        })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_truced"))
        .args(&args)
        .env("TRUCE_DATA_DIR", "/var/lib/truce")
        .output()
        .expect("truced runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("data_dir = \"/var/lib/truce\""));
}
