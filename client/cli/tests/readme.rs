//! The README's `truce` commands, run in order with the real binary
//! against a daemon on 127.0.0.1:0, must succeed: the examples a reader
//! copies first are the ones that must work. Skipped: what needs what a
//! test does not have (a verifier key, a remote server, a terminal to stop
//! `watch`).

use std::{path::Path, process::Command};

use truce_daemon::{Daemon, test_settings};

/// Splits one shell command line: quotes, backslash escapes, a trailing
/// `# comment`, and `> FILE` (returned apart).
fn words(line: &str) -> (Vec<String>, Option<String>) {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '\\') => word.get_or_insert_with(String::new).extend(chars.next()),
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    match out.iter().position(|w| w == ">") {
        Some(i) => {
            let file = out.get(i + 1).cloned();
            out.truncate(i);
            (out, file)
        }
        None => (out, None),
    }
}

/// The README's `truce ...` commands in indented blocks, continuation
/// lines joined.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        let Some(code) = line.strip_prefix("    ") else {
            out.extend(current.take());
            continue;
        };
        let code = code.trim();
        if let Some(cmd) = current.as_mut() {
            cmd.push(' ');
            cmd.push_str(code.trim_end_matches('\\'));
            if !code.ends_with('\\') {
                out.extend(current.take());
            }
            continue;
        }
        if code.starts_with("truce ") {
            let cmd = code.trim_end_matches('\\').to_owned();
            if code.ends_with('\\') {
                current = Some(cmd);
            } else {
                out.push(cmd);
            }
        }
    }
    out.extend(current);
    out
}

fn skipped(args: &[String]) -> bool {
    let has = |w: &str| args.iter().any(|a| a == w);
    has("verify")
        || has("--verify")
        || args.iter().any(|a| a.starts_with("https://truce."))
        || (has("watch") && !has("--until-caught-up"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_commands_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::new(test_settings(&dir.path().join("data")))
        .start()
        .await
        .expect("daemon starts");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    std::fs::create_dir(cwd.join("examples")).unwrap();
    std::fs::copy(
        root.join("examples/seed-scenario.jsonl"),
        cwd.join("examples/seed-scenario.jsonl"),
    )
    .unwrap();
    let mut ran = 0;
    for line in readme_commands(&readme) {
        let (args, redirect) = words(&line);
        if skipped(&args) {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_truce"))
            .current_dir(&cwd)
            .env("TRUCE_SERVER", d.url())
            .args(&args[1..])
            .output()
            .expect("truce runs");
        assert!(
            out.status.success(),
            "README: {line}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(file) = redirect {
            std::fs::write(cwd.join(file), &out.stdout).unwrap();
        }
        ran += 1;
    }
    assert!(ran >= 30, "only {ran} README commands found");
    d.shutdown().await.unwrap();
}

#[test]
fn shell_words() {
    let (w, r) = words(r#"truce a "b c" 'd' e\ f   # note"#);
    assert_eq!(w, ["truce", "a", "b c", "d", "e f"]);
    assert_eq!(r, None);
    let (w, r) = words("truce export --format jsonl > reports.jsonl");
    assert_eq!(w, ["truce", "export", "--format", "jsonl"]);
    assert_eq!(r.as_deref(), Some("reports.jsonl"));
}
