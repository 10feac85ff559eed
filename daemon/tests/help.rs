//! The real `truced`'s help screens: each subcommand lists only the
//! settings it uses, every flag is described, each shows examples; and
//! `restore --verifier-key ""` is refused with a reason instead of a key
//! that pins nothing.

mod common;

fn help(args: &[&str]) -> String {
    let out = common::truced()
        .args(args)
        .arg("--help")
        .output()
        .expect("truced runs");
    assert!(out.status.success(), "{args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The long flags a help screen lists.
fn flags(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let t = t.strip_prefix("-h, ").unwrap_or(t);
            let t = t.strip_prefix("-V, ").unwrap_or(t);
            t.strip_prefix("--")
                .map(|f| f.split([' ', '=']).next().unwrap_or_default().to_owned())
        })
        .collect()
}

const SERVING: &[&str] = &[
    "listen",
    "metrics-listen",
    "max-message-bytes",
    "tls-cert",
    "insecure",
    "rate-limit-per-sec",
    "request-timeout-ms",
    "shutdown-grace-secs",
];

#[test]
fn subcommands_show_only_the_settings_they_use() {
    let token = help(&["token", "new"]);
    assert_eq!(flags(&token), ["name", "role", "help"], "{token}");
    assert!(
        token.contains("[possible values: reader, reporter, admin]"),
        "{token}"
    );
    for (command, wanted, unwanted) in [
        (&["serve"][..], SERVING, &[][..]),
        (&["config"][..], SERVING, &[][..]),
        (&["reindex"][..], &["data-dir", "cache-mb"][..], SERVING),
        (&["audit"][..], &["data-dir"][..], SERVING),
        (
            &["key", "show"][..],
            &["data-dir", "signing-key", "log-origin"][..],
            SERVING,
        ),
        (
            &["backup"][..],
            &["to", "data-dir", "signing-key"][..],
            SERVING,
        ),
        (
            &["restore"][..],
            &["from", "verifier-key", "data-dir"][..],
            SERVING,
        ),
    ] {
        let shown = flags(&help(command));
        for f in wanted {
            assert!(shown.iter().any(|s| s == f), "{command:?} lacks --{f}");
        }
        for f in unwanted {
            assert!(!shown.iter().any(|s| s == f), "{command:?} lists --{f}");
        }
    }
    // Without a subcommand truced serves, so its own screen has them all.
    let top = help(&[]);
    assert!(flags(&top).iter().any(|f| f == "listen"), "{top}");
}

#[test]
fn every_flag_is_described_and_each_command_shows_examples() {
    for command in [
        &[][..],
        &["serve"][..],
        &["reindex"][..],
        &["config"][..],
        &["key", "show"][..],
        &["token", "new"][..],
        &["audit"][..],
        &["backup"][..],
        &["restore"][..],
    ] {
        let text = help(command);
        assert!(
            text.contains("\nExamples:\n  truced"),
            "{command:?}: {text}"
        );
        let options = text.split("\nExamples:").next().unwrap_or_default();
        let lines: Vec<&str> = options.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if !t.starts_with('-') {
                continue;
            }
            let inline = t
                .split_once("  ")
                .is_some_and(|(_, r)| !r.trim().is_empty());
            let below = lines
                .get(i + 1)
                .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
            assert!(inline || below, "{command:?}: {t:?} has no description");
        }
    }
}

#[test]
fn flags_before_the_subcommand_still_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("d");
    let out = common::truced()
        .arg("--data-dir")
        .arg(&data)
        .args(["config"])
        .output()
        .expect("truced runs");
    let toml = String::from_utf8_lossy(&out.stdout);
    assert!(
        toml.contains(&format!("{:?}", data.display().to_string())),
        "{toml}"
    );
    // The subcommand's own flag wins over one given before it.
    let out = common::truced()
        .args([
            "--listen",
            "127.0.0.1:1",
            "config",
            "--listen",
            "127.0.0.1:2",
        ])
        .output()
        .expect("truced runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("listen = \"127.0.0.1:2\""));
    // The environment counts for a subcommand, under its flags.
    let config = |args: &[&str]| {
        let out = common::truced()
            .env("TRUCE_LISTEN", "127.0.0.1:3")
            .args(args)
            .output()
            .expect("truced runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(config(&["config"]).contains("listen = \"127.0.0.1:3\""));
    assert!(config(&["config", "--listen", "127.0.0.1:4"]).contains("listen = \"127.0.0.1:4\""));
    assert!(help(&["serve"]).contains("[env: TRUCE_LISTEN]"));
}

#[test]
fn an_empty_verifier_key_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = common::truced()
        .args(["restore", "--from"])
        .arg(dir.path())
        .args(["--verifier-key", "", "--data-dir"])
        .arg(dir.path().join("restored"))
        .output()
        .expect("truced runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the key is empty"), "{err}");
    assert!(!err.contains("pinned key \n"), "{err}");
}
