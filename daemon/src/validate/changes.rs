//! Rules for the writes that change existing records: claims, status
//! changes, source attachments and corrections.

use std::time::SystemTime;

use truce_proto::v1::{
    AgreementStatus, AgreementStatusChange, Claim, ClaimKind, ComplianceFinding, Correction,
    EvidenceStatus, EvidenceStatusChange, SourceAttachment, StatusChange, source_attachment,
    status_change,
};

use super::{
    Context, Reference,
    fields::{self, LIST_MAX, LONG_MAX, invalid},
    path::Field,
    source,
};
use crate::{
    error::Error,
    model::{RecordKind, project},
};

/// A claim; returns its client-chosen id, if any.
pub fn claim(c: &Claim, ctx: &Context, refs: &mut Vec<Reference>) -> Result<Option<String>, Error> {
    let id = fields::client_record_id("claim.id", &c.id)?;
    fields::party("claim.party", &c.party, true)?;
    fields::enum_value::<ClaimKind>("claim.kind", c.kind)?;
    if c.report_ids.is_empty() && c.agreement_id.is_empty() {
        return Err(invalid(
            "claim.report_ids",
            "a claim is about at least one report or an agreement",
        ));
    }
    fields::list("claim.report_ids", &c.report_ids, LIST_MAX)?;
    for (i, r) in c.report_ids.iter().enumerate() {
        let f = format!("claim.report_ids[{i}]");
        fields::reference_id(&f, r)?;
        if c.report_ids[..i].contains(r) {
            return Err(invalid(&f, format!("{} is named twice", fields::quoted(r))));
        }
        refs.push(Reference::new(RecordKind::Report, r, f));
    }
    if !c.agreement_id.is_empty() {
        fields::reference_id("claim.agreement_id", &c.agreement_id)?;
        refs.push(Reference::new(
            RecordKind::Agreement,
            &c.agreement_id,
            "claim.agreement_id",
        ));
    }
    let stated = fields::required_timestamp("claim.stated_at", c.stated_at.as_ref())?;
    fields::not_future("claim.stated_at", stated, ctx.now)?;
    fields::text("claim.statement", &c.statement, LONG_MAX, true)?;
    source::sources("claim.sources", &c.sources, false)?;
    fields::list("claim.against_parties", &c.against_parties, LIST_MAX)?;
    for (i, p) in c.against_parties.iter().enumerate() {
        fields::party(&format!("claim.against_parties[{i}]"), p, true)?;
    }
    Ok(id)
}

/// A status change.
pub fn status(s: &StatusChange, ctx: &Context, refs: &mut Vec<Reference>) -> Result<(), Error> {
    let (target_kind, target_id) = status_target(s, refs)?;
    match &s.change {
        None => {
            return Err(invalid(
                "status.evidence",
                "give one of evidence, agreement or compliance",
            ));
        }
        Some(status_change::Change::Evidence(e)) => {
            if target_kind != RecordKind::Report {
                return Err(invalid("status.evidence", "applies to reports only"));
            }
            evidence_change(e, target_id, refs)?;
        }
        Some(status_change::Change::Agreement(a)) => {
            if target_kind != RecordKind::Agreement {
                return Err(invalid("status.agreement", "applies to agreements only"));
            }
            agreement_change(s, a, target_id, refs)?;
        }
        Some(status_change::Change::Compliance(c)) => {
            if target_kind != RecordKind::Report {
                return Err(invalid("status.compliance", "applies to reports only"));
            }
            fields::enum_value::<ComplianceFinding>("status.compliance.finding", c.finding)?;
            fields::reference_id("status.compliance.agreement_id", &c.agreement_id)?;
            refs.push(Reference::new(
                RecordKind::Agreement,
                &c.agreement_id,
                "status.compliance.agreement_id",
            ));
        }
    }
    if let Some(t) = fields::optional_timestamp("status.effective_at", s.effective_at.as_ref())? {
        fields::not_future("status.effective_at", t, ctx.now)?;
    }
    fields::text("status.reason", &s.reason, LONG_MAX, true)?;
    source::sources("status.sources", &s.sources, false)?;
    Ok(())
}

