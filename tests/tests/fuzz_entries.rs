//! Fuzzing of the stored-entry decoder and everything the daemon derives
//! from a decoded entry (proptest; the corpus in tests/fuzz-corpus/entries,
//! real entries and views written by a daemon, is replayed first). Bytes
//! read back from the store are trusted by nothing: whatever they are, the
//! decoder, the projections (`project::apply`, `touched`, `summary`), the
//! derived keys (`derive::from_entry`), the index terms and their keys,
//! the scope engine and the correction rules must not panic; a projection
//! that succeeds records the entry in the view's history and round-trips.
//!
//! PROPTEST_CASES sets the number of cases (default 256). See
//! docs/testing.md.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

mod fuzz;

use std::{cell::RefCell, collections::HashMap, time::SystemTime};

use proptest::prelude::*;
use prost::Message;
use truce_daemon::{
    model::{
        RecordKind, derive, index,
        project::{self, View},
        scope,
    },
    store::keys,
    validate::{self, Context},
};
use truce_proto::v1::{AgreementView, Entry, ReportView, entry::Payload};
use truce_tests::TestDaemon;

const TARGET: &str = "entries";
const AGREEMENT: &str = "ru-ua-energy-moratorium-2025";
const REPORT: &str = "seed-report-1";

/// The views a fuzzed entry is applied to: the seed agreement's and a seed
/// report's, as the corpus's real entries build them.
struct Base {
    agreement: AgreementView,
    report: ReportView,
}

fn base() -> Base {
    let mut views: HashMap<(RecordKind, String), View> = HashMap::new();
    for (name, bytes) in fuzz::corpus(TARGET) {
        if !name.starts_with("entry-") || name.contains(".cut-") {
            continue;
        }
        let entry = Entry::decode(bytes.as_slice()).unwrap();
        for (kind, id) in project::touched(&entry) {
            let before = views.remove(&(kind, id.clone()));
            let after = project::apply(before, kind, &id, &entry)
                .unwrap_or_else(|e| panic!("corpus entry {name}: {e}"));
            views.insert((kind, id), after);
        }
    }
    let agreement = match views.remove(&(RecordKind::Agreement, AGREEMENT.to_owned())) {
        Some(View::Agreement(a)) => a,
        other => panic!("the corpus builds no agreement {AGREEMENT}: {other:?}"),
    };
    let report = match views.remove(&(RecordKind::Report, REPORT.to_owned())) {
        Some(View::Report(r)) => r,
        other => panic!("the corpus builds no report {REPORT}: {other:?}"),
    };
    assert!(agreement.history.len() > 2 && report.history.len() > 2);
    Base { agreement, report }
}

fn ctx() -> Context {
    Context {
        now: SystemTime::now(),
    }
}

/// Everything derived from a view: index terms and their keys, the scope
/// engine against the other kind, a round trip through its stored bytes.
fn check_view(view: &View, base: &Base) {
    let terms = index::terms(view);
    assert!(
        terms.contains(&index::Term::AllReports) || terms.contains(&index::Term::AllAgreements)
    );
    for (i, term) in terms.iter().enumerate() {
        let key = keys::index_key(term, i as u64 + 1);
        assert_eq!(keys::index_key_sequence(&key), Some(i as u64 + 1));
    }
    let (kind, bytes) = match view {
        View::Agreement(a) => {
            scope::assess_view(&base.report, a);
            scope::end_of(a);
            (RecordKind::Agreement, view.encode())
        }
        View::Report(r) => {
            scope::assess_view(r, &base.agreement);
            if let Some(report) = &r.report {
                scope::interval(report);
                scope::assess_time_aside(report, &base.agreement);
            }
            (RecordKind::Report, view.encode())
        }
    };
    let again = View::decode(kind, &bytes).expect("a view's bytes decode");
    assert_eq!(again.encode(), bytes, "a view round-trips");
    let _ = (
        view.created_sequence(),
        view.last_sequence(),
        view.history(),
    );
}

/// One decoded entry through every function that reads entries; returns
/// how many of its projections succeeded.
fn check_entry(entry: &Entry, base: &Base) -> usize {
    let mut projected = 0;
    let kind = project::entry_kind(entry);
    let touched = project::touched(entry);
    let _ = project::summary(entry);
    let item = project::history_item(entry);
    assert_eq!(item.sequence, entry.sequence);
    assert_eq!(item.kind, i32::from(kind));
    match (&entry.payload, derive::from_entry(entry)) {
        (None, Err(_)) => assert!(touched.is_empty()),
        (None, Ok(d)) => panic!("an entry without a payload derives {d:?}"),
        (Some(p), Ok(d)) => {
            assert_eq!(d.hash, derive::request_hash(p));
            assert_eq!(d.request_id, entry.request_id);
            if let Some((created, id)) = &d.created {
                assert_eq!(id, &entry.record_id);
                if *created != RecordKind::Claim {
                    assert_eq!(touched, vec![(*created, entry.record_id.clone())]);
                }
            }
        }
        (Some(_), Err(e)) => panic!("an entry with a payload does not derive: {e}"),
    }
    for (kind, id) in &touched {
        let bases = [
            None,
            Some(View::Agreement(base.agreement.clone())),
            Some(View::Report(base.report.clone())),
        ];
        for before in bases {
            let history = before.as_ref().map_or(0, |v| v.history().len());
            if let Ok(after) = project::apply(before, *kind, id, entry) {
                projected += 1;
                assert_eq!(after.history().len(), history + 1);
                assert_eq!(after.last_sequence(), entry.sequence);
                check_view(&after, base);
                // A second creation of the same record is refused.
                if matches!(
                    entry.payload,
                    Some(Payload::Agreement(_) | Payload::Report(_))
                ) {
                    assert!(project::apply(Some(after), *kind, id, entry).is_err());
                }
            }
        }
    }
    if let Some(Payload::Correction(c)) = &entry.payload {
        for mut report in [
            base.report.report.clone().unwrap_or_default(),
            Default::default(),
        ] {
            if project::apply_correction(&mut report, c).is_ok() {
                let _ = validate::corrected_report(&report, &ctx());
            }
        }
    }
    projected
}

