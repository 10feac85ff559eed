//! The entries a JSON Lines export carries, sent again as they were: each
//! with its original request id and payload. The daemon's idempotency makes
//! that the record's identity: into the store it came from, every entry is
//! answered as a duplicate and nothing is written; into another store, the
//! same entries recreate the same records (client-chosen ids kept) with the
//! same current views, under the same ids. A record whose id the server
//! assigned (`report-18`) is created there asking for that id; where the
//! id names another record, or the request id says the store has the entry
//! as first sent (without the id), it is sent as exported instead: the
//! first answer is a duplicate, the second a record under the store's next
//! number, which every later entry of the file that names it is sent
//! naming; the receipt of the creating entry (a duplicate on a re-run)
//! says which, so a re-run finds the same record again. The rows send
//! their entries over the import's stream (`send`); the held-back ones and
//! the fallbacks go out one by one afterwards (`last`, through [`Replay::send`]).

use std::collections::{BTreeMap, HashMap};

use truce_proto::v1::{
    AddClaimRequest, AttachSourceRequest, Claim, CorrectReportRequest, Entry, Envelope, Receipt,
    SetStatusRequest, SubmitReportRequest, entry::Payload, envelope::Kind as Write,
    source_attachment, status_change,
};

use tonic::Code;
use truce_client::{Client, ClientError};

/// Record ids this import learned (the file's id → this store's), and
/// the entries held back until every row is in.
#[derive(Debug, Default)]
pub struct Replay {
    ids: HashMap<String, String>,
    /// Claims and status changes (they may name records of later rows), by
    /// their sequence in the store they came from, so they go out in the
    /// order they were first recorded; an entry behind several rows once.
    held: BTreeMap<u64, (u64, Entry)>,
}

/// Whether an entry waits for every row: claims and status changes.
pub fn held_back(entry: &Entry) -> bool {
    matches!(entry.payload, Some(Payload::Claim(_) | Payload::Status(_)))
}

impl Replay {
    /// Holds back an entry of `line` until the rows are in.
    pub fn hold(&mut self, line: u64, entry: Entry) {
        self.held.entry(entry.sequence).or_insert((line, entry));
    }

    /// The held entries, in their original order.
    pub fn take_held(&mut self) -> Vec<(u64, Entry)> {
        std::mem::take(&mut self.held).into_values().collect()
    }

    /// Notes where the record an entry created lives in this store.
    pub fn learn(&mut self, exported: &str, here: &str) {
        if !exported.is_empty() && exported != here {
            self.ids.insert(exported.to_owned(), here.to_owned());
        }
    }

    fn id(&self, id: &mut String) {
        if let Some(here) = self.ids.get(id.as_str()) {
            here.clone_into(id);
        }
    }

    /// The payload with the records it names as they are called here.
    fn remap(&self, payload: &mut Payload) {
        match payload {
            Payload::Correction(c) => self.id(&mut c.report_id),
            Payload::Source(s) => {
                if let Some(source_attachment::Target::ReportId(id)) = s.target.as_mut() {
                    self.id(id);
                }
            }
            Payload::Status(s) => {
                if let Some(status_change::Target::ReportId(id)) = s.target.as_mut() {
                    self.id(id);
                }
                if let Some(status_change::Change::Evidence(e)) = s.change.as_mut() {
                    self.id(&mut e.duplicate_of);
                }
            }
            Payload::Claim(c) => c.report_ids.iter_mut().for_each(|id| self.id(id)),
            Payload::Agreement(_) | Payload::Report(_) => {}
        }
    }

    /// An entry's payload with the records it names as they are called
    /// here.
    pub fn payload(&self, entry: &Entry) -> Result<Payload, ClientError> {
        let mut payload = entry.payload.clone().ok_or_else(|| {
            ClientError::Request(format!("entry {} carries no record", entry.sequence))
        })?;
        self.remap(&mut payload);
        Ok(payload)
    }

    /// Sends an entry again (unary): the same request id, the payload with
    /// its ids remapped; a record the source store numbered asks for that
    /// number first, and is sent as exported if it is taken. Learns the id
    /// of a record it creates.
    pub async fn send(&mut self, client: &Client, entry: &Entry) -> Result<Receipt, ClientError> {
        let payload = self.payload(entry)?;
        let request_id = &entry.request_id;
        let receipt = if creates_server_form(entry) {
            let kept = with_id(&payload, &entry.record_id);
            match send_payload(client, request_id, kept, entry.sequence).await {
                Err(e) if e.code() == Some(Code::AlreadyExists) => {
                    let exported = with_id(&payload, "");
                    send_payload(client, request_id, exported, entry.sequence).await?
                }
                sent => sent?,
            }
        } else {
            send_payload(client, request_id, payload, entry.sequence).await?
        };
        self.learn_from(entry, &receipt);
        Ok(receipt)
    }

