//! The `truce` binary at first use, as an analyst or a monitor meets it:
//! re-runs that do not double-count, filters that catch typos, historical
//! views that say so, labels instead of enum names, an extension that
//! leaves a coherent record, help screens, one vocabulary, the small
//! messages, and the timeline chart. A daemon runs in-process on
//! 127.0.0.1:0; `truce` is the real binary.

use std::path::Path;

use truce_daemon::Running;

mod common;
use common::{daemon, text, truce};

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/seed-scenario.jsonl"
);
const AGREEMENT: &str = "ru-ua-energy-moratorium-2025";

/// Runs `truce`, which must succeed; its stdout.
fn ok(server: &str, args: &[&str]) -> String {
    let out = truce(server, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A daemon with the seed scenario (12 entries) submitted.
async fn seeded(dir: &Path) -> Running {
    let d = daemon(dir).await;
    ok(&d.url(), &["submit", "--file", SEED]);
    d
}

/// The README's report, and its status change, as arguments.
const README_REPORT: &[&str] = &[
    "report",
    "submit",
    "--agreement",
    AGREEMENT,
    "--occurred",
    "2025-03-23",
    "--type",
    "drone-strike",
    "--weapon",
    "drone",
    "--target",
    "power-transmission",
    "--country",
    "UA",
    "--admin1",
    "Kharkiv Oblast",
    "--perpetrator",
    "RU",
    "--reported-by",
    "UA",
    "--source",
    "https://example.org/statements/x",
];

const README_EXTENSION: &[&str] = &[
    "status",
    "set",
    "--agreement",
    AGREEMENT,
    "--status",
    "extended",
    "--new-expires-at",
    "2025-05-17",
    "--reason",
    "renewed for 30 days",
];

fn receipt(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).expect("a JSON receipt")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_a_single_write_twice_records_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = seeded(dir.path()).await;
    let json = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        receipt(&ok(&d.url(), &all))
    };
    let first = json(README_REPORT);
    assert_eq!(first["duplicate"], serde_json::Value::Null, "{first}");
    let again = json(README_REPORT);
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["sequence"], first["sequence"]);
    assert_eq!(again["recordId"], first["recordId"]);
    // In human mode the re-run says so.
    let out = truce(&d.url(), README_REPORT);
    assert!(
        text(&out.stderr).contains("already recorded"),
        "{}",
        text(&out.stderr)
    );
    // Every other single write too.
    let claim = [
        "claim",
        "add",
        "--party",
        "UA",
        "--kind",
        "accusation",
        "--report",
        "seed-report-3",
        "--stated-at",
        "2025-03-23",
        "--statement",
        "again",
    ];
    let status = [
        "status",
        "set",
        "--report",
        "seed-report-3",
        "--evidence",
        "corroborated",
        "--reason",
        "second source",
    ];
    let source = [
        "source",
        "attach",
        "--report",
        "seed-report-3",
        "--url",
        "https://example.org/s",
    ];
    let correct = [
        "report",
        "correct",
        "seed-report-3",
        "--set",
        "harm.injured=4",
        "--reason",
        "hospital figures",
    ];
    for args in [&claim[..], &status[..], &source[..], &correct[..]] {
        let first = json(args);
        let again = json(args);
        assert_eq!(again["duplicate"], true, "{args:?}: {again}");
        assert_eq!(again["sequence"], first["sequence"], "{args:?}");
    }
    // --request-id overrides: the same content is recorded again.
    let mut explicit = README_REPORT.to_vec();
    explicit.extend(["--request-id", "second-copy-on-purpose"]);
    let other = json(&explicit);
    assert_eq!(other["duplicate"], serde_json::Value::Null, "{other}");
    assert_ne!(other["sequence"], first["sequence"]);
    let help = ok(&d.url(), &["report", "submit", "--help"]);
    assert!(
        help.contains("derived from the request's content"),
        "{help}"
    );
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typos_in_filters_are_errors_and_empty_results_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = seeded(dir.path()).await;
    let out = truce(
        &d.url(),
        &[
            "report",
            "list",
            "--agreement",
            "ru-ua-energy-moratorium-2024",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("not found") && err.contains("ru-ua-energy-moratorium-2024"),
        "{err}"
    );
    // watch too: a stream that would never show anything.
    let out = truce(
        &d.url(),
        &[
            "watch",
            "--from-start",
            "--until-caught-up",
            "--agreement",
            "ru-ua-energy-moratorium-2024",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not found"));
    // A lower-case country is the upper-case one.
    let lower = ok(&d.url(), &["report", "list", "--country", "ua"]);
    assert!(lower.contains("seed-report-3"), "{lower}");
    assert_eq!(lower, ok(&d.url(), &["report", "list", "--country", "UA"]));
    // Not a code at all: refused with a hint.
    let out = truce(&d.url(), &["report", "list", "--country", "Ukraine"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ISO 3166-1 alpha-2"),
        "{}",
        text(&out.stderr)
    );
    // A filter that matches nothing: exit 0, nothing on stdout, said on stderr.
    let out = truce(&d.url(), &["report", "list", "--perpetrator", "XX"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).contains("no reports match"),
        "{}",
        text(&out.stderr)
    );
    let out = truce(&d.url(), &["agreement", "list", "--party", "XX"]);
    assert!(text(&out.stderr).contains("no agreements match"));
    // JSON stays empty and quiet.
    let out = truce(
        &d.url(),
        &["--json", "report", "list", "--perpetrator", "XX"],
    );
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_as_of_a_sequence_say_which_and_labels_replace_enum_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = seeded(dir.path()).await;
    let then = ok(
        &d.url(),
        &["report", "show", "seed-report-1", "--as-of", "4"],
    );
    let first = then.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("AS OF") && first.contains("sequence 4"),
        "{then}"
    );
    let then = ok(&d.url(), &["agreement", "show", AGREEMENT, "--as-of", "3"]);
    assert!(then.contains("sequence 3"), "{then}");
    let now = ok(&d.url(), &["report", "show", "seed-report-1"]);
    assert!(!now.contains("AS OF"), "{now}");

    // Scope reasons in the flags' labels, not proto names.
    for args in [
        &["scope", "seed-report-3", "--agreement", AGREEMENT][..],
        &["scope", "seed-report-1"][..],
        &["compliance", AGREEMENT][..],
    ] {
        let shown = ok(&d.url(), args);
        for raw in ["TARGET_CLASS_", "EVENT_TYPE_", "COMPLIANCE_FINDING_"] {
            assert!(!shown.contains(raw), "{args:?} prints {raw}: {shown}");
        }
    }
    let scope = ok(
        &d.url(),
        &["scope", "seed-report-3", "--agreement", AGREEMENT],
    );
    assert!(
        scope.contains("target power-transmission is protected"),
        "{scope}"
    );
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_extension_leaves_a_coherent_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = seeded(dir.path()).await;
    // An extension that would take effect after its own new expiry.
    let mut late = README_EXTENSION.to_vec();
    late.extend(["--effective-at", "2025-06-01"]);
    let out = truce(&d.url(), &late);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("status.effective_at"));

    // The README's: recorded after the April lapse, it takes effect at the
    // expiry it extends.
    ok(&d.url(), README_EXTENSION);
    let shown = ok(&d.url(), &["agreement", "show", AGREEMENT]);
    assert!(
        shown.contains("extended since 2025-04-17T17:00:00Z"),
        "{shown}"
    );
    assert!(shown.contains("2025-05-17"), "{shown}");
    let in_force = ok(
        &d.url(),
        &["agreement", "list", "--in-force-at", "2025-04-20"],
    );
    assert!(in_force.contains(AGREEMENT), "{in_force}");
    // The compliance period ends at the new expiry.
    let report: serde_json::Value =
        serde_json::from_str(&ok(&d.url(), &["--json", "compliance", AGREEMENT])).unwrap();
    assert_eq!(report["period"]["to"], "2025-05-17T00:00:00+00:00");
    // The chart marks the extension, the lapse it overrode and the new expiry.
    let svg = dir.path().join("t.svg");
    ok(
        &d.url(),
        &["compliance", AGREEMENT, "--svg", svg.to_str().unwrap()],
    );
    let svg = std::fs::read_to_string(svg).unwrap();
    for label in ["extended", "lapsed (overridden)", "expires 05-17"] {
        assert!(svg.contains(label), "no {label:?} in the chart");
    }
    d.shutdown().await.unwrap();
}

/// The options of a help screen that have no description.
fn undescribed(help: &str) -> Vec<String> {
    let options = help.split("\nExamples:").next().unwrap_or(help);
    let lines: Vec<&str> = options.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let is_option = t.starts_with("--") || (t.starts_with('-') && t.get(2..4) == Some(", "));
        let is_positional = t.starts_with('<');
        if !(is_option || is_positional) || indent(line) == 0 {
            continue;
        }
        let inline = t
            .split_once("  ")
            .is_some_and(|(_, rest)| !rest.trim().is_empty());
        let below = lines
            .get(i + 1)
            .is_some_and(|next| indent(next) > indent(line) && !next.trim_start().starts_with('-'));
        if !inline && !below {
            out.push(t.to_owned());
        }
    }
    out
}

