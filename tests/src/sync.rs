//! A durability seam for tests: wraps the real flush and sync, records
//! every step (and the test's own acknowledgements) on one timeline, and
//! can slow the sync down, hold it at a gate, or make it fail.

use std::{
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use truce_daemon::{
    store::{Store, StoreError},
    sync::{Group, StoreSync, SyncStep},
};

/// One step on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Flush(Group),
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
    gate: Mutex<bool>,
    gate_cv: Condvar,
    /// Set when a sync is waiting at the closed gate.
    waiting: Mutex<bool>,
    waiting_cv: Condvar,
    /// Syncs still to fail, and whether as a full disk (ENOSPC).
    failing: Mutex<(usize, bool)>,
}

impl Recorder {
    pub fn push(&self, e: Event) {
        self.events.lock().expect("events").push(e);
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("events").clone()
    }

    /// Closes the gate: the next syncs wait until [`Recorder::open_gate`].
    pub fn close_gate(&self) {
        *self.gate.lock().expect("gate") = true;
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

    pub fn open_gate(&self) {
        *self.gate.lock().expect("gate") = false;
        self.gate_cv.notify_all();
    }

    /// Blocks (call from spawn_blocking) until a sync waits at the gate.
    pub fn wait_until_held(&self) {
        let mut waiting = self.waiting.lock().expect("waiting");
        while !*waiting {
            waiting = self.waiting_cv.wait(waiting).expect("waiting");
        }
    }

    fn pass_gate(&self) {
        let mut closed = self.gate.lock().expect("gate");
        if *closed {
            *self.waiting.lock().expect("waiting") = true;
            self.waiting_cv.notify_all();
        }
        while *closed {
            closed = self.gate_cv.wait(closed).expect("gate");
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
    /// Fail the sync of this group number (0-based) and after.
    pub fail_from_group: Option<usize>,
    groups: usize,
}

impl RecordingSync {
    pub fn new(recorder: Arc<Recorder>) -> Self {
        Self {
            recorder,
            delay: Duration::ZERO,
            fail_from_group: None,
            groups: 0,
        }
    }
}

impl SyncStep for RecordingSync {
    fn flush(&mut self, store: &Store, group: &Group) -> Result<(), StoreError> {
        self.recorder.push(Event::Flush(*group));
        StoreSync.flush(store, group)
    }

    fn sync(&mut self, store: &Store, group: &Group) -> Result<(), StoreError> {
        let n = self.groups;
        self.groups += 1;
        self.recorder.pass_gate();
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
