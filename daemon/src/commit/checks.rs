//! The checks of a write that depend on stored state, and its encoding:
//! idempotency (a request id is its submitter's), referenced ids exist, a
//! client-chosen id is new, transitions that make sense given the target's
//! current state; then the entry at the position the order seam offers
//! and the views it changes. Each looks in the groups in flight
//! ([`GroupState`]) before the store.

use std::time::SystemTime;

use prost::Message as _;
use truce_proto::v1::{AgreementStatus, Entry, Receipt, entry::Payload, status_change};

use super::{MAX_ENTRY_BYTES, Pending, Writer, order, order::Position, overlay::GroupState};
use crate::{
    error::Error,
    model::{
        RecordKind, derive,
        project::{self, View},
    },
    validate::{self, ValidWrite},
};

/// What the checks made of a write.
pub(super) enum Checked {
    /// Of a durable entry: answered at once.
    Duplicate(Receipt),
    /// Of an entry of this group or one in flight: answered once durable.
    DuplicateInFlight(Receipt),
    New(New),
}

/// A new entry, checked and encoded at the position it would take.
pub(super) struct New {
    pub(super) position: Position,
    pub(super) bytes: Vec<u8>,
    pub(super) derived: derive::Derived,
    pub(super) record_id: String,
    /// The views this entry changes, as they stand after it.
    pub(super) views: Vec<(RecordKind, String, View)>,
}

/// A request id met again, against the write that used it first.
#[derive(Debug, PartialEq, Eq)]
enum Reuse {
    /// Another submitter's: they learn only that it is taken.
    Taken,
    /// The same write again: its receipt, as a duplicate.
    Same,
    /// The same submitter, another write.
    Conflict,
}

fn reuse(first: (&[u8; 32], &str), again: (&[u8; 32], &str)) -> Reuse {
    let ((first_hash, first_submitter), (hash, submitter)) = (first, again);
    if first_submitter != submitter {
        Reuse::Taken
    } else if first_hash == hash {
        Reuse::Same
    } else {
        Reuse::Conflict
    }
}

impl Writer {
    pub(super) fn check_and_encode(
        &self,
        p: &Pending,
        now: SystemTime,
        group: &GroupState<'_>,
    ) -> Result<Checked, Error> {
        let w = &p.write;
        if let Some(duplicate) = self.check_request(p, group)? {
            return Ok(duplicate);
        }
        self.check_references(w, group)?;
        let kind = derive::created_kind(w.payload());
        self.check_new_id(kind, w.client_id(), group)?;
        let extension_effective_at = self.check_transition(w.payload(), now, group)?;

        let position = self.sequencer.peek(now);
        let record_id = match (kind, w.client_id()) {
            (Some(kind), None) => self.assigned_id(kind, position.sequence, group)?,
            _ => record_id(w),
        };
        let entry = Entry {
            sequence: position.sequence,
            recorded_at: Some(position.timestamp()),
            submitter: p.submitter.clone(),
            request_id: w.request_id().to_owned(),
            record_id: record_id.clone(),
            extension_effective_at,
            payload: Some(w.payload().clone()),
        };
        let bytes = encode(&entry)?;
        let views = self.views_after(&entry, kind, group)?;
        let derived = derive::Derived {
            created: kind.map(|k| (k, record_id.clone())),
            request_id: entry.request_id,
            hash: *w.hash(),
            submitter: entry.submitter,
        };
        Ok(Checked::New(New {
            position,
            bytes,
            derived,
            record_id,
            views,
        }))
    }

    /// Idempotency: this group and those in flight first, then the store.
    /// A request id is its submitter's: another caller learns only that
    /// it is taken.
    fn check_request(&self, p: &Pending, group: &GroupState<'_>) -> Result<Option<Checked>, Error> {
        let w = &p.write;
        let again = (w.hash(), p.submitter.as_str());
        if let Some((hash, receipt, submitter)) = group.request(w.request_id()) {
            return match reuse((hash, submitter), again) {
                Reuse::Taken => Err(taken(w.request_id())),
                Reuse::Same => Ok(Some(Checked::DuplicateInFlight(Receipt {
                    duplicate: true,
                    ..receipt.clone()
                }))),
                Reuse::Conflict => Err(conflict(w.request_id(), receipt.sequence)),
            };
        }
        let Some(stored) = self.store.stored_request(w.request_id())? else {
            return Ok(None);
        };
        match reuse((&stored.hash, &stored.submitter), again) {
            Reuse::Taken => Err(taken(w.request_id())),
            Reuse::Conflict => Err(conflict(w.request_id(), stored.sequence)),
            Reuse::Same => Ok(Some(Checked::Duplicate(
                self.stored_receipt(stored.sequence)?,
            ))),
        }
    }

