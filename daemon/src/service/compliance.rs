//! GetComplianceReport and FindAgreements: the scope engine applied to
//! many records. The report is computed on a blocking thread; its annex is
//! streamed in pages, each report re-read as of the report's sequence, so
//! memory stays bounded however many reports the annex holds.

use std::sync::Arc;

use prost::Message;
use tokio::sync::mpsc;
use tonic::Status;
use truce_proto::v1::{
    AgreementMatch, AnnexEntry, AnnexPage, ComplianceFinding, ComplianceReportPart,
    ComplianceReportRequest, FindAgreementsRequest, FindAgreementsResponse, compliance_report_part,
};

use super::{proofs, read};
use crate::{
    checkpoint::Signer,
    compliance::{self, AnnexItem},
    error::Error,
    index::Term,
    project::View,
    scope,
    store::{RecordKind, Store, keys},
    validate, views,
};

/// Annex entries in one page, at most.
pub const ANNEX_PAGE_ENTRIES: usize = 500;
/// Encoded bytes of one annex page, at most (a page is never empty).
pub const ANNEX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// The first part (the report with its checkpoint) and the annex items.
pub fn first_part(
    store: &Store,
    signer: &Signer,
    last: &proofs::LastCheckpoint,
    req: &ComplianceReportRequest,
) -> Result<(ComplianceReportPart, Vec<AnnexItem>, u64), Error> {
    validate::check_id("agreement_id", &req.agreement_id)?;
    let at = super::at_or_durable(store, "as_of_sequence", req.as_of_sequence)?;
    let agreement = read::get_agreement(store, &req.agreement_id, at)
        .map_err(|e| read::rename(e, "agreement_id"))?;
    let mut computed = compliance::compute(store, req, agreement, at)?;
    computed.report.checkpoint = Some(proofs::checkpoint_at(store, signer, last, at)?);
    let annex = if req.without_annex {
        Vec::new()
    } else {
        computed.annex
    };
    let part = ComplianceReportPart {
        part: Some(compliance_report_part::Part::Report(computed.report)),
    };
    Ok((part, annex, at))
}

/// Sends the annex in pages; stops when the receiver goes away.
pub fn send_annex(
    store: &Store,
    agreement_id: &str,
    at: u64,
    items: Vec<AnnexItem>,
    tx: &mpsc::Sender<Result<ComplianceReportPart, Status>>,
) {
    let agreement = match read::get_agreement(store, agreement_id, at) {
        Ok(a) => a,
        Err(e) => {
            let _ = tx.blocking_send(Err(e.into()));
            return;
        }
    };
    let mut page = AnnexPage::default();
    let mut bytes = 0;
    for item in items {
        let view = match views::view_at(store, RecordKind::Report, &item.id, at) {
            Ok(Some(View::Report(v))) => v,
            Ok(_) => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
        };
        let entry = AnnexEntry {
            assessments: scope::assess_view(&view, &agreement),
            report: view.report,
            linked: item.linked,
            created: view.created,
        };
        let len = entry.encoded_len();
        if !page.entries.is_empty()
            && (page.entries.len() >= ANNEX_PAGE_ENTRIES || bytes + len > ANNEX_PAGE_BYTES)
        {
            let full = std::mem::take(&mut page);
            bytes = 0;
            if tx.blocking_send(Ok(annex_part(full))).is_err() {
                return;
            }
        }
        bytes += len;
        page.entries.push(entry);
    }
    if !page.entries.is_empty() {
        let _ = tx.blocking_send(Ok(annex_part(page)));
    }
}

fn annex_part(page: AnnexPage) -> ComplianceReportPart {
    ComplianceReportPart {
        part: Some(compliance_report_part::Part::Annex(page)),
    }
}

/// Runs the whole report onto a channel: the caller gets the first part's
/// error as the RPC's status, the annex follows on the stream.
pub async fn stream(
    store: Arc<Store>,
    signer: Arc<Signer>,
    last: Arc<proofs::LastCheckpoint>,
    req: ComplianceReportRequest,
) -> Result<mpsc::Receiver<Result<ComplianceReportPart, Status>>, Status> {
    let s = Arc::clone(&store);
    let id = req.agreement_id.clone();
    let (first, items, at) =
        tokio::task::spawn_blocking(move || first_part(&s, &signer, &last, &req))
            .await
            .map_err(|e| Status::internal(e.to_string()))??;
    let (tx, rx) = mpsc::channel(4);
    tx.send(Ok(first))
        .await
        .map_err(|_| Status::cancelled("the client went away"))?;
    tokio::task::spawn_blocking(move || send_annex(&store, &id, at, items, &tx));
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
    for item in store.scan_index(&keys::term_prefix(&Term::AllAgreements), 0) {
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
