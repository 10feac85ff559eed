//! `Store::reopen` swaps sled's handle under readers: it must wait for
//! every reader, iterators included, before it closes sled, and a reopen
//! it gives up on must leave the old handle serving reads.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::time::Duration;

use truce_daemon::store::{Store, StoreError};

#[test]
fn a_reopen_waits_for_a_held_iterator_and_gives_up_without_breaking_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 8 << 20).unwrap().into_writer();
    let mut held = store.scan_term(&truce_daemon::model::index::Term::AllReports, 0);

    let err = store.reopen(Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err, StoreError::Busy(_)), "{err}");
    // The old handle still serves reads, the held iterator included.
    assert!(store.read_entry(1).unwrap().is_none());
    assert!(held.next().is_none());
    assert_eq!(store.last_written_sequence().unwrap(), 0);

    drop(held);
    assert_eq!(store.reopen(Duration::from_secs(5)).unwrap(), 0);
    assert!(store.read_entry(1).unwrap().is_none());
    assert_eq!(store.all_entries().count(), 0);
}

#[test]
fn an_open_waits_for_a_just_closed_sled_of_this_process() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 8 << 20).unwrap();
    // An iterator keeps sled open after the store is dropped, as sled's
    // own I/O threads do for a moment after its last handle goes.
    let held = store.scan_term(&truce_daemon::model::index::Term::AllReports, 0);
    drop(store);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(held);
    });
    let reopened = Store::open(dir.path(), 8 << 20).unwrap().into_writer();
    assert_eq!(reopened.last_written_sequence().unwrap(), 0);
    release.join().unwrap();
}

#[test]
fn the_writer_is_handed_out_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), 8 << 20).unwrap());
    let writer = store.writer().unwrap();
    let again = store.writer().unwrap_err();
    assert!(matches!(again, StoreError::Busy(_)), "{again}");
    assert_eq!(writer.last_written_sequence().unwrap(), 0);
    assert_eq!(writer.reader().durable_sequence(), 0);
}