const COMMANDS: &[&[&str]] = &[
    &["agreement", "add"],
    &["agreement", "list"],
    &["agreement", "show"],
    &["report", "submit"],
    &["report", "list"],
    &["report", "correct"],
    &["report", "show"],
    &["claim", "add"],
    &["status", "set"],
    &["source", "attach"],
    &["export"],
    &["import"],
    &["admin", "backup"],
    &["scope"],
    &["compliance"],
    &["changes"],
    &["log"],
    &["verify"],
    &["watch"],
    &["submit"],
];

#[test]
fn every_help_screen_describes_its_flags_and_shows_examples() {
    for command in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let help = ok("http://127.0.0.1:9", &args);
        assert_eq!(undescribed(&help), Vec::<String>::new(), "{command:?}");
        assert!(!help.contains("[default: \"\"]"), "{command:?}: {help}");
        assert!(help.contains("\nExamples:\n  truce"), "{command:?}: {help}");
        // Global flags apart, after the command's own.
        let global = help.find("Global options:").expect("a global section");
        assert!(
            help.find("--server").is_some_and(|s| s > global),
            "{command:?}: {help}"
        );
    }
    // Enum flags list their values; a typo lists them too.
    let help = ok("http://127.0.0.1:9", &["report", "list", "--help"]);
    assert!(
        help.contains("[possible values: air-strike, drone-strike"),
        "{help}"
    );
    let out = truce("http://127.0.0.1:9", &["report", "list", "--type", "drone"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("possible values") && err.contains("drone-strike"),
        "{err}"
    );
    // The old spellings still parse but are not shown.
    let log = ok("http://127.0.0.1:9", &["log", "--help"]);
    assert!(
        log.contains("--from-seq") && !log.contains("--from <"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_vocabulary_and_the_old_spellings_for_one_release() {
    let dir = tempfile::tempdir().unwrap();
    let d = seeded(dir.path()).await;
    let u = d.url();
    // Sequences: --from-seq (inclusive), --after-seq (exclusive), --to-seq (inclusive).
    let log = ok(&u, &["log", "--from-seq", "3", "--limit", "1"]);
    assert!(
        log.lines().nth(1).unwrap_or_default().starts_with("3 "),
        "{log}"
    );
    assert_eq!(log, ok(&u, &["log", "--from", "3", "--limit", "1"]));
    let changes = ok(&u, &["changes", "--after-seq", "8", "--to-seq", "10"]);
    assert_eq!(changes.lines().count(), 3, "header and 9, 10: {changes}");
    assert_eq!(
        changes,
        ok(&u, &["changes", "--after", "8", "--until", "10"])
    );
    let watched = ok(&u, &["watch", "--after-seq", "10", "--until-caught-up"]);
    assert_eq!(watched.lines().count(), 3, "header and 11, 12: {watched}");
    // Event times: --from (inclusive), --until (exclusive).
    let listed = ok(
        &u,
        &[
            "report",
            "list",
            "--from",
            "2025-03-19",
            "--until",
            "2025-03-21",
        ],
    );
    assert!(
        listed.contains("seed-report-1") && !listed.contains("seed-report-2"),
        "{listed}"
    );
    assert_eq!(
        listed,
        ok(
            &u,
            &[
                "report",
                "list",
                "--since",
                "2025-03-19",
                "--until",
                "2025-03-21"
            ]
        )
    );
    let by_status = ok(&u, &["report", "list", "--evidence", "disputed"]);
    assert_eq!(
        by_status,
        ok(&u, &["report", "list", "--status", "disputed"])
    );
    let period = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--json", "compliance", AGREEMENT, "--no-annex"];
        all.extend_from_slice(args);
        serde_json::from_str::<serde_json::Value>(&ok(&u, &all)).unwrap()["period"].clone()
    };
    assert_eq!(
        period(&["--from", "2025-03-18", "--until", "2025-04-01"]),
        period(&["--from", "2025-03-18", "--to", "2025-04-01"])
    );
    // The table in docs/cli.md names them.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md"))
        .expect("docs/cli.md");
    for flag in [
        "--from-seq",
        "--after-seq",
        "--to-seq",
        "--from",
        "--until",
        "--as-of",
    ] {
        assert!(
            doc.contains(&format!("`{flag}")),
            "docs/cli.md lacks {flag}"
        );
    }
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_small_things() {
    let dir = tempfile::tempdir().unwrap();
    let d = seeded(dir.path()).await;
    // The address as truced prints it.
    let bare = d.url().replacen("http://", "", 1);
    let shown = ok(&bare, &["report", "show", "seed-report-1"]);
    assert!(shown.contains("seed-report-1"));
    // https:// against a plaintext daemon.
    let https = d.url().replacen("http://", "https://", 1);
    let out = truce(&https, &["report", "show", "seed-report-1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("not speaking TLS"), "{err}");
    // The sequence outside the quoted id.
    let out = truce(&d.url(), &["report", "show", "x", "--as-of", "3"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("report \"x\" not found at sequence 3"),
        "{err}"
    );
    // watch shows what a status change sets, not only why.
    let watched = ok(&d.url(), &["watch", "--from-start", "--until-caught-up"]);
    let status_rows: Vec<&str> = watched.lines().filter(|l| l.contains(" status ")).collect();
    assert_eq!(status_rows.len(), 4, "{watched}");
    assert!(status_rows[0].contains("evidence disputed: "), "{watched}");
    assert!(status_rows[3].contains("status lapsed: "), "{watched}");
    d.shutdown().await.unwrap();
}

/// The fills of an SVG's rects that are bar colours.
fn bar_fills(svg: &str) -> std::collections::BTreeSet<String> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed");
    let palette: Vec<String> = truce_cli::timeline::PALETTE
        .iter()
        .map(|c| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2))
        .collect();
    doc.descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter_map(|n| n.attribute("fill"))
        .filter(|f| palette.iter().any(|p| p == f))
        .map(str::to_owned)
        .collect()
}

fn hex(party: &str) -> String {
    let c = truce_cli::timeline::colour_of(party);
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_keeps_party_colours_and_names_its_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let d = seeded(dir.path()).await;
    let u = d.url();
    // A second agreement, with alleged violations by both parties.
    ok(
        &u,
        &[
            "agreement",
            "add",
            "--id",
            "two-parties",
            "--title",
            "Second truce",
            "--party",
            "RU:signatory",
            "--party",
            "UA:signatory",
            "--declared-at",
            "2025-03-01",
            "--effective-from",
            "2025-03-01",
            "--expires-at",
            "2025-04-01",
            "--prohibit",
            "any-strike",
        ],
    );
    // Two reports: RU's first, so UA comes second in this chart's order
    // (and first in the seed agreement's, where UA is the only one).
    for (day, perpetrator, country) in [("2025-03-10", "RU", "UA"), ("2025-03-11", "UA", "RU")] {
        ok(
            &u,
            &[
                "report",
                "submit",
                "--agreement",
                "two-parties",
                "--occurred",
                day,
                "--type",
                "drone-strike",
                "--target",
                "military",
                "--country",
                country,
                "--perpetrator",
                perpetrator,
                "--reported-by",
                country,
                "--source",
                "https://example.org/r",
            ],
        );
    }
    let chart = |agreement: &str, file: &str| {
        let path = dir.path().join(file);
        ok(
            &u,
            &["compliance", agreement, "--svg", path.to_str().unwrap()],
        );
        std::fs::read_to_string(path).unwrap()
    };
    let seed = chart(AGREEMENT, "seed.svg");
    let second = chart("two-parties", "second.svg");
    let ua_and_ru: std::collections::BTreeSet<String> = [hex("UA"), hex("RU")].into();
    assert_eq!(bar_fills(&seed), [hex("UA")].into());
    assert_eq!(bar_fills(&second), ua_and_ru);
    // The sequence and checkpoint it shows, and the lapse marked.
    assert!(seed.contains("as of log sequence 15"), "{seed}");
    assert!(seed.contains("checkpoint "), "{seed}");
    assert!(
        seed.contains(">lapsed<") || seed.contains(">\nlapsed"),
        "{seed}"
    );
    assert!(second.contains("as of log sequence 15"), "{second}");
    d.shutdown().await.unwrap();
}