    /// References must exist.
    fn check_references(&self, w: &ValidWrite, group: &GroupState<'_>) -> Result<(), Error> {
        for r in w.references() {
            let key = (r.kind, r.id.clone());
            if group.record(&key).is_none() && self.store.record_sequence(r.kind, &r.id)?.is_none()
            {
                return Err(Error::NotFound {
                    field: r.field.clone(),
                    kind: r.kind.name(),
                    id: r.id.clone(),
                    at: None,
                });
            }
        }
        Ok(())
    }

    /// A client-chosen id must be new.
    fn check_new_id(
        &self,
        kind: Option<RecordKind>,
        client_id: Option<&str>,
        group: &GroupState<'_>,
    ) -> Result<(), Error> {
        let (Some(kind), Some(id)) = (kind, client_id) else {
            return Ok(());
        };
        let existing = match group.record(&(kind, id.to_owned())) {
            Some(seq) => Some(seq),
            None => self.store.record_sequence(kind, id)?,
        };
        match existing {
            Some(seq) => Err(Error::AlreadyExists(format!(
                "{}.id: {} {id:?} already exists (created at sequence {seq})",
                kind.name(),
                kind.name()
            ))),
            None => Ok(()),
        }
    }

    /// The id the server gives a record created at `sequence`:
    /// `<kind>-<sequence>`, or, when a client chose that id already (an
    /// import keeps the ids of the store it came from), the first free
    /// `<kind>-<sequence>.<n>`.
    fn assigned_id(
        &self,
        kind: RecordKind,
        sequence: u64,
        group: &GroupState<'_>,
    ) -> Result<String, Error> {
        let base = format!("{}-{sequence}", kind.name());
        let mut id = base.clone();
        let mut n = 0u64;
        loop {
            let key = (kind, id);
            if group.record(&key).is_none() && self.store.record_sequence(kind, &key.1)?.is_none() {
                return Ok(key.1);
            }
            n += 1;
            id = format!("{base}.{n}");
        }
    }

    /// The views an entry changes, as they stand after it.
    fn views_after(
        &self,
        entry: &Entry,
        created: Option<RecordKind>,
        group: &GroupState<'_>,
    ) -> Result<Vec<(RecordKind, String, View)>, Error> {
        let mut views = Vec::new();
        for (kind, id) in project::touched(entry) {
            let before = match kind {
                RecordKind::Claim => continue,
                _ if created == Some(kind) => None,
                _ => Some(self.current_view(kind, &id, group)?),
            };
            let after = project::apply(before, kind, &id, entry)
                .map_err(|e| Error::Internal(e.to_string()))?;
            views.push((kind, id, after));
        }
        Ok(views)
    }

    /// The view of an existing record, including the changes of this
    /// group and of those in flight.
    fn current_view(
        &self,
        kind: RecordKind,
        id: &str,
        group: &GroupState<'_>,
    ) -> Result<View, Error> {
        if let Some(v) = group.view(&(kind, id.to_owned())) {
            return Ok(v.clone());
        }
        self.store
            .written_view(kind, id)?
            .ok_or_else(|| Error::Internal(format!("{} {id} has no view", kind.name())))
    }