/// The record a status change targets, referenced.
fn status_target<'a>(
    s: &'a StatusChange,
    refs: &mut Vec<Reference>,
) -> Result<(RecordKind, &'a String), Error> {
    match &s.target {
        Some(status_change::Target::ReportId(id)) => {
            fields::reference_id("status.report_id", id)?;
            refs.push(Reference::new(RecordKind::Report, id, "status.report_id"));
            Ok((RecordKind::Report, id))
        }
        Some(status_change::Target::AgreementId(id)) => {
            fields::reference_id("status.agreement_id", id)?;
            refs.push(Reference::new(
                RecordKind::Agreement,
                id,
                "status.agreement_id",
            ));
            Ok((RecordKind::Agreement, id))
        }
        None => Err(invalid(
            "status.report_id",
            "a status change targets a report_id or an agreement_id",
        )),
    }
}

/// A report's new evidence status: `duplicate_of` with DUPLICATE only,
/// naming another report.
fn evidence_change(
    e: &EvidenceStatusChange,
    target_id: &str,
    refs: &mut Vec<Reference>,
) -> Result<(), Error> {
    let st = fields::enum_value::<EvidenceStatus>("status.evidence.status", e.status)?;
    let pointer = Pointer {
        field: "status.evidence.duplicate_of",
        kind: RecordKind::Report,
        status: "EVIDENCE_STATUS_DUPLICATE",
        itself: "a report cannot be a duplicate of itself",
    };
    pointer.check(
        &e.duplicate_of,
        st == EvidenceStatus::Duplicate,
        target_id,
        refs,
    )
}

/// A status change's pointer at another record (`duplicate_of`,
/// `superseded_by`): required with the status it belongs to, refused with
/// any other, never the change's own target.
struct Pointer<'a> {
    field: &'a str,
    kind: RecordKind,
    /// The status it belongs to, by its proto name.
    status: &'a str,
    /// The refusal when it names the change's own target.
    itself: &'a str,
}

impl Pointer<'_> {
    fn check(
        &self,
        value: &str,
        with_status: bool,
        target_id: &str,
        refs: &mut Vec<Reference>,
    ) -> Result<(), Error> {
        match (with_status, value.is_empty()) {
            (true, true) => Err(invalid(
                self.field,
                format!("is required with {}", self.status),
            )),
            (true, false) => {
                fields::reference_id(self.field, value)?;
                if value == target_id {
                    return Err(invalid(self.field, self.itself));
                }
                refs.push(Reference::new(self.kind, value, self.field));
                Ok(())
            }
            (false, false) => Err(invalid(self.field, format!("is only for {}", self.status))),
            (false, true) => Ok(()),
        }
    }
}

/// An agreement's new status: `new_expires_at` with EXTENDED only,
/// `superseded_by` with SUPERSEDED only, naming another agreement.
fn agreement_change(
    s: &StatusChange,
    a: &AgreementStatusChange,
    target_id: &str,
    refs: &mut Vec<Reference>,
) -> Result<(), Error> {
    let st = fields::enum_value::<AgreementStatus>("status.agreement.status", a.status)?;
    let expiry =
        fields::optional_timestamp("status.agreement.new_expires_at", a.new_expires_at.as_ref())?;
    match (st, expiry.is_some()) {
        (AgreementStatus::Extended, false) => {
            return Err(invalid(
                "status.agreement.new_expires_at",
                "is required with AGREEMENT_STATUS_EXTENDED",
            ));
        }
        (AgreementStatus::Extended, true) => {
            extension_effective_before_expiry(s, expiry)?;
        }
        (_, false) => {}
        (_, true) => {
            return Err(invalid(
                "status.agreement.new_expires_at",
                "is only for AGREEMENT_STATUS_EXTENDED",
            ));
        }
    }
    let pointer = Pointer {
        field: "status.agreement.superseded_by",
        kind: RecordKind::Agreement,
        status: "AGREEMENT_STATUS_SUPERSEDED",
        itself: "an agreement cannot be superseded by itself",
    };
    pointer.check(
        &a.superseded_by,
        st == AgreementStatus::Superseded,
        target_id,
        refs,
    )
}

