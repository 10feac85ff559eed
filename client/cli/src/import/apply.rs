//! One import row against the daemon: look the report up, then submit it,
//! or correct it, attach its missing sources and record its new status;
//! claims (JSON Lines) after every row, once all the reports they name are
//! in. Every write carries a request id derived from the row, so a re-run
//! is answered as a duplicate or finds nothing to do. A line that carries
//! the entries behind it (what `truce export` writes) sends those instead
//! (`replay`).

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
};

use pbjson_types::FieldMask;
use sha2::{Digest, Sha256};
use tonic::Code;
use truce_proto::v1::{
    AddClaimRequest, AttachSourceRequest, Claim, CorrectReportRequest, Correction, EvidenceStatus,
    EvidenceStatusChange, HistoryItem, Receipt, Report, ReportView, SetStatusRequest, Source,
    SourceAttachment, StatusChange, SubmitReportRequest, entry::Payload as EntryPayload,
    source_attachment, status_change,
};

use super::{
    Format, ImportOptions, ImportSummary, RowError, StopCause, Stopped, acled, jsonl,
    replay::{self, Replay},
};
use truce_client::{Client, ClientError};

/// A source row, mapped.
pub struct Row {
    /// SHA-256 of the format and the row's canonical bytes.
    hash: [u8; 32],
    report: Report,
    kind: Kind,
}

enum Kind {
    Acled,
    Jsonl {
        claims: Vec<Claim>,
        duplicate_of: Option<String>,
        entries: Vec<truce_proto::v1::Entry>,
    },
}

/// SHA-256 of length-prefixed parts.
fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn request_id(prefix: &str, hash: &[u8]) -> String {
    let hex = hex::encode(hash);
    format!("{prefix}-{}", hex.get(..40).unwrap_or(&hex))
}

impl Row {
    pub fn acled(format: Format, report: Report, values: &[String]) -> Self {
        let parts =
            std::iter::once(format.name().as_bytes()).chain(values.iter().map(|v| v.as_bytes()));
        Self {
            hash: digest(parts),
            report,
            kind: Kind::Acled,
        }
    }

    pub fn jsonl(format: Format, line: jsonl::Line) -> Self {
        Self {
            hash: digest([format.name().as_bytes(), line.canonical.as_bytes()]),
            report: line.report,
            kind: Kind::Jsonl {
                claims: line.claims,
                duplicate_of: line.duplicate_of,
                entries: line.entries,
            },
        }
    }

    /// The request id of a write that follows from this row, given the
    /// report's last entry (so that a row revised back and forth gets a
    /// new id each time) and an index among writes of one kind.
    fn derived(&self, prefix: &str, base: u64, index: u64) -> String {
        let hash = digest([
            self.hash.as_slice(),
            &base.to_be_bytes(),
            &index.to_be_bytes(),
        ]);
        request_id(prefix, &hash)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    New,
    Corrected,
    Unchanged,
    Failed,
}

struct PendingClaim {
    line: u64,
    claim: Claim,
}

/// One import in progress.
pub struct Run<'a> {
    client: &'a Client,
    options: ImportOptions,
    /// By line, in line order.
    outcomes: Vec<(u64, Outcome)>,
    errors: Vec<RowError>,
    claims: Vec<PendingClaim>,
    /// Claim id (or content, without an id) → index in `claims`.
    claim_keys: HashMap<String, usize>,
    replay: Replay,
    stopped: bool,
    halted: Option<StopCause>,
    /// The last line whose writes all came back, and the highest sequence
    /// a receipt named: where an interrupted run stopped.
    last_line: u64,
    last_sequence: AtomicU64,
}

impl<'a> Run<'a> {
    pub fn new(client: &'a Client, options: ImportOptions) -> Self {
        Self {
            client,
            options,
            outcomes: Vec::new(),
            errors: Vec::new(),
            claims: Vec::new(),
            claim_keys: HashMap::new(),
            replay: Replay::default(),
            stopped: false,
            halted: None,
            last_line: 0,
            last_sequence: AtomicU64::new(0),
        }
    }