/// Stored bytes as an entry, as either kind of view, and as a `requests`
/// value: no panic, whatever they are. Returns how many projections of the
/// bytes as an entry succeeded (None: they are no entry).
fn check_stored(bytes: &[u8], base: &Base) -> Option<usize> {
    let projected = Entry::decode(bytes)
        .ok()
        .map(|entry| check_entry(&entry, base));
    for kind in [RecordKind::Agreement, RecordKind::Report] {
        if let Ok(view) = View::decode(kind, bytes) {
            check_view(&view, base);
        }
    }
    assert!(View::decode(RecordKind::Claim, bytes).is_err());
    if let Some(r) = keys::decode_request_value(bytes) {
        assert_eq!(
            keys::request_value(r.sequence, &r.hash, &r.submitter),
            bytes
        );
    }
    projected
}

/// Entries applied in order, as reindex does: each to the view its
/// records have so far.
fn check_chain(entries: &[Vec<u8>], base: &Base) {
    let mut views: HashMap<(RecordKind, String), View> = HashMap::new();
    views.insert(
        (RecordKind::Agreement, AGREEMENT.into()),
        View::Agreement(base.agreement.clone()),
    );
    views.insert(
        (RecordKind::Report, REPORT.into()),
        View::Report(base.report.clone()),
    );
    for bytes in entries {
        let Ok(entry) = Entry::decode(bytes.as_slice()) else {
            continue;
        };
        for (kind, id) in project::touched(&entry) {
            let before = views.get(&(kind, id.clone())).cloned();
            if let Ok(after) = project::apply(before, kind, &id, &entry) {
                check_view(&after, base);
                views.insert((kind, id), after);
            }
        }
    }
}

/// Regenerates the daemon-written part of the corpus: every entry of the
/// seed scenario and of the fuzz seeds, some truncated, and the views they
/// build (`cargo test -p truce-tests --test fuzz_entries -- --ignored
/// write_corpus`).
#[tokio::test]
#[ignore = "writes tests/fuzz-corpus/entries"]
async fn write_corpus() {
    let d = TestDaemon::start().await;
    truce_tests::seed::submit_all(&d.client).await;
    let s = fuzz::seeds();
    let c = &d.client;
    c.record_agreement(s.agreements[1].clone()).await.unwrap();
    c.submit_report(s.reports[3].clone()).await.unwrap();
    for r in &s.statuses[4..] {
        c.set_status(r.clone()).await.unwrap();
    }
    c.attach_source(s.attachments[1].clone()).await.unwrap();
    for r in &s.corrections {
        c.correct_report(r.clone()).await.unwrap();
    }
    let log = c.read_log(1, 0).await.unwrap();
    for raw in &log.entries {
        let entry = Entry::decode(raw.entry.as_slice()).unwrap();
        let kind = project::entry_kind(&entry).as_str_name();
        let kind = kind.trim_start_matches("ENTRY_KIND_").to_ascii_lowercase();
        let name = format!("entry-{:04}-{kind}", raw.sequence);
        fuzz::write_corpus_file(TARGET, &name, &raw.entry);
        if matches!(kind.as_str(), "report" | "correction") {
            let cut = raw.entry.len() / 2;
            fuzz::write_corpus_file(TARGET, &format!("{name}.cut-{cut}"), &raw.entry[..cut]);
        }
    }
    write_crafted(&log.entries);
    let agreement = c
        .get_agreement(&truce_tests::seed::agreement_id())
        .await
        .unwrap();
    fuzz::write_corpus_file(TARGET, "view-agreement", &agreement.encode_to_vec());
    for id in truce_tests::seed::REPORTS {
        let report = c.get_report(id).await.unwrap();
        fuzz::write_corpus_file(TARGET, &format!("view-{id}"), &report.encode_to_vec());
    }
    d.stop().await;
}

