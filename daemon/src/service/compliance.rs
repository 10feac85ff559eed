//! GetComplianceReport and FindAgreements: the scope engine applied to
//! many records. The report is computed on a blocking thread in one pass;
//! its annex pages are streamed as the reports are read (so memory stays
//! bounded and the client decodes while the daemon reads), and the report
//! with its counts and signed checkpoint comes last.

use crate::model::RecordKind;
use std::sync::Arc;

use prost::Message;
use tonic::Status;
use truce_proto::v1::{
    AgreementMatch, AnnexEntry, AnnexPage, ComplianceFinding, ComplianceReportPart,
    ComplianceReportRequest, FindAgreementsRequest, FindAgreementsResponse, compliance_report_part,
};

use super::{proofs, read};
use crate::{
    budget::{self, Charge, Outbound, SendBudget},
    checkpoint::Signer,
    compliance::{self, Prepared},
    error::Error,
    model::index::Term,
    model::project::View,
    model::scope,
    store::Store,
    validate, views,
};

/// Annex entries in one page, at most.
pub const ANNEX_PAGE_ENTRIES: usize = 500;
/// Encoded bytes of one annex page, at most (a page is never empty).
pub const ANNEX_PAGE_BYTES: usize = 256 * 1024;
/// Parts queued per report before the client must read (and at most the
/// stream's share of the send budget).
const QUEUED_PARTS: usize = 2;

/// The stream's queue, and the runtime its blocking producer sends on.
struct Sender {
    tx: budget::Sender<ComplianceReportPart>,
    handle: tokio::runtime::Handle,
}

/// What a report in progress is charged for its thread and working state
/// (measured: about 370 KiB in a debug build; docs/benchmarks.md).
const REPORT_WORKING_BYTES: usize = 512 * 1024;

/// What a page in the making is charged to the send budget before its
/// first entry: its bytes at most, and one entry over.
const ANNEX_PAGE_CHARGE: usize = ANNEX_PAGE_BYTES + 64 * 1024;

impl Sender {
    fn blocking_send(&self, part: Result<ComplianceReportPart, Status>) -> Result<(), ()> {
        self.tx.blocking_send(&self.handle, part).map_err(|_| ())
    }

    /// A page's part, with the bytes charged while it filled.
    fn send_page(&self, page: ComplianceReportPart, charge: Option<Charge>) -> Result<(), ()> {
        self.handle
            .block_on(self.tx.send_prepaid(Ok(page), charge))
            .map_err(|_| ())
    }

    /// Budget for a page in the making (None: the stream was ended).
    fn charge_page(&self) -> Option<Charge> {
        self.handle.block_on(self.tx.charge(ANNEX_PAGE_CHARGE)).ok()
    }
}

/// Checks the request: errors here are the RPC's status.
fn prepare(store: &Store, req: &ComplianceReportRequest) -> Result<Prepared, Error> {
    validate::check_id("agreement_id", &req.agreement_id)?;
    let at = super::at_or_durable(store, "as_of_sequence", req.as_of_sequence)?;
    let agreement = read::get_agreement(store, &req.agreement_id, at)
        .map_err(|e| read::rename(e, "agreement_id"))?;
    compliance::prepare(store, req, agreement, at)
}

fn part(at: u64, part: compliance_report_part::Part) -> ComplianceReportPart {
    ComplianceReportPart {
        part: Some(part),
        as_of_sequence: at,
    }
}