    /// Sends a record the source store numbered as it was exported (the
    /// store gives it its next number), its number being taken here.
    pub async fn send_exported(
        &mut self,
        client: &Client,
        entry: &Entry,
    ) -> Result<Receipt, ClientError> {
        let exported = with_id(&self.payload(entry)?, "");
        let receipt = send_payload(client, &entry.request_id, exported, entry.sequence).await?;
        self.learn_from(entry, &receipt);
        Ok(receipt)
    }

    /// Learns the id a creating entry's record has here.
    pub fn learn_from(&mut self, entry: &Entry, receipt: &Receipt) {
        if matches!(entry.payload, Some(Payload::Report(_) | Payload::Claim(_))) {
            self.learn(&entry.record_id, &receipt.record_id);
        }
    }
}

/// An id of the form the server assigns: `report-42`, or `report-42.1`
/// where a client had taken `report-42`.
fn server_assigned(id: &str) -> bool {
    let digits = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    ["agreement-", "report-", "claim-"].iter().any(|p| {
        id.strip_prefix(p).is_some_and(|n| match n.split_once('.') {
            Some((seq, again)) => digits(seq) && digits(again),
            None => digits(n),
        })
    })
}

/// Whether an entry created a report or claim under an id the server
/// assigned (in the store it came from, or the one before).
pub fn creates_server_form(entry: &Entry) -> bool {
    matches!(entry.payload, Some(Payload::Report(_) | Payload::Claim(_)))
        && server_assigned(&entry.record_id)
}

/// A report or claim payload asking for `id` (empty: the server assigns).
pub fn with_id(payload: &Payload, id: &str) -> Payload {
    let mut payload = payload.clone();
    match &mut payload {
        Payload::Report(r) => id.clone_into(&mut r.id),
        Payload::Claim(c) => id.clone_into(&mut c.id),
        _ => {}
    }
    payload
}

/// One write of an exported entry's payload under its request id.
async fn send_payload(
    client: &Client,
    request_id: &str,
    payload: Payload,
    sequence: u64,
) -> Result<Receipt, ClientError> {
    let request_id = request_id.to_owned();
    match payload {
        Payload::Report(report) => {
            let req = SubmitReportRequest {
                request_id,
                report: Some(report),
                with_proof: false,
            };
            client.submit_report(req).await
        }
        Payload::Correction(correction) => {
            let req = CorrectReportRequest {
                request_id,
                correction: Some(correction),
                with_proof: false,
            };
            client.correct_report(req).await
        }
        Payload::Source(attachment) => {
            let req = AttachSourceRequest {
                request_id,
                attachment: Some(attachment),
                with_proof: false,
            };
            client.attach_source(req).await
        }
        Payload::Status(status) => {
            let req = SetStatusRequest {
                request_id,
                status: Some(status),
                with_proof: false,
            };
            client.set_status(req).await
        }
        Payload::Claim(claim) => {
            let req = AddClaimRequest {
                request_id,
                claim: Some(claim),
                with_proof: false,
            };
            client.add_claim(req).await
        }
        Payload::Agreement(_) => Err(agreement_refused(sequence)),
    }
}

/// An exported entry's payload as a stream envelope under its request id.
pub fn envelope(
    request_id: &str,
    payload: Payload,
    sequence: u64,
) -> Result<Envelope, ClientError> {
    let request_id = request_id.to_owned();
    let kind = match payload {
        Payload::Report(report) => Write::Report(SubmitReportRequest {
            request_id,
            report: Some(report),
            with_proof: false,
        }),
        Payload::Correction(correction) => Write::Correction(CorrectReportRequest {
            request_id,
            correction: Some(correction),
            with_proof: false,
        }),
        Payload::Source(attachment) => Write::Source(AttachSourceRequest {
            request_id,
            attachment: Some(attachment),
            with_proof: false,
        }),
        Payload::Status(status) => Write::Status(SetStatusRequest {
            request_id,
            status: Some(status),
            with_proof: false,
        }),
        Payload::Claim(claim) => Write::Claim(AddClaimRequest {
            request_id,
            claim: Some(claim),
            with_proof: false,
        }),
        Payload::Agreement(_) => return Err(agreement_refused(sequence)),
    };
    Ok(Envelope { kind: Some(kind) })
}

fn agreement_refused(sequence: u64) -> ClientError {
    ClientError::Request(format!(
        "entry {sequence} records an agreement: a report export carries none"
    ))
}

