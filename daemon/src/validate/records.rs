//! Rules for the creating records: agreements and reports.

use std::time::SystemTime;

use truce_proto::v1::{
    Agreement, AgreementForm, AgreementMedium, AgreementParty, AgreementPurpose, AgreementScope,
    AttributionStatus, EffectiveFrom, EventType, EvidenceStatus, Harm, Interception, PartyRole,
    ProhibitedAct, Report, TargetClass, TimePrecision, Weapon,
};

use super::{
    Context, Reference,
    fields::{self, LIST_MAX, LONG_MAX, SHORT_MAX, invalid},
    path::Field,
    source,
};
use crate::{error::Error, model::RecordKind};

/// An agreement; returns its client-chosen id, if any.
pub fn agreement(
    a: &Agreement,
    _ctx: &Context,
    refs: &mut Vec<Reference>,
) -> Result<Option<String>, Error> {
    let id = fields::client_record_id("agreement.id", &a.id)?;
    fields::text("agreement.title", &a.title, SHORT_MAX, true)?;
    parties(&a.parties)?;
    fields::enum_value::<AgreementForm>("agreement.form", a.form)?;
    fields::enum_value::<AgreementMedium>("agreement.medium", a.medium)?;
    fields::enum_value::<AgreementPurpose>("agreement.purpose", a.purpose)?;
    fields::required_timestamp("agreement.declared_at", a.declared_at.as_ref())?;
    let earliest = effective_from(&a.effective_from)?;
    if let Some(expires) =
        fields::optional_timestamp("agreement.expires_at", a.expires_at.as_ref())?
        && earliest.is_some_and(|start| expires < start)
    {
        return Err(invalid(
            "agreement.expires_at",
            "is before the earliest effective_from",
        ));
    }
    if let Some(scope) = &a.scope {
        agreement_scope(scope)?;
    }
    fields::text(
        "agreement.reciprocity_note",
        &a.reciprocity_note,
        LONG_MAX,
        false,
    )?;
    fields::text(
        "agreement.monitoring_mechanism",
        &a.monitoring_mechanism,
        LONG_MAX,
        false,
    )?;
    if let Some(t) = &a.full_text {
        fields::url("agreement.full_text.url", &t.url, true)?;
        fields::sha256_hex("agreement.full_text.sha256", &t.sha256, true)?;
        fields::language("agreement.full_text.language", &t.language)?;
    }
    source::external_ids("agreement.external_ids", &a.external_ids)?;
    source::sources("agreement.sources", &a.sources, false)?;
    if !a.supersedes.is_empty() {
        fields::reference_id("agreement.supersedes", &a.supersedes)?;
        if id.as_deref() == Some(a.supersedes.as_str()) {
            return Err(invalid(
                "agreement.supersedes",
                "an agreement cannot supersede itself",
            ));
        }
        refs.push(Reference::new(
            RecordKind::Agreement,
            &a.supersedes,
            "agreement.supersedes",
        ));
    }
    fields::text("agreement.notes", &a.notes, LONG_MAX, false)?;
    fields::tags("agreement.tags", &a.tags)?;
    Ok(id)
}

/// An agreement's parties: at least one.
fn parties(parties: &[AgreementParty]) -> Result<(), Error> {
    if parties.is_empty() {
        return Err(invalid("agreement.parties", "needs at least one party"));
    }
    fields::list("agreement.parties", parties, LIST_MAX)?;
    for (i, p) in parties.iter().enumerate() {
        let f = format!("agreement.parties[{i}]");
        fields::party(&format!("{f}.party"), &p.party, true)?;
        fields::text(&format!("{f}.name"), &p.name, SHORT_MAX, false)?;
        fields::enum_value::<PartyRole>(&format!("{f}.role"), p.role)?;
    }
    Ok(())
}

/// The readings of when an agreement takes effect (at least one); the
/// earliest.
fn effective_from(readings: &[EffectiveFrom]) -> Result<Option<SystemTime>, Error> {
    if readings.is_empty() {
        return Err(invalid(
            "agreement.effective_from",
            "needs at least one reading of when it takes effect",
        ));
    }
    fields::list("agreement.effective_from", readings, LIST_MAX)?;
    let mut earliest = None;
    for (i, e) in readings.iter().enumerate() {
        let f = format!("agreement.effective_from[{i}]");
        fields::party(&format!("{f}.party"), &e.party, false)?;
        let at = fields::required_timestamp(&format!("{f}.at"), e.at.as_ref())?;
        fields::text(&format!("{f}.note"), &e.note, LONG_MAX, false)?;
        earliest = Some(earliest.map_or(at, |t: SystemTime| t.min(at)));
    }
    Ok(earliest)
}

