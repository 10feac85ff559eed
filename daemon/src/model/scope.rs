//! The scope engine: is a report within an agreement's scope, under each
//! party's reading of when the agreement started? In scope, out of scope or
//! indeterminate, with the reasons. Pure: it reads a report and an
//! agreement's current view (extensions, lapses and supersessions applied).
//!
//! Rules, each giving in / out / indeterminate (the worst wins: any "out"
//! makes the report out of scope, else any "indeterminate" makes it
//! indeterminate):
//! - time: the report's interval (its end, or its start widened by its
//!   precision) against [effective_from, end), where end is the earliest of
//!   the (possibly extended) expiry and a lapse, end or supersession;
//!   wholly inside → in, wholly outside → out, straddling → indeterminate;
//! - parties: an alleged perpetrator among the bound parties (signatories,
//!   declarers, guarantors) → in; none bound → out; no perpetrator or an
//!   undetermined attribution → indeterminate;
//! - targets: the report's target class among the protected ones (when the
//!   agreement lists any); UNKNOWN → indeterminate;
//! - acts: the report's event type among the prohibited acts (when listed);
//! - place: the report's country (and admin1, bounding box or polygon where
//!   the area gives them) within one of the agreement's areas (when listed);
//!   an area that needs coordinates the report lacks → indeterminate.

use std::time::{Duration, SystemTime};

use truce_proto::v1::{
    Agreement, AgreementScope, AgreementStatus, AgreementView, AttributionStatus,
    ComplianceFinding, EventType, GeoArea, Location, PartyRole, ProhibitedAct, Report, ReportView,
    ScopeAssessment, TargetClass, TimePrecision,
};

use crate::model::time::from_timestamp;

/// A finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    InScope,
    Indeterminate,
    OutOfScope,
}

impl From<Finding> for ComplianceFinding {
    fn from(f: Finding) -> Self {
        match f {
            Finding::InScope => ComplianceFinding::InScope,
            Finding::Indeterminate => ComplianceFinding::Indeterminate,
            Finding::OutOfScope => ComplianceFinding::OutOfScope,
        }
    }
}

/// The finding under one reading of the start, with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The party whose reading of the start this is ("" when agreed).
    pub reading: String,
    pub finding: Finding,
    pub reasons: Vec<String>,
}

fn widen(start: SystemTime, p: TimePrecision) -> SystemTime {
    let day = 86_400;
    let secs = match p {
        TimePrecision::Exact | TimePrecision::Unspecified => 0,
        TimePrecision::Hour => 3_600 - 1,
        TimePrecision::Day => day - 1,
        TimePrecision::Week => 7 * day - 1,
        TimePrecision::Month => 31 * day - 1,
        TimePrecision::Year => 366 * day - 1,
    };
    // A stored start near the end of SystemTime's range (no valid request
    // has one, a damaged store might) stays where it is rather than
    // overflowing.
    start
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(start)
}

/// An enum value as people and `truce`'s flags name it:
/// `TARGET_CLASS_POWER_TRANSMISSION` → `power-transmission`.
fn label(name: &str) -> String {
    const PREFIXES: [&str; 3] = ["TARGET_CLASS_", "EVENT_TYPE_", "COMPLIANCE_FINDING_"];
    let bare = PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    bare.to_ascii_lowercase().replace('_', "-")
}