/// The report a payload creates or changes, if it names one.
pub fn target(payload: &Payload) -> Option<&str> {
    match payload {
        Payload::Report(r) => Some(r.id.as_str()),
        Payload::Correction(c) => Some(c.report_id.as_str()),
        Payload::Source(s) => match s.target.as_ref()? {
            source_attachment::Target::ReportId(id) => Some(id.as_str()),
            _ => None,
        },
        Payload::Status(s) => match s.target.as_ref()? {
            status_change::Target::ReportId(id) => Some(id.as_str()),
            _ => None,
        },
        Payload::Claim(_) | Payload::Agreement(_) => None,
    }
    .filter(|id| !id.is_empty())
}

/// The claims a line's entries add.
pub fn claims_of(entries: &[Entry]) -> impl Iterator<Item = (&Entry, &Claim)> {
    entries.iter().filter_map(|e| match &e.payload {
        Some(Payload::Claim(c)) => Some((e, c)),
        _ => None,
    })
}

/// Why a line's view disagrees with the entries it carries, if it does:
/// a claim in the view that no entry adds, or adds with other content (the
/// view says what the entries made; an edited view is not imported).
pub fn view_disagrees(view_claims: &[Claim], entries: &[Entry]) -> Option<String> {
    for claim in view_claims {
        let entry = claims_of(entries).find(|(e, c)| {
            let id = if c.id.is_empty() { &e.record_id } else { &c.id };
            *id == claim.id
        });
        match entry {
            None => {
                return Some(format!(
                    "claim {}: no entry on this line adds it (remove \"entries\" to import an edited view)",
                    claim.id
                ));
            }
            Some((_, c)) => {
                let mut c = c.clone();
                c.id.clone_from(&claim.id);
                if c != *claim {
                    return Some(format!(
                        "claim {} has other content than the entry behind it (remove \"entries\" to import an edited view)",
                        claim.id
                    ));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_proto::v1::{Correction, StatusChange};

    #[test]
    fn remapped_ids_follow_the_created_record() {
        let mut r = Replay::default();
        r.learn("report-18", "report-3");
        r.learn("kept", "kept");
        let mut p = Payload::Correction(Correction {
            report_id: "report-18".into(),
            ..Correction::default()
        });
        r.remap(&mut p);
        assert!(matches!(&p, Payload::Correction(c) if c.report_id == "report-3"));
        let mut p = Payload::Claim(Claim {
            report_ids: vec!["report-18".into(), "kept".into(), "other".into()],
            ..Claim::default()
        });
        r.remap(&mut p);
        assert!(matches!(&p, Payload::Claim(c) if c.report_ids == ["report-3", "kept", "other"]));
        let mut p = Payload::Status(StatusChange {
            target: Some(status_change::Target::ReportId("report-18".into())),
            change: Some(status_change::Change::Evidence(Default::default())),
            ..StatusChange::default()
        });
        r.remap(&mut p);
        assert!(
            matches!(&p, Payload::Status(s) if s.target == Some(status_change::Target::ReportId("report-3".into())))
        );
    }

    #[test]
    fn server_assigned_ids() {
        assert!(server_assigned("report-42"));
        assert!(server_assigned("claim-1"));
        assert!(!server_assigned("report-"));
        assert!(!server_assigned("report-4a"));
        assert!(server_assigned("report-4.1"));
        assert!(!server_assigned("report-4."));
        assert!(!server_assigned("report-4.1.2"));
        assert!(!server_assigned("acled-UKR1"));
    }

    #[test]
    fn held_entries_go_out_in_their_first_order_once() {
        let mut r = Replay::default();
        let e = |sequence| Entry {
            sequence,
            ..Entry::default()
        };
        r.hold(4, e(9));
        r.hold(1, e(5));
        r.hold(6, e(9));
        let order: Vec<(u64, u64)> = r
            .take_held()
            .into_iter()
            .map(|(l, e)| (l, e.sequence))
            .collect();
        assert_eq!(order, [(1, 5), (4, 9)]);
    }

    #[test]
    fn a_view_claim_must_match_its_entry() {
        let claim = Claim {
            id: "c1".into(),
            statement: "s".into(),
            ..Claim::default()
        };
        let entry = Entry {
            record_id: "c1".into(),
            payload: Some(Payload::Claim(Claim {
                id: String::new(),
                ..claim.clone()
            })),
            ..Entry::default()
        };
        assert_eq!(
            view_disagrees(std::slice::from_ref(&claim), std::slice::from_ref(&entry)),
            None
        );
        let mut edited = claim.clone();
        edited.statement = "t".into();
        let why = view_disagrees(&[edited], &[entry]).unwrap_or_default();
        assert!(why.contains("c1") && why.contains("other content"), "{why}");
        assert!(view_disagrees(&[claim], &[]).is_some());
    }
}