    /// The last line done and the highest sequence written or found.
    fn position(&self) -> (u64, u64) {
        (self.last_line, self.last_sequence.load(Ordering::Relaxed))
    }

    /// Notes a receipt's sequence; true when it wrote something.
    fn note(&self, receipt: &Receipt) -> bool {
        self.last_sequence
            .fetch_max(receipt.sequence, Ordering::Relaxed);
        !receipt.duplicate
    }

    /// True once `strict` met a failure, the run was interrupted or the
    /// server failed.
    pub fn stopped(&self) -> bool {
        self.stopped || self.halted.is_some() || self.interrupted()
    }

    fn interrupted(&self) -> bool {
        self.options
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Stops the run: the server or the connection failed.
    pub fn halt(&mut self, error: &ClientError) {
        self.halted = Some(StopCause::Failed(error.to_string()));
    }

    pub fn label(&self) -> &str {
        &self.options.file_label
    }

    pub fn progress(&self) -> &indicatif::ProgressBar {
        &self.options.progress
    }

    /// Applies one row (or records why it could not be read).
    pub async fn row(&mut self, line: u64, row: Result<Row, String>) -> Result<(), ClientError> {
        let row = match row {
            Ok(row) => row,
            Err(reason) => {
                self.fail(line, reason);
                return Ok(());
            }
        };
        let claims = match &row.kind {
            Kind::Jsonl {
                claims, entries, ..
            } if entries.is_empty() => claims.clone(),
            _ => Vec::new(),
        };
        let applied = match &row.kind {
            Kind::Jsonl { entries, .. } if !entries.is_empty() => self.replay_row(line, &row).await,
            _ => self.apply(line, &row).await,
        };
        match applied {
            Ok(outcome) => {
                self.set(line, |_| outcome);
                for claim in claims {
                    self.queue_claim(line, claim);
                }
            }
            Err(e) if e.is_usage() => self.fail(line, e.to_string()),
            Err(e) => return Err(e),
        }
        self.last_line = line;
        let s = self.tally();
        self.options.progress.set_message(format!(
            "{} new, {} corrected, {} unchanged, {} failed",
            s.new, s.corrected, s.unchanged, s.failed
        ));
        Ok(())
    }

    /// Sets the outcome of `line` from its current one (None: not yet).
    fn set(&mut self, line: u64, f: impl FnOnce(Option<Outcome>) -> Outcome) {
        match self.outcomes.binary_search_by_key(&line, |(l, _)| *l) {
            Ok(i) => self.outcomes[i].1 = f(Some(self.outcomes[i].1)),
            Err(i) => self.outcomes.insert(i, (line, f(None))),
        }
    }

    fn fail(&mut self, line: u64, reason: String) {
        self.set(line, |_| Outcome::Failed);
        let error = RowError { line, reason };
        if let Some(sink) = self.options.on_error.as_mut() {
            sink(&error);
        }
        self.errors.push(error);
        if self.options.strict {
            self.stopped = true;
        }
    }

    async fn apply(&self, line: u64, row: &Row) -> Result<Outcome, ClientError> {
        let mut report = row.report.clone();
        if report.id.is_empty() {
            // Nothing to look up: the derived request id alone keeps a
            // re-run from submitting it twice.
            report.id.clear();
            let written = self.submit(row, report).await?;
            return Ok(if written {
                Outcome::New
            } else {
                Outcome::Unchanged
            });
        }
        let (view, created) = match self.client.get_report(&report.id).await {
            Ok(view) => (view, false),
            Err(e) if e.code() == Some(Code::NotFound) => {
                let created = self.submit(row, report.clone()).await?;
                let view = ReportView {
                    report: Some(report),
                    ..ReportView::default()
                };
                (view, created)
            }
            Err(e) => return Err(e),
        };
        let wrote = self.update(line, row, &view).await?;
        Ok(match (created, wrote) {
            (true, _) => Outcome::New,
            (false, true) => Outcome::Corrected,
            (false, false) => Outcome::Unchanged,
        })
    }

    /// Submits a report; true when it was written (not a duplicate).
    async fn submit(&self, row: &Row, report: Report) -> Result<bool, ClientError> {
        let receipt = self
            .client
            .submit_report(SubmitReportRequest {
                request_id: request_id("import", &row.hash),
                report: Some(report),
                with_proof: false,
            })
            .await?;
        Ok(self.note(&receipt))
    }

    /// Brings an existing report in line with the row; true when
    /// anything was written.
    async fn update(&self, line: u64, row: &Row, view: &ReportView) -> Result<bool, ClientError> {
        let base = view.history.last().map_or(0, |h: &HistoryItem| h.sequence);
        let stored = view.report.clone().unwrap_or_default();
        let id = row.report.id.clone();
        let reason = format!(
            "revised in the source: {} line {line}",
            self.options.file_label
        );
        let mut wrote = false;

        let revision = match &row.kind {
            Kind::Acled => acled::revision(view, &row.report),
            Kind::Jsonl { .. } => {
                let paths = jsonl::changed_fields(&stored, &row.report);
                (!paths.is_empty()).then(|| (paths, row.report.clone()))
            }
        };
        if let Some((paths, values)) = revision {
            let receipt = self
                .client
                .correct_report(CorrectReportRequest {
                    request_id: row.derived("import-fix", base, 0),
                    correction: Some(Correction {
                        report_id: id.clone(),
                        fields: Some(FieldMask { paths }),
                        values: Some(values),
                        reason: reason.clone(),
                        sources: Vec::new(),
                    }),
                    with_proof: false,
                })
                .await?;
            wrote |= self.note(&receipt);
        }

        let missing: Vec<Source> = match &row.kind {
            Kind::Acled => acled::missing_sources(&stored, &row.report),
            Kind::Jsonl { .. } => row
                .report
                .sources
                .iter()
                .filter(|s| !stored.sources.contains(s))
                .cloned()
                .collect(),
        };
        for (i, source) in (0u64..).zip(missing) {
            let receipt = self
                .client
                .attach_source(AttachSourceRequest {
                    request_id: row.derived("import-src", base, i),
                    attachment: Some(SourceAttachment {
                        target: Some(source_attachment::Target::ReportId(id.clone())),
                        source: Some(source),
                        note: format!("from {} line {line}", self.options.file_label),
                    }),
                    with_proof: false,
                })
                .await?;
            wrote |= self.note(&receipt);
        }

        if let Kind::Jsonl { duplicate_of, .. } = &row.kind
            && let Some(change) = evidence_change(view, &row.report, duplicate_of.as_deref())
        {
            let receipt = self
                .client
                .set_status(SetStatusRequest {
                    request_id: row.derived("import-status", base, 0),
                    status: Some(StatusChange {
                        target: Some(status_change::Target::ReportId(id)),
                        change: Some(status_change::Change::Evidence(change)),
                        effective_at: None,
                        reason,
                        sources: Vec::new(),
                    }),
                    with_proof: false,
                })
                .await?;
            wrote |= self.note(&receipt);
        }
        Ok(wrote)
    }

    /// Queues a line's claim for after the rows (it may name reports on
    /// later lines); the same claim on several lines is added once.
    fn queue_claim(&mut self, line: u64, claim: Claim) {
        let key = if claim.id.is_empty() {
            serde_json::to_string(&claim).unwrap_or_default()
        } else {
            claim.id.clone()
        };
        match self.claim_keys.get(&key) {
            Some(&i) => {
                let first = &self.claims[i];
                if first.claim != claim {
                    let reason = format!(
                        "claim {} differs from the one on line {}",
                        claim.id, first.line
                    );
                    self.fail(line, reason);
                }
            }
            None => {
                self.claim_keys.insert(key, self.claims.len());
                self.claims.push(PendingClaim { line, claim });
            }
        }
    }

    /// A line that carries its entries: checks its view against them, then
    /// sends each again, holding claims and status changes back.
    async fn replay_row(&mut self, line: u64, row: &Row) -> Result<Outcome, ClientError> {
        let Kind::Jsonl {
            claims, entries, ..
        } = &row.kind
        else {
            return Ok(Outcome::Unchanged);
        };
        if let Some(why) = replay::view_disagrees(claims, entries) {
            return Err(ClientError::Request(why));
        }
        let mut outcome = Outcome::Unchanged;
        for entry in entries {
            if replay::held_back(entry) {
                self.replay.hold(line, entry.clone());
                continue;
            }
            let receipt = self.replay.send(self.client, entry).await?;
            if self.note(&receipt) {
                let creates = matches!(entry.payload, Some(EntryPayload::Report(_)));
                outcome = if creates || outcome == Outcome::New {
                    Outcome::New
                } else {
                    Outcome::Corrected
                };
            }
        }
        Ok(outcome)
    }

    /// Sends the held-back entries (claims, status changes) in the order
    /// they were first recorded.
    async fn held(&mut self) -> Result<(), ClientError> {
        for (line, entry) in self.replay.take_held() {
            if self.stopped {
                break;
            }
            match self.replay.send(self.client, &entry).await {
                Ok(receipt) => {
                    if self.note(&receipt) {
                        self.set(line, |o| match o {
                            Some(Outcome::Unchanged) | None => Outcome::Corrected,
                            Some(other) => other,
                        });
                    }
                    self.last_line = self.last_line.max(line);
                }
                Err(e) if e.is_usage() => {
                    let what = format!("entry {} ({})", entry.sequence, entry.request_id);
                    self.fail(line, format!("{what}: {e}"));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Adds the queued claims and held entries, in the order they first
    /// appeared.
    pub async fn claims(&mut self) -> Result<(), ClientError> {
        self.held().await?;
        let pending = std::mem::take(&mut self.claims);
        for p in pending {
            if self.stopped {
                break;
            }
            match self.add_claim(&p.claim).await {
                Ok(true) => self.set(p.line, |o| match o {
                    Some(Outcome::Unchanged) | None => Outcome::Corrected,
                    Some(other) => other,
                }),
                Ok(false) => {}
                Err(e) if e.is_usage() => self.fail(p.line, format!("claim {}: {e}", p.claim.id)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Adds a claim unless it is there already; true when written.
    async fn add_claim(&self, claim: &Claim) -> Result<bool, ClientError> {
        let claim = claim.clone();
        if !claim.id.is_empty()
            && let Some(existing) = self.existing_claim(&claim).await?
        {
            return if existing == claim {
                Ok(false)
            } else {
                Err(ClientError::Request(
                    "a claim with this id already exists with other content".into(),
                ))
            };
        }
        let canonical =
            serde_json::to_string(&claim).map_err(|e| ClientError::Request(e.to_string()))?;
        let hash = digest([b"claim".as_slice(), canonical.as_bytes()]);
        let receipt = self
            .client
            .add_claim(AddClaimRequest {
                request_id: request_id("import-claim", &hash),
                claim: Some(claim),
                with_proof: false,
            })
            .await?;
        Ok(self.note(&receipt))
    }

    /// The claim with this id on the first record it names, if any.
    async fn existing_claim(&self, claim: &Claim) -> Result<Option<Claim>, ClientError> {
        let claims = if let Some(report) = claim.report_ids.first() {
            self.client.get_report(report).await.map(|v| v.claims)
        } else if !claim.agreement_id.is_empty() {
            self.client
                .get_agreement(&claim.agreement_id)
                .await
                .map(|v| v.claims)
        } else {
            return Ok(None);
        };
        match claims {
            Ok(claims) => Ok(claims.into_iter().find(|c| c.id == claim.id)),
            // Adding it will say what is missing.
            Err(e) if e.code() == Some(Code::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn tally(&self) -> ImportSummary {
        let mut s = ImportSummary::default();
        for (_, o) in &self.outcomes {
            match o {
                Outcome::New => s.new += 1,
                Outcome::Corrected => s.corrected += 1,
                Outcome::Unchanged => s.unchanged += 1,
                Outcome::Failed => s.failed += 1,
            }
        }
        s
    }

    /// The summary; clears the progress bar.
    pub fn finish(self) -> ImportSummary {
        self.options.progress.finish_and_clear();
        let cause = match &self.halted {
            Some(cause) => Some(cause.clone()),
            None => self.interrupted().then_some(StopCause::Interrupted),
        };
        let (line, sequence) = self.position();
        ImportSummary {
            errors: self.errors.clone(),
            stopped: cause.map(|cause| Stopped {
                line,
                sequence,
                cause,
            }),
            ..self.tally()
        }
    }
}

/// The evidence status change a row asks for, if any: none when the row
/// has no status, or says DUPLICATE without saying of what.
fn evidence_change(
    view: &ReportView,
    row: &Report,
    duplicate_of: Option<&str>,
) -> Option<EvidenceStatusChange> {
    let want = row.evidence_status();
    let have = view
        .report
        .as_ref()
        .map_or(EvidenceStatus::Unspecified, Report::evidence_status);
    match want {
        EvidenceStatus::Unspecified => None,
        EvidenceStatus::Duplicate => {
            let of = duplicate_of.filter(|d| !d.is_empty())?;
            (have != want || view.duplicate_of != of).then(|| EvidenceStatusChange {
                status: want.into(),
                duplicate_of: of.to_owned(),
            })
        }
        _ => (have != want).then(|| EvidenceStatusChange {
            status: want.into(),
            duplicate_of: String::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_derived_and_short() {
        let row = Row::acled(Format::AcledCsv, Report::default(), &["a".into()]);
        let again = Row::acled(Format::AcledCsv, Report::default(), &["a".into()]);
        let other = Row::acled(Format::AcledCsv, Report::default(), &["a,".into()]);
        let id = request_id("import", &row.hash);
        assert_eq!(id.len(), "import-".len() + 40);
        assert_eq!(id, request_id("import", &again.hash));
        assert_ne!(id, request_id("import", &other.hash));
        // Parts are length-prefixed: ["ab"] is not ["a", "b"].
        let split = Row::acled(
            Format::AcledCsv,
            Report::default(),
            &["a".into(), "b".into()],
        );
        let joined = Row::acled(Format::AcledCsv, Report::default(), &["ab".into()]);
        assert_ne!(split.hash, joined.hash);
        assert_ne!(
            row.derived("import-fix", 7, 0),
            row.derived("import-fix", 8, 0)
        );
        assert_ne!(
            row.derived("import-src", 7, 0),
            row.derived("import-src", 7, 1)
        );
    }

    #[test]
    fn status_changes() {
        let view = |s: EvidenceStatus, of: &str| ReportView {
            report: Some(Report {
                evidence_status: s.into(),
                ..Report::default()
            }),
            duplicate_of: of.into(),
            ..ReportView::default()
        };
        let row = |s: EvidenceStatus| Report {
            evidence_status: s.into(),
            ..Report::default()
        };
        use EvidenceStatus as E;
        assert!(evidence_change(&view(E::Disputed, ""), &row(E::Disputed), None).is_none());
        let c = evidence_change(&view(E::Unverified, ""), &row(E::Disputed), None).unwrap();
        assert_eq!(c.status(), E::Disputed);
        assert!(evidence_change(&view(E::Unverified, ""), &row(E::Duplicate), None).is_none());
        assert!(evidence_change(&view(E::Unverified, ""), &row(E::Duplicate), Some("")).is_none());
        let c = evidence_change(&view(E::Duplicate, ""), &row(E::Duplicate), Some("r1")).unwrap();
        assert_eq!(c.duplicate_of, "r1");
        assert!(
            evidence_change(&view(E::Duplicate, "r1"), &row(E::Duplicate), Some("r1")).is_none()
        );
        assert!(evidence_change(&view(E::Unverified, ""), &row(E::Unspecified), None).is_none());
    }
}
