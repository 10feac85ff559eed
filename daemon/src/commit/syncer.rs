//! The durability steps of a group (the seam's write, then sync) on a
//! thread of their own: while the entry log's frames are written and
//! synced, the writer derives the group's rows into sled, which the
//! acknowledgement does not need to wait for separately. The writer still
//! waits for both before it acknowledges anything.

use std::{
    sync::{Arc, mpsc},
    thread,
    time::{Duration, Instant},
};

use crate::{
    error::Error,
    store::{Store, StoreError},
    sync::{Group, SyncStep},
};

/// Why a step failed, and whether the disk was full.
pub(super) type Failure = (String, bool);

/// A step's error as the writer reports it.
pub(super) fn failed(step: &'static str) -> impl Fn(StoreError) -> Failure {
    move |e| (format!("{step} failed: {e}"), e.is_disk_full())
}

pub(super) struct Syncer {
    groups: Option<mpsc::Sender<Group>>,
    done: mpsc::Receiver<Result<Duration, Failure>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Syncer {
    pub(super) fn start(store: Arc<Store>, mut sync: Box<dyn SyncStep>) -> Result<Self, Error> {
        let (groups, next) = mpsc::channel::<Group>();
        let (report, done) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("truce-sync".into())
            .spawn(move || {
                for group in next {
                    let made = sync
                        .flush(&store, &group)
                        .map_err(failed("flush"))
                        .and_then(|()| {
                            let syncing = Instant::now();
                            sync.sync(&store, &group)
                                .map(|()| syncing.elapsed())
                                .map_err(failed("sync"))
                        });
                    if report.send(made).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the sync thread: {e}")))?;
        Ok(Self {
            groups: Some(groups),
            done,
            thread: Some(thread),
        })
    }

    /// Starts writing and syncing the frames of `group`.
    pub(super) fn begin(&self, group: Group) -> Result<(), Failure> {
        self.groups
            .as_ref()
            .and_then(|g| g.send(group).ok())
            .ok_or_else(|| ("the sync thread has stopped".to_owned(), false))
    }

    /// Waits for the group begun last: how long its sync took.
    pub(super) fn finish(&self) -> Result<Duration, Failure> {
        self.done
            .recv()
            .map_err(|_| ("the sync thread has stopped".to_owned(), false))?
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.groups.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
