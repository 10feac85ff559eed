//! Subscriptions: catch-up then live without loss while appends race with
//! the switch; only durable entries; resume after a dropped connection and
//! after a daemon restart; every filter including follow mode; progress
//! markers; a subscriber that does not read; the subscription cap; and
//! shutdown ending streams with UNAVAILABLE.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, stream};
use pbjson_types::Timestamp;
use truce_client::{Client, Event, Start};
use truce_proto::v1::{
    EntryKind, EventType, EvidenceStatus, ReportFilter, SubscribeFilter, SubscribeRequest,
    subscribe_request, subscribe_response, truce_client::TruceClient,
};
use truce_tests::{
    TestDaemon, seed,
    sync::{Event as SyncEvent, Recorder, RecordingSync},
};

/// Appends `n` reports with `concurrency` writers; returns the sequences.
async fn append(client: &Client, from: usize, n: usize, concurrency: usize) -> Vec<u64> {
    stream::iter(from..from + n)
        .map(|i| {
            let c = client.clone();
            async move { c.submit_report(seed::report(i)).await.unwrap().sequence }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Reads events until an entry with sequence `last` (or a marker past it).
async fn entries_until(sub: &mut truce_client::Subscription, last: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    while let Some(ev) = sub.next_event().await {
        match ev.unwrap() {
            Event::Entry { sequence, .. } => {
                seen.push(sequence);
                if sequence >= last {
                    break;
                }
            }
            Event::CaughtUp(s) | Event::Progress(s) if s >= last => break,
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_then_live_loses_nothing_while_appends_race() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    append(&d.client, 0, 200, 16).await;
    // Appends keep going while the subscription catches up and goes live.
    let writer = {
        let c = d.client.clone();
        tokio::spawn(async move { append(&c, 1000, 600, 16).await })
    };
    let mut sub = d
        .client
        .subscribe(Start::FromStart, SubscribeFilter::default());
    let mut seen = Vec::new();
    let mut caught_up = None;
    let total = 801;
    while seen.last() != Some(&total) {
        match sub.next_event().await.unwrap().unwrap() {
            Event::Entry {
                sequence, entry, ..
            } => {
                assert_eq!(entry.sequence, sequence);
                seen.push(sequence);
            }
            Event::CaughtUp(s) => {
                assert_eq!(Some(&s), seen.last(), "caught up where the backlog ended");
                caught_up.get_or_insert(s);
            }
            Event::Progress(_) => {}
        }
    }
    writer.await.unwrap();
    assert_eq!(
        seen,
        (1..=total).collect::<Vec<_>>(),
        "no gap, no duplicate, in order"
    );
    assert!(caught_up.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_durable_entries_are_sent() {
    let recorder = Arc::new(Recorder::default());
    let mut sync = RecordingSync::new(Arc::clone(&recorder));
    sync.delay = Duration::from_millis(10);
    let d = TestDaemon::start_with(Some(Box::new(sync))).await;
    let mut sub = d
        .client
        .subscribe(Start::FromNow, SubscribeFilter::default());
    assert!(matches!(
        sub.next_event().await,
        Some(Ok(Event::CaughtUp(0)))
    ));
    d.client.record_agreement(seed::agreement()).await.unwrap();
    let writer = {
        let c = d.client.clone();
        tokio::spawn(async move { append(&c, 0, 100, 16).await })
    };
    let mut got = 0;
    while got < 101 {
        if let Event::Entry { sequence, .. } = sub.next_event().await.unwrap().unwrap() {
            recorder.push(SyncEvent::Ack(sequence));
            got += 1;
        }
    }
    writer.await.unwrap();
    let mut durable = 0;
    for e in recorder.events() {
        match e {
            SyncEvent::Synced(g) => durable = g.last_sequence,
            SyncEvent::Ack(seq) => assert!(seq <= durable, "entry {seq} sent before its sync"),
            _ => {}
        }
    }
}

fn raw_request(start: subscribe_request::Start, filter: SubscribeFilter) -> SubscribeRequest {
    SubscribeRequest {
        start: Some(start),
        filter: Some(filter),
        progress_interval_ms: 50,
    }
}

async fn raw_entries(
    client: &mut TruceClient<tonic::transport::Channel>,
    start: subscribe_request::Start,
    filter: SubscribeFilter,
) -> Vec<u64> {
    let mut stream = client
        .subscribe(raw_request(start, filter))
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(msg) = stream.message().await.unwrap() {
        match msg.event.unwrap() {
            subscribe_response::Event::Entry(e) => seen.push(e.sequence),
            subscribe_response::Event::CaughtUp(_) => break,
            subscribe_response::Event::Progress(_) => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_dropped_connection_gives_exactly_the_remainder() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let mut raw = TruceClient::connect(d.running.url()).await.unwrap();
    let mut stream = raw
        .subscribe(raw_request(
            subscribe_request::Start::FromStart(true),
            SubscribeFilter::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    let mut first = Vec::new();
    while first.len() < 5 {
        if let Some(subscribe_response::Event::Entry(e)) =
            stream.message().await.unwrap().unwrap().event
        {
            first.push(e.sequence);
        }
    }
    drop(stream);
    append(&d.client, 0, 3, 1).await;
    let rest = raw_entries(
        &mut raw,
        subscribe_request::Start::AfterSequence(5),
        SubscribeFilter::default(),
    )
    .await;
    assert_eq!(first, [1, 2, 3, 4, 5]);
    assert_eq!(rest, (6..=15).collect::<Vec<_>>());
    // Inclusive start, and a start by recorded_at.
    let from = raw_entries(
        &mut raw,
        subscribe_request::Start::FromSequence(14),
        SubscribeFilter::default(),
    )
    .await;
    assert_eq!(from, [14, 15]);
    let e13 = d.client.get_entry(13).await.unwrap().entry.unwrap();
    let since = raw_entries(
        &mut raw,
        subscribe_request::Start::Since(e13.recorded_at.unwrap()),
        SubscribeFilter::default(),
    )
    .await;
    assert_eq!(since, [13, 14, 15]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_resumes_across_a_daemon_restart() {
    let d = TestDaemon::start().await;
    let addr = d.running.local_addr();
    d.client.record_agreement(seed::agreement()).await.unwrap();
    append(&d.client, 0, 20, 4).await;
    let watcher = Client::connect(d.running.url()).await.unwrap();
    let mut sub = watcher.subscribe_with(
        Start::FromStart,
        SubscribeFilter::default(),
        0,
        Duration::from_millis(100),
    );
    let before = entries_until(&mut sub, 21).await;
    assert_eq!(before, (1..=21).collect::<Vec<_>>());

    // Restart on the same address; more entries after it.
    let dir = d.stop().await;
    let mut settings = truce_daemon::test_settings(dir.path());
    settings.listen = addr;
    let running = truce_daemon::Daemon::new(settings).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    append(&client, 100, 10, 2).await;
    let after = entries_until(&mut sub, 31).await;
    assert_eq!(after, (22..=31).collect::<Vec<_>>(), "the remainder, once");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_and_follow_mode() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let mut raw = TruceClient::connect(d.running.url()).await.unwrap();
    let f = SubscribeFilter::default;
    let cases: Vec<(&str, SubscribeFilter, Vec<u64>)> = vec![
        ("none", f(), (1..=12).collect()),
        (
            "claims",
            SubscribeFilter {
                kinds: vec![EntryKind::Claim.into()],
                ..f()
            },
            vec![5, 6, 7],
        ),
        (
            "statuses and sources",
            SubscribeFilter {
                kinds: vec![EntryKind::Status.into(), EntryKind::Source.into()],
                ..f()
            },
            vec![8, 9, 10, 11, 12],
        ),
        (
            "perpetrator",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    perpetrator: "UA".into(),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![2, 3],
        ),
        (
            "perpetrator, follow",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    perpetrator: "UA".into(),
                    ..ReportFilter::default()
                }),
                follow: true,
                ..f()
            },
            vec![2, 3, 5, 9, 10],
        ),
        (
            "region, follow",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    admin1: "Donetsk Oblast".into(),
                    event_type: EventType::DroneStrike.into(),
                    ..ReportFilter::default()
                }),
                follow: true,
                ..f()
            },
            vec![4, 6, 7],
        ),
        (
            "reported_by",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    reported_by: "UA".into(),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![4],
        ),
        (
            "type",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    event_type: EventType::MissileAttack.into(),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![3],
        ),
        (
            "target",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    target_class: truce_proto::v1::TargetClass::PowerTransmission.into(),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![4],
        ),
        (
            "country",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    country: "RU".into(),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![2, 3],
        ),
        // Status as of each entry: unverified at creation; with follow, the
        // change to disputed is delivered (it matched just before).
        (
            "evidence unverified, follow",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    evidence_status: EvidenceStatus::Unverified.into(),
                    ..ReportFilter::default()
                }),
                follow: true,
                ..f()
            },
            vec![2, 3, 4, 5, 6, 7, 9, 10],
        ),
        (
            "evidence disputed, follow",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    evidence_status: EvidenceStatus::Disputed.into(),
                    ..ReportFilter::default()
                }),
                follow: true,
                ..f()
            },
            vec![9, 10],
        ),
        (
            "agreement",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    agreement_id: seed::agreement_id(),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![1, 2, 3, 4],
        ),
        (
            "agreement, follow",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    agreement_id: seed::agreement_id(),
                    ..ReportFilter::default()
                }),
                follow: true,
                ..f()
            },
            (1..=12).collect(),
        ),
        (
            "bbox (no coordinates in the seed)",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    bbox: Some(truce_proto::v1::BoundingBox {
                        south: 40.0,
                        west: 30.0,
                        north: 55.0,
                        east: 45.0,
                    }),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![],
        ),
        // The occurred range is the queries' own: the report as of its
        // entry, by occurred.start (Mar 19 and Mar 21 00:00 UTC).
        (
            "occurred range",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    occurred_since: Some(Timestamp {
                        seconds: 1_742_342_400,
                        nanos: 0,
                    }),
                    occurred_until: Some(Timestamp {
                        seconds: 1_742_515_200,
                        nanos: 0,
                    }),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![2],
        ),
        // A report field besides the agreement: the agreement's own entry
        // no longer matches.
        (
            "agreement, occurred since",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    agreement_id: seed::agreement_id(),
                    occurred_since: Some(Timestamp {
                        seconds: 1_742_342_400,
                        nanos: 0,
                    }),
                    ..ReportFilter::default()
                }),
                ..f()
            },
            vec![2, 3],
        ),
        (
            "kind and field",
            SubscribeFilter {
                reports: Some(ReportFilter {
                    perpetrator: "UA".into(),
                    ..ReportFilter::default()
                }),
                kinds: vec![EntryKind::Status.into()],
                follow: true,
            },
            vec![9, 10],
        ),
    ];
    for (name, filter, want) in cases {
        let got = raw_entries(&mut raw, subscribe_request::Start::FromStart(true), filter).await;
        assert_eq!(got, want, "{name}");
    }
    // Resuming in follow mode still delivers later changes of a report
    // matched before the disconnect: after sequence 4, entries 5, 9, 10.
    let got = raw_entries(
        &mut raw,
        subscribe_request::Start::AfterSequence(4),
        SubscribeFilter {
            reports: Some(ReportFilter {
                perpetrator: "UA".into(),
                ..ReportFilter::default()
            }),
            follow: true,
            ..f()
        },
    )
    .await;
    assert_eq!(got, [5, 9, 10]);
    // A bad filter names its field.
    let bad_country = SubscribeFilter {
        reports: Some(ReportFilter {
            country: "Ukraine".into(),
            ..ReportFilter::default()
        }),
        ..f()
    };
    let bad_kind = SubscribeFilter {
        kinds: vec![42],
        ..f()
    };
    for (filter, field) in [
        (bad_kind, "filter.kinds[0]"),
        (bad_country, "filter.reports.country"),
    ] {
        let err = raw
            .subscribe(raw_request(
                subscribe_request::Start::FromStart(true),
                filter,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}");
        assert!(err.message().contains(field), "{}", err.message());
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_stream_reports_progress() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    let mut sub = d.client.subscribe_with(
        Start::FromStart,
        SubscribeFilter {
            kinds: vec![EntryKind::Claim.into()],
            ..SubscribeFilter::default()
        },
        50,
        Duration::from_secs(1),
    );
    let seqs = append(&d.client, 0, 20, 4).await;
    let last = *seqs.iter().max().unwrap();
    // Nothing matches, yet the position reaches the last append.
    loop {
        match sub.next_event().await.unwrap().unwrap() {
            Event::Entry { .. } => panic!("nothing should match"),
            Event::Progress(s) | Event::CaughtUp(s) if s >= last => break,
            _ => {}
        }
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_cap_answers_resource_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = truce_daemon::test_settings(dir.path());
    settings.max_subscriptions = 2;
    let running = truce_daemon::Daemon::new(settings).start().await.unwrap();
    let mut raw = TruceClient::connect(running.url()).await.unwrap();
    let req = || {
        raw_request(
            subscribe_request::Start::FromNow(true),
            SubscribeFilter::default(),
        )
    };
    let a = raw.subscribe(req()).await.unwrap();
    let b = raw.subscribe(req()).await.unwrap();
    let err = raw.subscribe(req()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    // A slot frees when a subscriber leaves.
    drop(a);
    let mut ok = None;
    for _ in 0..100 {
        match raw.subscribe(req()).await {
            Ok(s) => {
                ok = Some(s);
                break;
            }
            Err(_) => tokio::task::yield_now().await,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok.is_some(), "the freed slot is reused");
    drop(b);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_with_unavailable() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    let mut raw = TruceClient::connect(d.running.url()).await.unwrap();
    let mut stream = raw
        .subscribe(raw_request(
            subscribe_request::Start::FromStart(true),
            SubscribeFilter::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    loop {
        let msg = stream.message().await.unwrap().unwrap();
        if let Some(subscribe_response::Event::CaughtUp(_)) = msg.event {
            break;
        }
    }
    let stopping = tokio::spawn(d.stop());
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(end.code(), tonic::Code::Unavailable, "{end:?}");
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_does_not_read_blocks_nobody() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = truce_daemon::test_settings(dir.path());
    settings.cache_bytes = 32 << 20;
    // Paused for the whole test, not ended (slow_clients.rs ends them).
    settings.stream_stall_timeout = Duration::from_secs(3600);
    let running = truce_daemon::Daemon::new(settings).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    client.record_agreement(seed::agreement()).await.unwrap();
    let mut raw = TruceClient::connect(running.url()).await.unwrap();
    // Subscribed, and never read until the end.
    let mut stalled = raw
        .subscribe(raw_request(
            subscribe_request::Start::FromStart(true),
            SubscribeFilter::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    let stats = running.subscribe_stats();
    let read = || {
        stats
            .entries_read
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let rss_before = rss_kib();
    append(&client, 0, N / 2, 128).await;
    let read_half = read();
    append(&client, N / 2, N / 2, 128).await;
    let read_all = read();
    let rss_after = rss_kib();
    // The stalled subscription stops reading once its bounded buffers (its
    // queue, within its share of the send budget, and HTTP/2's
    // flow-control windows) are full: it
    // read no further during the second 50,000 appends.
    eprintln!("stalled subscription read {read_half} then {read_all} entries");
    assert_eq!(
        read_half, read_all,
        "a stalled subscriber does not keep reading"
    );
    assert!(read_all < (N / 10) as u64, "read {read_all}");
    // A live subscriber is served meanwhile.
    let mut live = client.subscribe(
        Start::AfterSequence(N as u64 - 10),
        SubscribeFilter::default(),
    );
    assert_eq!(entries_until(&mut live, N as u64 + 1).await.len(), 11);
    // Now the stalled one reads everything, in order.
    let mut next = 1u64;
    while next <= N as u64 + 1 {
        if let subscribe_response::Event::Entry(e) =
            stalled.message().await.unwrap().unwrap().event.unwrap()
        {
            assert_eq!(e.sequence, next);
            next += 1;
        }
    }
    let growth = rss_after.saturating_sub(rss_before);
    eprintln!("rss before {rss_before} KiB, after {rss_after} KiB");
    // A coarse guard on the whole process (daemon, sled and this test's
    // client): buffering the entries for the subscriber would add their
    // ~140 MB of payload on top of the store's own growth.
    assert!(growth < 256 * 1024, "memory grew by {growth} KiB");
    running.shutdown().await.unwrap();
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
