//! A durability seam for tests: wraps the real write and sync, records
//! every step (and the test's own acknowledgements) on one timeline, and
//! can slow the sync down, hold the sync or the write at a gate, or make
//! the sync fail.

use std::{
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use truce_daemon::{
    store::{StoreError, StoreWriter},
    sync::{Group, StoreSync, SyncStep},
};

/// One step on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Write(Group),
    /// The sync returned.
    Synced(Group),
    SyncFailed(Group),
    /// The test received a receipt for this sequence.
    Ack(u64),
}

/// Shared timeline and knobs.
#[derive(Debug, Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
    /// Notified on every push.
    pushed: Condvar,
    /// Holds syncs (on the sync thread).
    gate: Gate,
    /// Holds writes (on the writer thread, so the writer waits and
    /// appends queue up behind it).
    write_gate: Gate,
    /// Syncs still to fail, and whether as a full disk (ENOSPC).
    failing: Mutex<(usize, bool)>,
}

impl Recorder {
    pub fn push(&self, e: Event) {
        self.events.lock().expect("events").push(e);
        self.pushed.notify_all();
    }

    /// Blocks (call from spawn_blocking) until an event matches.
    pub fn wait_for(&self, wanted: impl Fn(&Event) -> bool) -> Event {
        let mut events = self.events.lock().expect("events");
        loop {
            if let Some(e) = events.iter().find(|e| wanted(e)) {
                return e.clone();
            }
            events = self.pushed.wait(events).expect("events");
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("events").clone()
    }

    /// Closes the gate: the next syncs wait until [`Recorder::open_gate`].
    pub fn close_gate(&self) {
        self.gate.close();
    }

    pub fn open_gate(&self) {
        self.gate.open();
    }

    /// Blocks (call from spawn_blocking) until a sync waits at the gate.
    pub fn wait_until_held(&self) {
        self.gate.wait_until_held();
    }

    /// Closes the write gate: the writer waits at its next write until
    /// [`Recorder::open_write_gate`].
    pub fn close_write_gate(&self) {
        self.write_gate.close();
    }

    pub fn open_write_gate(&self) {
        self.write_gate.open();
    }

    /// Blocks (call from spawn_blocking) until a write waits at the gate.
    pub fn wait_until_write_held(&self) {
        self.write_gate.wait_until_held();
    }

    /// Makes the next `n` syncs fail, as a full disk (ENOSPC) or as a
    /// plain I/O error.
    pub fn fail_next_syncs(&self, n: usize, disk_full: bool) {
        *self.failing.lock().expect("failing") = (n, disk_full);
    }

    /// Takes one failure from [`Recorder::fail_next_syncs`], if any.
    fn take_failure(&self) -> Option<std::io::Error> {
        let mut failing = self.failing.lock().expect("failing");
        if failing.0 == 0 {
            return None;
        }
        failing.0 -= 1;
        Some(if failing.1 {
            std::io::Error::from(std::io::ErrorKind::StorageFull)
        } else {
            std::io::Error::other("injected fdatasync failure")
        })
    }
}

/// A gate a step may be held at.
#[derive(Debug, Default)]
struct Gate {
    closed: Mutex<bool>,
    closed_cv: Condvar,
    /// Set when a step is waiting at the closed gate.
    waiting: Mutex<bool>,
    waiting_cv: Condvar,
}

impl Gate {
    fn close(&self) {
        *self.closed.lock().expect("gate") = true;
    }

    fn open(&self) {
        *self.closed.lock().expect("gate") = false;
        self.closed_cv.notify_all();
    }

    fn wait_until_held(&self) {
        let mut waiting = self.waiting.lock().expect("waiting");
        while !*waiting {
            waiting = self.waiting_cv.wait(waiting).expect("waiting");
        }
    }

    fn pass(&self) {
        let mut closed = self.closed.lock().expect("gate");
        if *closed {
            *self.waiting.lock().expect("waiting") = true;
            self.waiting_cv.notify_all();
        }
        while *closed {
            closed = self.closed_cv.wait(closed).expect("gate");
        }
        *self.waiting.lock().expect("waiting") = false;
    }
}

/// The recording seam.
#[derive(Debug)]
pub struct RecordingSync {
    pub recorder: Arc<Recorder>,
    /// Added to every sync, to widen the window in which a wrong order
    /// would show (a slow disk), not to wait for anything.
    pub delay: Duration,
    /// Fail the sync number (0-based) and after.
    pub fail_from_group: Option<usize>,
    /// Panic in the sync number (0-based) and after (a bug in the step).
    pub panic_from_group: Option<usize>,
    groups: AtomicUsize,
}

impl RecordingSync {
    pub fn new(recorder: Arc<Recorder>) -> Self {
        Self {
            recorder,
            delay: Duration::ZERO,
            fail_from_group: None,
            panic_from_group: None,
            groups: AtomicUsize::new(0),
        }
    }
}

impl SyncStep for RecordingSync {
    fn write(&self, store: &StoreWriter, group: &Group) -> Result<(), StoreError> {
        self.recorder.write_gate.pass();
        self.recorder.push(Event::Write(*group));
        StoreSync.write(store, group)
    }

    fn sync(&self, store: &StoreWriter, group: &Group) -> Result<(), StoreError> {
        let n = self.groups.fetch_add(1, Ordering::Relaxed);
        self.recorder.gate.pass();
        assert!(
            self.panic_from_group.is_none_or(|p| n < p),
            "injected panic in sync {n}"
        );
        let failure = if self.fail_from_group.is_some_and(|f| n >= f) {
            Some(std::io::Error::other("injected fdatasync failure"))
        } else {
            self.recorder.take_failure()
        };
        if let Some(source) = failure {
            self.recorder.push(Event::SyncFailed(*group));
            return Err(StoreError::Io {
                path: store.dir().to_owned(),
                source,
            });
        }
        StoreSync.sync(store, group)?;
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        self.recorder.push(Event::Synced(*group));
        Ok(())
    }
}