/// When the agreement stopped applying, if it did: the (extended) expiry,
/// or a lapse, end or supersession, whichever is earliest. A stop that a
/// later entry overrides (an extension or a return to force effective at
/// or before it, as `in_force_at` reads the statuses) does not count: an
/// extension recorded after a lapse, effective at the expiry it extends,
/// moves the end to the new expiry.
pub fn end_of(agreement: &AgreementView) -> Option<SystemTime> {
    let expiry = agreement
        .agreement
        .as_ref()
        .and_then(|a| a.expires_at.as_ref())
        .map(from_timestamp);
    let statuses = &agreement.statuses;
    let stopped = statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            matches!(
                s.status(),
                AgreementStatus::Lapsed | AgreementStatus::Ended | AgreementStatus::Superseded
            )
        })
        .filter_map(|(i, s)| {
            let at = s.effective_at.as_ref().map(from_timestamp)?;
            let overridden = statuses[i + 1..].iter().any(|later| {
                matches!(
                    later.status(),
                    AgreementStatus::Extended | AgreementStatus::InForce
                ) && later
                    .effective_at
                    .as_ref()
                    .is_some_and(|e| from_timestamp(e) <= at)
            });
            (!overridden).then_some(at)
        })
        .min();
    match (expiry, stopped) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn acts_cover(acts: &[i32], t: EventType) -> bool {
    use EventType as E;
    acts.iter().any(|a| match ProhibitedAct::try_from(*a) {
        Ok(ProhibitedAct::AllHostilities) => true,
        Ok(ProhibitedAct::AnyStrike) => matches!(
            t,
            E::AirStrike
                | E::DroneStrike
                | E::MissileAttack
                | E::Shelling
                | E::RemoteExplosive
                | E::Grenade
                | E::InterceptedStrike
        ),
        Ok(ProhibitedAct::AirStrike) => t == E::AirStrike,
        Ok(ProhibitedAct::DroneStrike) => t == E::DroneStrike,
        Ok(ProhibitedAct::MissileAttack) => t == E::MissileAttack,
        Ok(ProhibitedAct::Shelling) => t == E::Shelling,
        Ok(ProhibitedAct::GroundAttack) => matches!(t, E::ArmedClash | E::TerritorySeized),
        Ok(ProhibitedAct::HeavyWeaponsBeyondLine) => t == E::HeavyWeaponsBeyondLine,
        Ok(ProhibitedAct::ObstructionOfMonitors) => t == E::ObstructionOfMonitors,
        Ok(ProhibitedAct::DenialOfHumanitarianAccess) => t == E::DenialOfHumanitarianAccess,
        _ => false,
    })
}