/// What an agreement covers: areas, protected targets, prohibited acts.
fn agreement_scope(scope: &AgreementScope) -> Result<(), Error> {
    fields::list("agreement.scope.areas", &scope.areas, LIST_MAX)?;
    for (i, area) in scope.areas.iter().enumerate() {
        source::area(&format!("agreement.scope.areas[{i}]"), area)?;
    }
    fields::list(
        "agreement.scope.protected_targets",
        &scope.protected_targets,
        LIST_MAX,
    )?;
    for (i, t) in scope.protected_targets.iter().enumerate() {
        fields::enum_value::<TargetClass>(&format!("agreement.scope.protected_targets[{i}]"), *t)?;
    }
    fields::list(
        "agreement.scope.prohibited_acts",
        &scope.prohibited_acts,
        LIST_MAX,
    )?;
    for (i, t) in scope.prohibited_acts.iter().enumerate() {
        fields::enum_value::<ProhibitedAct>(&format!("agreement.scope.prohibited_acts[{i}]"), *t)?;
    }
    fields::text(
        "agreement.scope.description",
        &scope.description,
        LONG_MAX,
        false,
    )
}

/// A report; returns its client-chosen id, if any.
pub fn report(
    r: &Report,
    ctx: &Context,
    refs: &mut Vec<Reference>,
) -> Result<Option<String>, Error> {
    let id = fields::client_record_id("report.id", &r.id)?;
    fields::list("report.agreement_ids", &r.agreement_ids, LIST_MAX)?;
    for (i, a) in r.agreement_ids.iter().enumerate() {
        let f = format!("report.agreement_ids[{i}]");
        fields::reference_id(&f, a)?;
        refs.push(Reference::new(RecordKind::Agreement, a, f));
    }

    let start = occurred(r, ctx)?;
    if let Some(t) =
        fields::optional_timestamp("report.first_reported_at", r.first_reported_at.as_ref())?
    {
        fields::not_future("report.first_reported_at", t, ctx.now)?;
        if t < start {
            return Err(invalid(
                "report.first_reported_at",
                "is before occurred.start",
            ));
        }
    }

    let location = r
        .location
        .as_ref()
        .ok_or_else(|| invalid("report.location", "is required"))?;
    source::location(Field::Name("report.location"), location)?;

    fields::enum_value::<EventType>("report.event_type", r.event_type)?;
    fields::text(
        "report.sub_event_detail",
        &r.sub_event_detail,
        SHORT_MAX,
        false,
    )?;
    fields::enum_value::<Weapon>("report.weapon", r.weapon)?;
    fields::enum_value::<TargetClass>("report.target_class", r.target_class)?;
    fields::text("report.target_name", &r.target_name, SHORT_MAX, false)?;
    fields::text("report.damage", &r.damage, LONG_MAX, false)?;
    fields::enum_value::<Interception>("report.interception", r.interception)?;

    for (name, parties) in [
        ("report.alleged_perpetrators", &r.alleged_perpetrators),
        ("report.affected_parties", &r.affected_parties),
    ] {
        let field = Field::Name(name);
        fields::list(field, parties, LIST_MAX)?;
        for (i, p) in parties.iter().enumerate() {
            fields::party(field.item(i), p, true)?;
        }
    }
    fields::party("report.reported_by", &r.reported_by, true)?;
    let attribution = fields::enum_value::<AttributionStatus>("report.attribution", r.attribution)?;
    if r.alleged_perpetrators.is_empty() && attribution != AttributionStatus::Undetermined {
        return Err(invalid(
            "report.alleged_perpetrators",
            "is required unless attribution is UNDETERMINED",
        ));
    }

    if let Some(h) = &r.harm {
        harm(h)?;
    }

    source::sources("report.sources", &r.sources, true)?;
    fields::text("report.notes", &r.notes, LONG_MAX, false)?;
    fields::tags("report.tags", &r.tags)?;
    source::external_ids("report.external_ids", &r.external_ids)?;
    fields::enum_value::<EvidenceStatus>("report.evidence_status", r.evidence_status)?;
    Ok(id)
}

/// When a report's event occurred: required, not in the future, the end
/// not before the start; the start.
fn occurred(r: &Report, ctx: &Context) -> Result<SystemTime, Error> {
    let occurred = r
        .occurred
        .as_ref()
        .ok_or_else(|| invalid("report.occurred", "is required"))?;
    let start = fields::required_timestamp("report.occurred.start", occurred.start.as_ref())?;
    fields::not_future("report.occurred.start", start, ctx.now)?;
    if let Some(end) = fields::optional_timestamp("report.occurred.end", occurred.end.as_ref())? {
        if end < start {
            return Err(invalid("report.occurred.end", "is before occurred.start"));
        }
        fields::not_future("report.occurred.end", end, ctx.now)?;
    }
    fields::enum_value::<TimePrecision>("report.occurred.precision", occurred.precision)?;
    Ok(start)
}

/// Casualty figures: low <= best <= high, wherever two are given.
fn harm(h: &Harm) -> Result<(), Error> {
    let ordered = [
        ("fatalities_low", h.fatalities_low),
        ("fatalities_best", h.fatalities_best),
        ("fatalities_high", h.fatalities_high),
    ];
    for (i, (lo_name, lo)) in ordered.iter().enumerate() {
        for (hi_name, hi) in &ordered[i + 1..] {
            if let (Some(lo), Some(hi)) = (lo, hi)
                && lo > hi
            {
                return Err(invalid(
                    &format!("report.harm.{hi_name}"),
                    format!("{hi} is below {lo_name} {lo} (low <= best <= high)"),
                ));
            }
        }
    }
    Ok(())
}
