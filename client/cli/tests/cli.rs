//! The `truce` binary run as a user would, against a daemon started
//! in-process on 127.0.0.1:0.

use std::{path::Path, process::Command};

use truce_daemon::{Daemon, test_settings};

mod common;
use common::{daemon, text, truce};

const SEED: &str = include_str!("../../../examples/seed-scenario.jsonl");

/// The seed lines that create records (agreements and reports).
fn creating_seed_lines() -> String {
    SEED.lines()
        .filter(|l| l.starts_with(r#"{"agreement""#) || l.starts_with(r#"{"report""#))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_twice_second_run_is_all_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let file = dir.path().join("seed.jsonl");
    std::fs::write(&file, creating_seed_lines()).unwrap();
    let file = file.to_str().unwrap();

    let first = truce(&d.url(), &["submit", "--file", file]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let out = text(&first.stdout);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("LINE"), "{out}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 4, "{out}");
    assert_eq!(rows[0][2], "ru-ua-energy-moratorium-2025");
    assert!(rows.iter().all(|r| r[4] == "no"), "{out}");

    let second = truce(&d.url(), &["--json", "submit", "--file", file]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let receipts: Vec<serde_json::Value> = text(&second.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(receipts.len(), 4);
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r["duplicate"], true, "{r}");
        assert_eq!(r["sequence"], (i + 1).to_string(), "{r}");
    }

    // show and log, as tables and as JSON.
    let show = truce(&d.url(), &["report", "show", "seed-report-3"]);
    assert!(show.status.success());
    assert!(
        text(&show.stdout).contains("Donetsk Oblast"),
        "{}",
        text(&show.stdout)
    );
    let show = truce(
        &d.url(),
        &[
            "--json",
            "agreement",
            "show",
            "ru-ua-energy-moratorium-2025",
        ],
    );
    let view: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(
        view["agreement"]["effectiveFrom"].as_array().unwrap().len(),
        2
    );
    let log = truce(&d.url(), &["--json", "log"]);
    let entries: Vec<serde_json::Value> = text(&log.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 4);
    assert!(entries[0]["raw"].as_str().is_some_and(|s| !s.is_empty()));
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_seed_file_and_the_changing_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    let out = truce(&d.url(), &["submit", "--file", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        13,
        "header and twelve receipts"
    );

    let show = truce(&d.url(), &["report", "show", "seed-report-1", "--history"]);
    let shown = text(&show.stdout);
    assert!(shown.contains("EVIDENCE     disputed"), "{shown}");
    assert!(shown.contains("seed-claim-ua-denies-1-2"), "{shown}");
    assert!(shown.contains("evidence status: disputed"), "{shown}");

    let run = |args: &[&str]| {
        let out = truce(&d.url(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    run(&[
        "claim",
        "add",
        "--party",
        "UA",
        "--kind",
        "counter-accusation",
        "--report",
        "seed-report-1",
        "--stated-at",
        "2025-03-23",
        "--statement",
        "RU staged it",
        "--against",
        "RU",
        "--source",
        "https://example.org/statements/ua",
    ]);
    run(&[
        "status",
        "set",
        "--report",
        "seed-report-1",
        "--evidence",
        "debunked",
        "--reason",
        "satellite imagery shows no damage",
        "--source",
        "https://example.org/sat",
        "--source-kind",
        "satellite",
    ]);
    run(&[
        "source",
        "attach",
        "--report",
        "seed-report-1",
        "--url",
        "https://example.org/imagery",
        "--kind",
        "satellite",
        "--reliability",
        "b",
        "--credibility",
        "2",
    ]);
    run(&[
        "report",
        "correct",
        "seed-report-1",
        "--set",
        "harm.fatalities_best=0",
        "--set",
        "event_type=missile-attack",
        "--reason",
        "re-assessed",
    ]);
    run(&[
        "status",
        "set",
        "--agreement",
        "ru-ua-energy-moratorium-2025",
        "--status",
        "extended",
        "--new-expires-at",
        "2025-05-17",
        "--reason",
        "renewed",
    ]);
    let view: serde_json::Value =
        serde_json::from_str(&run(&["--json", "report", "show", "seed-report-1"])).unwrap();
    assert_eq!(view["report"]["evidenceStatus"], "EVIDENCE_STATUS_DEBUNKED");
    assert_eq!(view["report"]["eventType"], "EVENT_TYPE_MISSILE_ATTACK");
    assert_eq!(view["report"]["harm"]["fatalitiesBest"], 0);
    assert_eq!(view["report"]["sources"].as_array().unwrap().len(), 3);
    assert_eq!(view["claims"].as_array().unwrap().len(), 2);
    assert_eq!(view["history"].as_array().unwrap().len(), 7);
    let agreement = run(&["agreement", "show", "ru-ua-energy-moratorium-2025"]);
    assert!(agreement.contains("extended since"), "{agreement}");
    assert!(
        agreement.contains("EXPIRES         2025-05-17T00:00:00Z"),
        "{agreement}"
    );

    // A rejected change exits 2 and names the field.
    let out = truce(
        &d.url(),
        &[
            "status",
            "set",
            "--report",
            "seed-report-1",
            "--evidence",
            "duplicate",
            "--duplicate-of",
            "seed-report-1",
            "--reason",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("status.evidence.duplicate_of"));
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_usage_from_server_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    // Rejected by the daemon: exit 2 with its message.
    let out = truce(
        &d.url(),
        &[
            "report",
            "submit",
            "--occurred",
            "2025-03-19",
            "--type",
            "drone-strike",
            "--target",
            "gas-distribution",
            "--country",
            "RU",
            "--perpetrator",
            "UA",
            "--reported-by",
            "RU",
            "--source",
            "ftp://example.org/x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("report.sources[0].url"),
        "{}",
        text(&out.stderr)
    );
    // Bad flag value: exit 2 without asking the server.
    let out = truce(
        &d.url(),
        &[
            "report",
            "submit",
            "--occurred",
            "yesterday",
            "--type",
            "x",
            "--target",
            "y",
            "--country",
            "RU",
            "--reported-by",
            "RU",
            "--source",
            "https://example.org",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    // Unknown record: exit 2.
    let out = truce(&d.url(), &["report", "show", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not found"));
    // A line that is not an envelope.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"agreement\": {}, \"report\": {}}\n").unwrap();
    let out = truce(&d.url(), &["submit", "--file", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.jsonl:1"),
        "{}",
        text(&out.stderr)
    );
    // Valid input through the flags: exit 0.
    let out = truce(
        &d.url(),
        &[
            "agreement",
            "add",
            "--title",
            "Test",
            "--party",
            "AA:signatory",
            "--party",
            "BB:signatory",
            "--declared-at",
            "2025-01-01",
            "--effective-from",
            "2025-01-02",
            "--purpose",
            "humanitarian",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("agreement-1"));
    d.shutdown().await.unwrap();

    // No server: exit 1.
    let out = truce("http://127.0.0.1:1", &["report", "show", "x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_commands_filter_and_page() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    assert!(
        truce(&d.url(), &["submit", "--file", file.to_str().unwrap()])
            .status
            .success()
    );

    let out = truce(
        &d.url(),
        &[
            "report",
            "list",
            "--perpetrator",
            "UA",
            "--status",
            "disputed",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let ids: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, ["seed-report-1", "seed-report-2"], "{table}");

    let out = truce(
        &d.url(),
        &[
            "--json",
            "report",
            "list",
            "--country",
            "UA",
            "--admin1",
            "Donetsk Oblast",
        ],
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["report"]["id"], "seed-report-3");

    let out = truce(&d.url(), &["report", "list", "--limit", "2"]);
    assert_eq!(text(&out.stdout).lines().count(), 3, "header and two rows");
    let out = truce(
        &d.url(),
        &[
            "report",
            "list",
            "--since",
            "2025-03-19",
            "--until",
            "2025-03-21",
        ],
    );
    assert!(text(&out.stdout).contains("seed-report-1"));
    assert!(!text(&out.stdout).contains("seed-report-2"));

    let out = truce(
        &d.url(),
        &["agreement", "list", "--in-force-at", "2025-03-20"],
    );
    assert!(text(&out.stdout).contains("ru-ua-energy-moratorium-2025"));
    let out = truce(&d.url(), &["agreement", "list", "--status", "in-force"]);
    assert_eq!(text(&out.stdout), "", "lapsed now: nothing listed");
    assert!(text(&out.stderr).contains("no agreements match"));

    let out = truce(&d.url(), &["report", "list", "--bbox", "1,2,3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--bbox"));
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_the_backlog_then_live_entries_and_stops_on_ctrl_c() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    assert!(
        truce(&d.url(), &["submit", "--file", file.to_str().unwrap()])
            .status
            .success()
    );

    let out = truce(
        &d.url(),
        &["--json", "watch", "--from-start", "--until-caught-up"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entries: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 12);
    assert_eq!(entries[11]["entry"]["sequence"], "12");

    let out = truce(
        &d.url(),
        &[
            "watch",
            "--after-seq",
            "3",
            "--until-caught-up",
            "--perpetrator",
            "UA",
            "--follow",
        ],
    );
    let rows: Vec<String> = text(&out.stdout)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(rows, ["5", "9", "10"], "{}", text(&out.stdout));

    // Live: a watch from now prints what arrives, and Ctrl-C ends it with 0.
    let mut child = Command::new(env!("CARGO_BIN_EXE_truce"))
        .env("TRUCE_SERVER", d.url())
        .args(["--json", "watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    // Appended until the watcher has seen one (it may start after the first).
    let client = truce_client::Client::connect(d.url()).await.unwrap();
    let mut n = 0;
    while !reader.is_finished() {
        let mut agreement = seed_agreement();
        agreement.request_id = format!("live-{n}");
        agreement.agreement.as_mut().unwrap().id = format!("live-agreement-{n}");
        client.record_agreement(agreement).await.unwrap();
        n += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let line: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert!(
        line["entry"]["recordId"]
            .as_str()
            .unwrap()
            .starts_with("live-agreement-")
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "Ctrl-C exits 0");
    d.shutdown().await.unwrap();
}

fn seed_agreement() -> truce_proto::v1::RecordAgreementRequest {
    let line = SEED.lines().next().expect("the seed has lines");
    match serde_json::from_str::<truce_proto::v1::Envelope>(line)
        .expect("the seed parses")
        .kind
    {
        Some(truce_proto::v1::envelope::Kind::Agreement(a)) => a,
        _ => panic!("the seed starts with the agreement"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_pins_checkpoints_and_exits_3_on_a_forked_log() {
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("log.key");
    let state = key_dir.path().join("state/checkpoint");
    let start = |dir: std::path::PathBuf| {
        let key_file = key_file.clone();
        async move {
            let mut settings = test_settings(&dir);
            settings.signing_key = Some(key_file);
            Daemon::new(settings).start().await.unwrap()
        }
    };
    let a_dir = tempfile::tempdir().unwrap();
    let a = start(a_dir.path().to_owned()).await;
    let key = a.verifier_key();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    assert!(
        truce(&a.url(), &["submit", "--file", file.to_str().unwrap()])
            .status
            .success()
    );

    let verify = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--key",
            key.as_str(),
            "--state",
            state.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        truce(url, &args)
    };
    let out = verify(&a.url(), &["--entry", "4"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("size 12"), "{stdout}");
    assert!(stdout.contains("entry 4 is included"), "{stdout}");
    assert!(std::fs::read_to_string(&state).unwrap().contains("\n12\n"));

    // The log grows: still consistent.
    let out = truce(
        &a.url(),
        &[
            "report",
            "correct",
            "seed-report-3",
            "--set",
            "notes=x",
            "--reason",
            "typo",
        ],
    );
    assert!(out.status.success());
    let out = verify(&a.url(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("consistent with the last verified checkpoint (size 12)"));

    // report show --verify proves every entry behind the view.
    let out = truce(
        &a.url(),
        &["report", "show", "seed-report-1", "--verify", "--key", &key],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("verified: the 3 entries behind seed-report-1"));

    // Another history signed with the same key: exit 3, both checkpoints shown.
    let b_dir = tempfile::tempdir().unwrap();
    let b = start(b_dir.path().to_owned()).await;
    for n in 0..20 {
        let out = truce(
            &b.url(),
            &[
                "agreement",
                "add",
                "--title",
                &format!("fork {n}"),
                "--party",
                "AA:declarer",
                "--declared-at",
                "2025-01-01",
                "--effective-from",
                "2025-01-01",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = verify(&b.url(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("FORKED OR REWRITTEN"), "{stderr}");
    assert!(
        stderr.contains("\n13\n") && stderr.contains("\n20\n"),
        "both checkpoints: {stderr}"
    );
    // A wrong key is a usage error.
    let out = truce(
        &a.url(),
        &[
            "verify",
            "--key",
            "nonsense",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_as_of_and_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    assert!(
        truce(&d.url(), &["submit", "--file", file.to_str().unwrap()])
            .status
            .success()
    );
    let then = text(
        &truce(
            &d.url(),
            &["report", "show", "seed-report-1", "--as-of", "4"],
        )
        .stdout,
    );
    assert!(then.contains("EVIDENCE     unverified"), "{then}");
    let now = text(&truce(&d.url(), &["report", "show", "seed-report-1"]).stdout);
    assert!(now.contains("EVIDENCE     disputed"), "{now}");
    let out = truce(&d.url(), &["changes", "--after", "8", "--until", "10"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<String> = text(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].starts_with("9 ") && rows[0].contains("report:seed-report-1"),
        "{rows:?}"
    );
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_jsonl_geojson_and_acled_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    assert!(
        truce(&d.url(), &["submit", "--file", file.to_str().unwrap()])
            .status
            .success()
    );
    let out = truce(
        &d.url(),
        &[
            "report",
            "submit",
            "--id",
            "geo-1",
            "--occurred",
            "2025-03-24",
            "--precision",
            "week",
            "--type",
            "shelling",
            "--target",
            "residential",
            "--country",
            "UA",
            "--admin1",
            "Kharkiv Oblast",
            "--lat",
            "49.99",
            "--lon",
            "36.23",
            "--perpetrator",
            "RU",
            "--reported-by",
            "UA",
            "--source",
            "https://example.org/g",
            "--fatalities-best",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let jsonl = text(&truce(&d.url(), &["export", "--format", "jsonl"]).stdout);
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0]["report"]["evidenceStatus"],
        "EVIDENCE_STATUS_DISPUTED"
    );

    let geo_path = dir.path().join("reports.geojson");
    let out = truce(
        &d.url(),
        &[
            "export",
            "--format",
            "geojson",
            "--output",
            geo_path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let geo: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&geo_path).unwrap()).unwrap();
    assert_eq!(geo["type"], "FeatureCollection");
    let features = geo["features"].as_array().unwrap();
    assert_eq!(features.len(), 4);
    let point = &features[3];
    assert_eq!(point["geometry"]["type"], "Point");
    assert_eq!(
        point["geometry"]["coordinates"],
        serde_json::json!([36.23, 49.99]),
        "lon, lat"
    );
    assert_eq!(point["properties"]["fatalities_best"], 2);
    assert_eq!(
        features[0]["properties"]["geo_precision"], "admin1-centroid",
        "no coordinates: the region's centroid"
    );

    let csv_text = text(
        &truce(
            &d.url(),
            &["export", "--format", "acled-csv", "--country", "RU"],
        )
        .stdout,
    );
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers, truce_cli::export::ACLED_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "the two reports in Russia");
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let r1 = &rows[0];
    assert_eq!(&r1[col("event_id_cnty")], "seed-report-1");
    assert_eq!(&r1[col("event_date")], "2025-03-19");
    assert_eq!(&r1[col("year")], "2025");
    assert_eq!(&r1[col("time_precision")], "1");
    assert_eq!(&r1[col("event_type")], "Explosions/Remote violence");
    assert_eq!(&r1[col("sub_event_type")], "Air/drone strike");
    assert_eq!(&r1[col("actor1")], "Military Forces of Ukraine");
    assert_eq!(&r1[col("admin1")], "Krasnodar Krai");
    assert_eq!(&r1[col("geo_precision")], "3");
    assert_eq!(&r1[col("fatalities")], "0", "ACLED's 0: none reported");
    let week = text(
        &truce(
            &d.url(),
            &[
                "export",
                "--format",
                "acled-csv",
                "--admin1",
                "Kharkiv Oblast",
            ],
        )
        .stdout,
    );
    let mut reader = csv::Reader::from_reader(week.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[col("time_precision")], "2");
    assert_eq!(&row[col("latitude")], "49.99");
    assert_eq!(&row[col("fatalities")], "2");
    d.shutdown().await.unwrap();
}

/// A u64 in proto3 JSON (a string) or as a number.
fn json_u64(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_as_json_text_and_svg() {
    const AGREEMENT: &str = "ru-ua-energy-moratorium-2025";
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    assert!(
        truce(&d.url(), &["submit", "--file", file.to_str().unwrap()])
            .status
            .success()
    );
    let run = |args: &[&str]| {
        let out = truce(&d.url(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };

    // JSON: one object, the assembled report (annex pages appended).
    let json = run(&["--json", "compliance", AGREEMENT]);
    assert_eq!(json.lines().count(), 1, "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["agreement"]["agreement"]["id"], AGREEMENT,
        "{report}"
    );
    assert_eq!(json_u64(&report["asOfSequence"]), Some(12), "{report}");
    assert!(
        !report["tallies"].as_array().unwrap().is_empty(),
        "{report}"
    );
    let annex = report["annex"].as_array().map_or(0, Vec::len);
    assert!(annex > 0, "the seed's reports name the agreement: {report}");
    let without = run(&["--json", "compliance", AGREEMENT, "--no-annex"]);
    let without: serde_json::Value = serde_json::from_str(&without).unwrap();
    assert_eq!(without["annex"].as_array().map_or(0, Vec::len), 0);
    let earlier = run(&["--json", "compliance", AGREEMENT, "--as-of", "4"]);
    let earlier: serde_json::Value = serde_json::from_str(&earlier).unwrap();
    assert_eq!(json_u64(&earlier["asOfSequence"]), Some(4), "{earlier}");

    // Text for people.
    let shown = run(&[
        "compliance",
        AGREEMENT,
        "--from",
        "2025-03-18",
        "--to",
        "2025-04-17T17:00:00Z",
    ]);
    assert!(
        shown.contains("Moratorium on strikes against energy infrastructure"),
        "{shown}"
    );
    assert!(shown.contains("log sequence 12"), "{shown}");
    assert!(shown.contains("Reading of the start per RU"), "{shown}");

    // The timeline, for the default and a chosen reading.
    let svg = dir.path().join("timeline.svg");
    let svg_arg = svg.to_str().unwrap();
    run(&["compliance", AGREEMENT, "--no-annex", "--svg", svg_arg]);
    let drawn = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&drawn).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    std::fs::remove_file(&svg).unwrap();
    run(&["compliance", AGREEMENT, "--svg", svg_arg, "--reading", "UA"]);
    roxmltree::Document::parse(&std::fs::read_to_string(&svg).unwrap()).expect("well-formed");

    // Usage errors exit 2: an unknown reading (nothing printed), a bad time.
    let out = truce(
        &d.url(),
        &["compliance", AGREEMENT, "--svg", svg_arg, "--reading", "XX"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("XX"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let out = truce(&d.url(), &["compliance", AGREEMENT, "--from", "March"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--from"),
        "{}",
        text(&out.stderr)
    );
    let out = truce(&d.url(), &["compliance", "no-such-agreement"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    d.shutdown().await.unwrap();
}

fn acled_sample() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/acled-sample.csv")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_acled_csv_reports_bad_rows_and_a_rerun_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let sample = acled_sample();
    let file = sample.to_str().unwrap();
    let out = truce(&d.url(), &["import", "--format", "acled-csv", file]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "one line per bad row, no bar: {stderr}");
    for (l, n) in lines.iter().zip([5, 7, 8]) {
        assert!(l.starts_with(&format!("{file}:{n}: ")), "{stderr}");
    }
    assert!(lines[2].contains("report.location.latitude"), "{stderr}");
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 5 new, 0 corrected, 0 unchanged, 3 failed"
    );

    let again = truce(
        &d.url(),
        &["--json", "import", "--format", "acled-csv", file],
    );
    assert_eq!(again.status.code(), Some(2));
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"new": 0, "corrected": 0, "unchanged": 5, "failed": 3})
    );

    // Only good rows, columns in another order and one more: exit 0.
    let mut reader = csv::Reader::from_path(&sample).unwrap();
    let mut names: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    names.reverse();
    names.push("extra".into());
    let shuffled = dir.path().join("shuffled.csv");
    let mut w = csv::Writer::from_path(&shuffled).unwrap();
    w.write_record(&names).unwrap();
    for record in reader.records().take(2) {
        let mut fields: Vec<String> = record.unwrap().iter().map(str::to_owned).collect();
        fields.reverse();
        fields.push("ignored".into());
        w.write_record(&fields).unwrap();
    }
    w.flush().unwrap();
    let out = truce(
        &d.url(),
        &[
            "import",
            "--format",
            "acled-csv",
            shuffled.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 0 new, 0 corrected, 2 unchanged, 0 failed"
    );

    // A header without the columns we read, and a missing file: exit 2.
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, "event_id_cnty,notes\nX,y\n").unwrap();
    let out = truce(
        &d.url(),
        &["import", "--format", "acled-csv", bare.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("lacks ACLED columns") && stderr.contains("event_date"),
        "{stderr}"
    );
    let out = truce(&d.url(), &["import", "--format", "jsonl", "/no/such/file"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot open"));
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_strict_stops_and_jsonl_moves_reports_between_daemons() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(&dir.path().join("d")).await;
    let sample = acled_sample();
    let file = sample.to_str().unwrap();
    let out = truce(
        &d.url(),
        &["import", "--format", "acled-csv", "--strict", file],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(&format!("{file}:5: ")), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 3 new, 0 corrected, 0 unchanged, 1 failed"
    );
    let out = truce(&d.url(), &["report", "show", "acled-RUS18004"]);
    assert_eq!(out.status.code(), Some(2), "nothing after the bad row");

    let exported = dir.path().join("reports.jsonl");
    let out = truce(
        &d.url(),
        &[
            "export",
            "--format",
            "jsonl",
            "-o",
            exported.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e = daemon(&dir.path().join("e")).await;
    let import = || {
        truce(
            &e.url(),
            &["import", "--format", "jsonl", exported.to_str().unwrap()],
        )
    };
    let out = import();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 3 new, 0 corrected, 0 unchanged, 0 failed"
    );
    let out = import();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 0 new, 0 corrected, 3 unchanged, 0 failed"
    );
    let show = |url: &str| {
        let out = truce(url, &["--json", "report", "show", "acled-UKR210001"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["report"].clone()
    };
    assert_eq!(show(&d.url()), show(&e.url()));
    d.shutdown().await.unwrap();
    e.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_with_and_without_an_agreement() {
    const AGREEMENT: &str = "ru-ua-energy-moratorium-2025";
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path()).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    let out = truce(&d.url(), &["submit", "--file", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = |args: &[&str]| {
        let out = truce(&d.url(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    // One agreement: a row per reading.
    let one = run(&["scope", "seed-report-3", "--agreement", AGREEMENT]);
    assert!(
        one.lines()
            .any(|l| l.starts_with("RU") && l.contains("indeterminate")),
        "{one}"
    );
    assert!(
        one.lines()
            .any(|l| l.starts_with("UA") && l.contains("out-of-scope")),
        "{one}"
    );
    // Every agreement that covers it: the moratorium, named by the report.
    let all = run(&["scope", "seed-report-1"]);
    assert!(
        all.lines()
            .any(|l| l.starts_with(AGREEMENT) && l.contains("yes") && l.contains("in-scope")),
        "{all}"
    );
    assert!(all.contains("1 of 1 agreements cover it"), "{all}");
    let json = run(&["--json", "scope", "seed-report-1"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["matches"][0]["agreementId"], AGREEMENT, "{v}");
    assert_eq!(v["matches"][0]["linked"], true, "{v}");
    // An unknown report: exit 2, the field named.
    let out = truce(&d.url(), &["scope", "no-such-report"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("report_id"),
        "{}",
        text(&out.stderr)
    );
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_backup_writes_on_the_daemons_machine() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(&dir.path().join("data")).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    let out = truce(&d.url(), &["submit", "--file", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let to = dir.path().join("backup");
    let out = truce(&d.url(), &["admin", "backup", "--to", to.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("backed up 12 entries"),
        "{}",
        text(&out.stdout)
    );
    assert!(to.join("manifest.toml").exists());
    // The same directory again: it is not empty, exit 2 naming the field.
    let out = truce(
        &d.url(),
        &["--json", "admin", "backup", "--to", to.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("to_dir"),
        "{}",
        text(&out.stderr)
    );
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_sequence_answers_once_the_daemon_holds_it_and_refuses_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.min_sequence_wait = std::time::Duration::from_millis(300);
    let d = Daemon::new(settings).start().await.expect("daemon starts");
    let file = dir.path().join("seed.jsonl");
    std::fs::write(&file, creating_seed_lines()).unwrap();
    let submitted = truce(&d.url(), &["submit", "--file", file.to_str().unwrap()]);
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));

    // Held: answered.
    let held = truce(&d.url(), &["--min-sequence", "4", "log"]);
    assert!(held.status.success(), "{}", text(&held.stderr));
    assert_eq!(
        text(&held.stdout).lines().count(),
        5,
        "{}",
        text(&held.stdout)
    );
    // Not held: refused, after the daemon's wait, saying why.
    let ahead = truce(&d.url(), &["--min-sequence", "1000", "log"]);
    let stderr = text(&ahead.stderr);
    assert_eq!(ahead.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("applied up to sequence 4; the call asked for at least 1000"),
        "{stderr}"
    );
    // Not a number: a usage error.
    let bad = truce(&d.url(), &["--min-sequence", "soon", "log"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
}