/// Ray casting; polygon points are (lat, lon).
fn in_polygon(lat: f64, lon: f64, ring: &[(f64, f64)]) -> bool {
    let mut inside = false;
    let mut j = ring.len().wrapping_sub(1);
    for i in 0..ring.len() {
        let (yi, xi) = ring[i];
        let (yj, xj) = ring[j];
        if (yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn area_finding(area: &GeoArea, r: &Report) -> Finding {
    let default = Location::default();
    let loc = r.location.as_ref().unwrap_or(&default);
    if !area.country.is_empty() && area.country != loc.country {
        return Finding::OutOfScope;
    }
    if !area.admin1.is_empty() && area.admin1 != loc.admin1 {
        return if loc.admin1.is_empty() {
            Finding::Indeterminate
        } else {
            Finding::OutOfScope
        };
    }
    let needs_point = area.bbox.is_some() || !area.polygon.is_empty();
    if !needs_point {
        return Finding::InScope;
    }
    let (Some(lat), Some(lon)) = (loc.latitude, loc.longitude) else {
        return Finding::Indeterminate;
    };
    if let Some(b) = &area.bbox
        && !crate::model::geo::in_bbox(b, lat, lon)
    {
        return Finding::OutOfScope;
    }
    if !area.polygon.is_empty() {
        let ring: Vec<(f64, f64)> = area
            .polygon
            .iter()
            .map(|p| (p.latitude, p.longitude))
            .collect();
        if !in_polygon(lat, lon, &ring) {
            return Finding::OutOfScope;
        }
    }
    Finding::InScope
}

/// The findings that do not depend on the reading of the start: who is
/// bound, then each part of the scope the agreement states.
fn fixed(r: &Report, view: &AgreementView) -> Vec<(Finding, String)> {
    let default = Agreement::default();
    let a = view.agreement.as_ref().unwrap_or(&default);
    let default_scope = AgreementScope::default();
    let scope = a.scope.as_ref().unwrap_or(&default_scope);
    let mut out = vec![perpetrator_finding(r, a)];
    if !scope.protected_targets.is_empty() {
        out.push(target_finding(r, scope));
    }
    if !scope.prohibited_acts.is_empty() {
        out.push(act_finding(r, scope));
    }
    if !scope.areas.is_empty() {
        out.push(place_finding(r, scope));
    }
    out
}

/// Whether an alleged perpetrator is bound (a signatory, declarer or
/// guarantor).
fn perpetrator_finding(r: &Report, a: &Agreement) -> (Finding, String) {
    let bound: Vec<&str> = a
        .parties
        .iter()
        .filter(|p| {
            matches!(
                p.role(),
                PartyRole::Signatory | PartyRole::Declarer | PartyRole::Guarantor
            )
        })
        .map(|p| p.party.as_str())
        .collect();
    if r.alleged_perpetrators.is_empty() || r.attribution() == AttributionStatus::Undetermined {
        return (
            Finding::Indeterminate,
            "the perpetrator is undetermined".into(),
        );
    }
    match r
        .alleged_perpetrators
        .iter()
        .find(|p| bound.contains(&p.as_str()))
    {
        Some(p) => (
            Finding::InScope,
            format!("alleged perpetrator {p} is bound by it"),
        ),
        None => (
            Finding::OutOfScope,
            format!(
                "no alleged perpetrator ({}) is bound by it",
                r.alleged_perpetrators.join(", ")
            ),
        ),
    }
}

/// Whether the target is among the protected ones.
fn target_finding(r: &Report, scope: &AgreementScope) -> (Finding, String) {
    let target = r.target_class();
    if target == TargetClass::Unknown {
        (Finding::Indeterminate, "the target class is unknown".into())
    } else if scope.protected_targets.contains(&(target as i32)) {
        (
            Finding::InScope,
            format!("target {} is protected", label(target.as_str_name())),
        )
    } else {
        (
            Finding::OutOfScope,
            format!("target {} is not protected", label(target.as_str_name())),
        )
    }
}

/// Whether the event is a prohibited act.
fn act_finding(r: &Report, scope: &AgreementScope) -> (Finding, String) {
    let t = r.event_type();
    if acts_cover(&scope.prohibited_acts, t) {
        (
            Finding::InScope,
            format!("{} is a prohibited act", label(t.as_str_name())),
        )
    } else {
        (
            Finding::OutOfScope,
            format!("{} is not a prohibited act", label(t.as_str_name())),
        )
    }
}

/// Whether the place is within one of the agreement's areas (the best
/// finding over them).
fn place_finding(r: &Report, scope: &AgreementScope) -> (Finding, String) {
    let best = scope
        .areas
        .iter()
        .map(|area| area_finding(area, r))
        .min()
        .unwrap_or(Finding::OutOfScope);
    let default = Location::default();
    let place = r.location.as_ref().unwrap_or(&default);
    let what = format!("{} {}", place.country, place.admin1)
        .trim()
        .to_owned();
    let why = match best {
        Finding::InScope => format!("{what} is within its area"),
        Finding::Indeterminate => format!("{what} may be within its area (location too coarse)"),
        Finding::OutOfScope => format!("{what} is outside its area"),
    };
    (best, why)
}

/// When a report occurred, as far as it is known: [start, end] with the
/// end given or the start widened by its precision. None without a start.
pub fn interval(r: &Report) -> Option<(SystemTime, SystemTime)> {
    let occurred = r.occurred.unwrap_or_default();
    let start = occurred.start.as_ref().map(from_timestamp)?;
    let end = occurred
        .end
        .as_ref()
        .map(from_timestamp)
        .unwrap_or_else(|| widen(start, occurred.precision()));
    Some((start, end))
}

/// The finding with the time window set aside (parties, targets, acts,
/// place): would the agreement have covered the report had it applied?
pub fn assess_time_aside(r: &Report, view: &AgreementView) -> Finding {
    fixed(r, view)
        .iter()
        .map(|(f, _)| *f)
        .max()
        .unwrap_or(Finding::InScope)
}

/// The assessments of a report view against an agreement: the engine's,
/// unless an analyst recorded a compliance finding for this agreement (a
/// status change), which then stands under every reading.
pub fn assess_view(v: &ReportView, view: &AgreementView) -> Vec<ScopeAssessment> {
    let default = Report::default();
    let report = v.report.as_ref().unwrap_or(&default);
    let id = view.agreement.as_ref().map_or("", |a| a.id.as_str());
    let recorded = v
        .findings
        .iter()
        .rev()
        .find(|f| f.agreement_id == id && f.finding() != ComplianceFinding::Unspecified)
        .map(|f| f.finding());
    assess(report, view)
        .into_iter()
        .map(|a| match recorded {
            Some(f) => ScopeAssessment {
                reading: a.reading,
                finding: f.into(),
                reasons: vec![format!(
                    "a compliance finding was recorded for it: {}",
                    label(f.as_str_name())
                )],
            },
            None => ScopeAssessment {
                reading: a.reading,
                finding: ComplianceFinding::from(a.finding).into(),
                reasons: a.reasons,
            },
        })
        .collect()
}

/// Assesses a report against an agreement under every reading of its
/// start (one assessment per effective_from entry).
pub fn assess(r: &Report, view: &AgreementView) -> Vec<Assessment> {
    let default = Agreement::default();
    let a = view.agreement.as_ref().unwrap_or(&default);
    let Some((start, end)) = interval(r) else {
        return Vec::new();
    };
    let window_end = end_of(view);
    let fixed = fixed(r, view);
    a.effective_from
        .iter()
        .filter_map(|reading| {
            let from = reading.at.as_ref().map(from_timestamp)?;
            let mut all = fixed.clone();
            let time = if end < from {
                (
                    Finding::OutOfScope,
                    "it occurred before the start".to_owned(),
                )
            } else if window_end.is_some_and(|e| start >= e) {
                (Finding::OutOfScope, "it occurred after the end".to_owned())
            } else if start < from {
                (
                    Finding::Indeterminate,
                    "its time, known only to its precision, straddles the start".to_owned(),
                )
            } else if window_end.is_some_and(|e| end >= e) {
                (
                    Finding::Indeterminate,
                    "its time, known only to its precision, straddles the end".to_owned(),
                )
            } else {
                (
                    Finding::InScope,
                    "it occurred while the agreement applied".to_owned(),
                )
            };
            all.insert(0, time);
            let finding = all
                .iter()
                .map(|(f, _)| *f)
                .max()
                .unwrap_or(Finding::InScope);
            Some(Assessment {
                reading: reading.party.clone(),
                finding,
                reasons: all.into_iter().map(|(_, why)| why).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use truce_proto::v1::{Agreement, AgreementStatusRecord};

    use super::*;
    use crate::commit::order::to_timestamp;

    fn at(days: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(days * 86_400)
    }

    fn status(s: AgreementStatus, days: u64, sequence: u64) -> AgreementStatusRecord {
        AgreementStatusRecord {
            status: s.into(),
            effective_at: Some(to_timestamp(at(days))),
            sequence,
        }
    }

    fn view(expires: u64, statuses: Vec<AgreementStatusRecord>) -> AgreementView {
        AgreementView {
            agreement: Some(Agreement {
                expires_at: Some(to_timestamp(at(expires))),
                ..Agreement::default()
            }),
            statuses,
            ..AgreementView::default()
        }
    }

    #[test]
    fn a_lapse_ends_it_unless_a_later_extension_overrides_it() {
        use AgreementStatus as S;
        // Lapsed at day 30 (the old expiry), nothing after: day 30.
        let lapsed = view(30, vec![status(S::Lapsed, 30, 2)]);
        assert_eq!(end_of(&lapsed), Some(at(30)));
        // Extended to day 60, recorded after the lapse, effective at it.
        let extended = view(
            60,
            vec![status(S::Lapsed, 30, 2), status(S::Extended, 30, 3)],
        );
        assert_eq!(end_of(&extended), Some(at(60)));
        // An extension effective after the lapse leaves the lapse standing.
        let late = view(
            60,
            vec![status(S::Lapsed, 30, 2), status(S::Extended, 40, 3)],
        );
        assert_eq!(end_of(&late), Some(at(30)));
        // A lapse recorded after the extension ends it.
        let after = view(
            60,
            vec![status(S::Extended, 30, 2), status(S::Lapsed, 45, 3)],
        );
        assert_eq!(end_of(&after), Some(at(45)));
    }
}