/// A source attachment.
pub fn attachment(a: &SourceAttachment, refs: &mut Vec<Reference>) -> Result<(), Error> {
    match &a.target {
        Some(source_attachment::Target::ReportId(id)) => {
            fields::reference_id("attachment.report_id", id)?;
            refs.push(Reference::new(
                RecordKind::Report,
                id,
                "attachment.report_id",
            ));
        }
        Some(source_attachment::Target::AgreementId(id)) => {
            fields::reference_id("attachment.agreement_id", id)?;
            refs.push(Reference::new(
                RecordKind::Agreement,
                id,
                "attachment.agreement_id",
            ));
        }
        None => {
            return Err(invalid(
                "attachment.report_id",
                "an attachment targets a report_id or an agreement_id",
            ));
        }
    }
    let s = a
        .source
        .as_ref()
        .ok_or_else(|| invalid("attachment.source", "is required"))?;
    source::source(Field::Name("attachment.source"), s)?;
    fields::text("attachment.note", &a.note, LONG_MAX, false)?;
    Ok(())
}

/// A correction's own fields: a report target, known correctable paths,
/// a reason. The merged result is checked by the commit pipeline.
pub fn correction(c: &Correction, refs: &mut Vec<Reference>) -> Result<(), Error> {
    fields::reference_id("correction.report_id", &c.report_id)?;
    refs.push(Reference::new(
        RecordKind::Report,
        &c.report_id,
        "correction.report_id",
    ));
    let paths = c.fields.as_ref().map(|m| m.paths.as_slice()).unwrap_or(&[]);
    if paths.is_empty() {
        return Err(invalid("correction.fields", "names no field to correct"));
    }
    fields::list("correction.fields", paths, LIST_MAX)?;
    for (i, p) in paths.iter().enumerate() {
        if !project::is_correctable(p) {
            return Err(invalid(
                &format!("correction.fields[{i}]"),
                format!(
                    "{} is not a correctable field of a report",
                    fields::quoted(p)
                ),
            ));
        }
        if paths[..i].contains(p) {
            return Err(invalid(
                &format!("correction.fields[{i}]"),
                format!("{} is named twice", fields::quoted(p)),
            ));
        }
    }
    if c.values.is_none() {
        return Err(invalid("correction.values", "is required"));
    }
    if let Some(v) = &c.values
        && paths.iter().any(|p| p == "agreement_ids")
    {
        for (i, a) in v.agreement_ids.iter().enumerate() {
            let f = format!("correction.values.agreement_ids[{i}]");
            fields::reference_id(&f, a)?;
            refs.push(Reference::new(RecordKind::Agreement, a, f));
        }
    }
    fields::text("correction.reason", &c.reason, LONG_MAX, true)?;
    source::sources("correction.sources", &c.sources, false)?;
    Ok(())
}

/// An extension's own effective time (when given) must fall before the
/// expiry it sets: it cannot take effect after it has run out.
fn extension_effective_before_expiry(
    s: &StatusChange,
    new_expiry: Option<SystemTime>,
) -> Result<(), Error> {
    let effective = fields::optional_timestamp("status.effective_at", s.effective_at.as_ref())?;
    if let (Some(effective), Some(expiry)) = (effective, new_expiry)
        && effective >= expiry
    {
        return Err(invalid(
            "status.effective_at",
            "an extension must take effect before its new expiry (status.agreement.new_expires_at)",
        ));
    }
    Ok(())
}