/// Entries no valid request produces, made from real ones: what a
/// damaged store or an older, looser daemon might hold.
fn write_crafted(log: &[truce_proto::v1::RawEntry]) {
    use pbjson_types::Timestamp;
    use truce_proto::v1::{
        AgreementStatus, AgreementStatusChange, BoundingBox, LatLon, status_change,
    };
    let entry = |seq: usize| Entry::decode(log[seq - 1].entry.as_slice()).unwrap();
    let far = |seconds| {
        Some(Timestamp {
            seconds,
            nanos: 999_999_999,
        })
    };

    let mut e = entry(4);
    if let Some(Payload::Report(r)) = &mut e.payload {
        let o = r.occurred.get_or_insert_default();
        (o.start, o.end, o.precision) = (far(i64::MAX), None, 6);
        r.first_reported_at = Some(Timestamp {
            seconds: i64::MIN,
            nanos: -1,
        });
    }
    fuzz::write_corpus_file(TARGET, "crafted-report-extreme-times", &e.encode_to_vec());

    let mut e = entry(2);
    if let Some(Payload::Report(r)) = &mut e.payload {
        let l = r.location.get_or_insert_default();
        (l.latitude, l.longitude, l.radius_m) =
            (Some(f64::NAN), Some(f64::NEG_INFINITY), Some(u32::MAX));
        let h = r.harm.get_or_insert_default();
        (h.fatalities_low, h.fatalities_high) = (Some(u32::MAX), Some(0));
        r.event_type = -7;
        r.evidence_status = i32::MAX;
    }
    fuzz::write_corpus_file(TARGET, "crafted-report-nan-location", &e.encode_to_vec());

    let mut e = entry(1);
    if let Some(Payload::Agreement(a)) = &mut e.payload {
        a.expires_at = far(i64::MIN);
        a.effective_from[0].at = far(i64::MAX);
        let area = &mut a.scope.get_or_insert_default().areas[0];
        area.bbox = Some(BoundingBox {
            south: 90.0,
            west: f64::NAN,
            north: -90.0,
            east: f64::INFINITY,
        });
        area.polygon = vec![
            LatLon {
                latitude: f64::NAN,
                longitude: 0.0,
            };
            3
        ];
    }
    fuzz::write_corpus_file(TARGET, "crafted-agreement-extreme", &e.encode_to_vec());

    let mut e = entry(20);
    if let Some(Payload::Correction(c)) = &mut e.payload {
        c.fields.get_or_insert_default().paths = vec!["sources".into(), "id".into(), "é".repeat(3)];
        c.values = None;
    }
    fuzz::write_corpus_file(TARGET, "crafted-correction-bad-paths", &e.encode_to_vec());

    let mut e = entry(9);
    if let Some(Payload::Status(s)) = &mut e.payload {
        s.change = Some(status_change::Change::Agreement(AgreementStatusChange {
            status: AgreementStatus::Extended.into(),
            new_expires_at: far(i64::MAX),
            superseded_by: String::new(),
        }));
    }
    fuzz::write_corpus_file(TARGET, "crafted-status-mismatched", &e.encode_to_vec());
}

#[test]
fn stored_bytes_decode_and_project_without_panic() {
    let base = base();
    let replayed = fuzz::replay(TARGET, |_, b| {
        check_stored(b, &base);
    });
    assert!(replayed > 0);
    let corpus: Vec<Vec<u8>> = fuzz::corpus(TARGET).into_iter().map(|(_, b)| b).collect();
    let strategy = prop_oneof![
        4 => fuzz::field_mutated(corpus.clone()),
        2 => fuzz::mutated(corpus),
        2 => fuzz::protobuf_shaped(),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ];
    // (inputs, decoded as an entry, projected)
    let counts = RefCell::new((0u32, 0u32, 0u32));
    let config = fuzz::config();
    let cases = config.cases;
    fuzz::run(TARGET, config, strategy, Clone::clone, |bytes| {
        let projected = check_stored(&bytes, &base);
        let mut c = counts.borrow_mut();
        c.0 += 1;
        c.1 += u32::from(projected.is_some());
        c.2 += u32::from(projected.is_some_and(|n| n > 0));
        Ok(())
    });
    let (inputs, decoded, projected) = counts.into_inner();
    eprintln!("{inputs} inputs: {decoded} decoded as an entry, {projected} projected");
    // Not vacuous: inputs reach the projections, and some apply.
    if cases >= 64 {
        assert!(
            decoded > inputs / 8 && projected > 0,
            "{decoded} decoded, {projected} projected of {inputs}"
        );
    }
}

#[test]
fn mutated_entries_apply_in_order_without_panic() {
    let base = base();
    let corpus: Vec<Vec<u8>> = fuzz::corpus(TARGET)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("view-"))
        .map(|(_, b)| b)
        .collect();
    check_chain(&corpus, &base);
    let strategy = prop::collection::vec(fuzz::mutated(corpus), 1..6);
    fuzz::run(
        TARGET,
        fuzz::config(),
        strategy,
        |entries| {
            // Length-delimited, so the failure file holds the whole chain.
            let mut out = Vec::new();
            for e in entries {
                fuzz::varint(e.len() as u64, &mut out);
                out.extend_from_slice(e);
            }
            out
        },
        |entries| {
            check_chain(&entries, &base);
            Ok(())
        },
    );
}