/// The pass: annex pages as they fill, then the report; stops when the
/// receiver goes away.
fn produce(
    store: &Store,
    signer: &Signer,
    last: &crate::store::mark::LastCheckpoint,
    prepared: Prepared,
    with_annex: bool,
    tx: &Sender,
) {
    let at = prepared.at();
    let mut page = AnnexPage::default();
    let mut bytes = 0;
    // The page in the making is charged before its first entry, so that a
    // report paused on its client holds nothing the budget does not count.
    let mut charge = None;
    let mut emit = |entry: AnnexEntry| {
        let len = entry.encoded_len();
        if !page.entries.is_empty()
            && (page.entries.len() >= ANNEX_PAGE_ENTRIES || bytes + len > ANNEX_PAGE_BYTES)
        {
            let full = std::mem::take(&mut page);
            bytes = 0;
            let full = part(at, compliance_report_part::Part::Annex(full));
            if tx.send_page(full, charge.take()).is_err() {
                return false;
            }
        }
        if charge.is_none() {
            charge = tx.charge_page();
            if charge.is_none() {
                return false;
            }
        }
        bytes += len;
        page.entries.push(entry);
        true
    };
    let annex: Option<&mut dyn FnMut(AnnexEntry) -> bool> =
        if with_annex { Some(&mut emit) } else { None };
    let report = compliance::run(store, prepared, annex).and_then(|report| {
        let Some(mut report) = report else {
            return Ok(None);
        };
        report.checkpoint = Some(proofs::checkpoint_at(store, signer, last, at)?);
        Ok(Some(report))
    });
    let report = match report {
        Ok(Some(report)) => report,
        Ok(None) => return,
        Err(e) => {
            let _ = tx.blocking_send(Err(e.into()));
            return;
        }
    };
    if !page.entries.is_empty() {
        let rest = part(at, compliance_report_part::Part::Annex(page));
        if tx.send_page(rest, charge.take()).is_err() {
            return;
        }
    }
    let _ = tx.blocking_send(Ok(part(at, compliance_report_part::Part::Report(report))));
}

/// Checks the request (its errors are the RPC's status), then streams the
/// annex and the report from a blocking thread.
pub async fn stream(
    store: Arc<Store>,
    signer: Arc<Signer>,
    last: Arc<crate::store::mark::LastCheckpoint>,
    send_budget: &Arc<SendBudget>,
    req: ComplianceReportRequest,
) -> Result<Outbound<ComplianceReportPart>, Status> {
    // A report in progress holds a blocking thread and its working state
    // (its stack, the candidates, the tallies) as long as its client takes
    // to read: that is charged to the send budget too, so stalled reports
    // beyond it wait here holding nothing.
    let working = send_budget
        .charge(REPORT_WORKING_BYTES)
        .await
        .ok_or_else(|| {
            Status::from(Error::exhausted(
                "the daemon's stream buffer budget (stream_buffer_mb) stayed full; retry later"
                    .to_owned(),
            ))
        })?;
    let s = Arc::clone(&store);
    let with_annex = !req.without_annex;
    let prepared = tokio::task::spawn_blocking(move || prepare(&s, &req))
        .await
        .map_err(|e| Status::from(Error::Internal(e.to_string())))??;
    let (tx, rx) = budget::stream(send_budget, QUEUED_PARTS, "GetComplianceReport");
    let tx = Sender {
        tx,
        handle: tokio::runtime::Handle::current(),
    };
    tokio::task::spawn_blocking(move || {
        produce(&store, &signer, &last, prepared, with_annex, &tx);
        drop(working);
    });
    Ok(rx)
}

/// Agreements under which a report is in scope or indeterminate.
pub fn find_agreements(
    store: &Store,
    req: &FindAgreementsRequest,
) -> Result<FindAgreementsResponse, Error> {
    validate::check_id("report_id", &req.report_id)?;
    let at = super::at_or_durable(store, "as_of_sequence", req.as_of_sequence)?;
    let report =
        read::get_report(store, &req.report_id, at).map_err(|e| read::rename(e, "report_id"))?;
    let linked_ids = report
        .report
        .as_ref()
        .map(|r| r.agreement_ids.clone())
        .unwrap_or_default();
    let mut matches = Vec::new();
    let mut assessed = 0;
    for item in store.scan_term(&Term::AllAgreements, 0) {
        let (seq, id) = item?;
        if seq > at {
            break;
        }
        let Some(View::Agreement(agreement)) =
            views::view_at(store, RecordKind::Agreement, &id, at)?
        else {
            continue;
        };
        assessed += 1;
        let assessments = scope::assess_view(&report, &agreement);
        if assessments
            .iter()
            .all(|a| a.finding() == ComplianceFinding::OutOfScope)
        {
            continue;
        }
        matches.push(AgreementMatch {
            title: agreement
                .agreement
                .as_ref()
                .map(|a| a.title.clone())
                .unwrap_or_default(),
            linked: linked_ids.contains(&id),
            agreement_id: id,
            assessments,
        });
    }
    Ok(FindAgreementsResponse {
        matches,
        assessed,
        as_of_sequence: at,
    })
}