    /// Transitions that make no sense given the target's current state.
    /// Returns when an extension without an effective time of its own
    /// takes effect: at the expiry it extends (`Entry.extension_effective_at`).
    fn check_transition(
        &self,
        payload: &Payload,
        now: SystemTime,
        group: &GroupState<'_>,
    ) -> Result<Option<pbjson_types::Timestamp>, Error> {
        match payload {
            Payload::Correction(c) => {
                let View::Report(view) =
                    self.current_view(RecordKind::Report, &c.report_id, group)?
                else {
                    return Err(Error::Internal("a report id holds another view".into()));
                };
                let mut report = view.report.unwrap_or_default();
                project::apply_correction(&mut report, c).map_err(|reason| {
                    Error::FailedPrecondition {
                        field: "correction.fields".into(),
                        reason,
                    }
                })?;
                // The rules see the record as a client would have sent it.
                report.id.clear();
                validate::corrected_report(&report, &validate::Context { now })?;
                Ok(None)
            }
            Payload::Status(s) => match (&s.target, &s.change) {
                (
                    Some(status_change::Target::AgreementId(id)),
                    Some(status_change::Change::Agreement(a)),
                ) if a.status() == AgreementStatus::Extended => {
                    let View::Agreement(view) =
                        self.current_view(RecordKind::Agreement, id, group)?
                    else {
                        return Err(Error::Internal("an agreement id holds another view".into()));
                    };
                    let agreement = view.agreement.unwrap_or_default();
                    let new = a.new_expires_at.as_ref().map(order::from_timestamp);
                    let current = agreement.expires_at.as_ref().map(order::from_timestamp);
                    check_extension(new, current)?;
                    // Without a time of its own, it takes effect where the
                    // expiry it extends fell.
                    Ok(if s.effective_at.is_none() {
                        agreement.expires_at
                    } else {
                        None
                    })
                }
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }

    pub(super) fn stored_receipt(&self, sequence: u64) -> Result<Receipt, Error> {
        let bytes = self.store.written_entry(sequence)?.ok_or_else(|| {
            Error::Internal(format!("request points at missing entry {sequence}"))
        })?;
        let entry = Entry::decode(bytes.as_slice())
            .map_err(|e| Error::Internal(format!("entry {sequence} is undecodable: {e}")))?;
        Ok(Receipt {
            sequence,
            record_id: entry.record_id,
            recorded_at: entry.recorded_at,
            duplicate: true,
            leaf_index: sequence - 1,
            ..Receipt::default()
        })
    }
}

/// An extension must move the expiry later than the current one.
fn check_extension(new: Option<SystemTime>, current: Option<SystemTime>) -> Result<(), Error> {
    if let (Some(new), Some(current)) = (new, current)
        && new <= current
    {
        return Err(Error::FailedPrecondition {
            field: "status.agreement.new_expires_at".into(),
            reason: "an extension must move the expiry later than the current one".into(),
        });
    }
    Ok(())
}

/// The id of the record an entry creates or changes when the server does
/// not assign one: the client's, or the first referenced record's.
fn record_id(w: &ValidWrite) -> String {
    match w.client_id() {
        Some(id) => id.to_owned(),
        None => w
            .references()
            .first()
            .map(|r| r.id.clone())
            .unwrap_or_default(),
    }
}

/// The entry's bytes, refused over [`MAX_ENTRY_BYTES`] (before a sequence
/// is taken).
fn encode(entry: &Entry) -> Result<Vec<u8>, Error> {
    let bytes = entry.encode_to_vec();
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(too_large(bytes.len()));
    }
    Ok(bytes)
}

fn too_large(len: usize) -> Error {
    Error::invalid(
        "entry",
        format!("encodes to {len} bytes; the limit is {MAX_ENTRY_BYTES}"),
    )
}

/// A request id another submitter used: says nothing of their write.
fn taken(request_id: &str) -> Error {
    Error::AlreadyExists(format!(
        "request_id {request_id:?} is taken by another submitter; use a new request id"
    ))
}

fn conflict(request_id: &str, sequence: u64) -> Error {
    Error::AlreadyExists(format!(
        "request_id {request_id:?} was already used for a different request (sequence {sequence}); \
         use a new request id for a new write"
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn a_request_id_is_its_first_submitters() {
        let (a, b) = ([1; 32], [2; 32]);
        assert_eq!(reuse((&a, "alice"), (&a, "bob")), Reuse::Taken);
        // Even the same write from another submitter is only "taken".
        assert_eq!(reuse((&a, "alice"), (&b, "bob")), Reuse::Taken);
        assert_eq!(reuse((&a, "alice"), (&a, "alice")), Reuse::Same);
        assert_eq!(reuse((&a, "alice"), (&b, "alice")), Reuse::Conflict);
    }

    #[test]
    fn another_submitter_learns_nothing_of_the_first_write() {
        let message = taken("r-1").to_string();
        assert!(message.contains("taken by another submitter"), "{message}");
        assert!(!message.contains("sequence"), "{message}");
        let message = conflict("r-1", 7).to_string();
        assert!(message.contains("sequence 7"), "{message}");
    }

    #[test]
    fn an_extension_must_move_the_expiry_later() {
        let t = |s| Some(UNIX_EPOCH + Duration::from_secs(s));
        assert!(check_extension(t(20), t(10)).is_ok());
        assert!(matches!(
            check_extension(t(10), t(10)),
            Err(Error::FailedPrecondition { .. })
        ));
        assert!(check_extension(t(5), t(10)).is_err());
        // Without either time there is nothing to compare.
        assert!(check_extension(None, t(10)).is_ok());
        assert!(check_extension(t(5), None).is_ok());
    }

    #[test]
    fn an_entry_over_the_limit_is_refused_before_taking_a_sequence() {
        let small = Entry {
            sequence: 1,
            ..Entry::default()
        };
        assert!(encode(&small).is_ok());
        let large = Entry {
            sequence: 1,
            request_id: "x".repeat(MAX_ENTRY_BYTES),
            ..Entry::default()
        };
        assert!(matches!(encode(&large), Err(Error::InvalidArgument { .. })));
    }
}
