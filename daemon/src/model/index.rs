//! Query index terms: what each version of a view is findable by. Terms
//! are added for every value a record has ever had and never removed, so an
//! index answers "may match" and the query verifies each candidate against
//! its view as of the query's sequence. That keeps the indexes a pure
//! function of the log (reindex rebuilds them exactly) and lets paging stay
//! consistent while records change.

use pbjson_types::Timestamp;
use truce_proto::v1::{AgreementView, ReportView};

use crate::model::project::View;

/// Size of a geographic index cell, in degrees.
pub const CELL_DEGREES: f64 = 1.0;

/// One thing a record can be found by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    AllReports,
    ReportAgreement(String),
    Perpetrator(String),
    ReportedBy(String),
    EventType(i32),
    TargetClass(i32),
    Evidence(i32),
    Country(String),
    Admin1(String),
    /// The hour (seconds since 1970 / 3600, floored) occurred.start is
    /// in: a coarse term, so that a time range reads few index rows (the
    /// query verifies the exact time of every candidate).
    OccurredHour(i64),
    /// A CELL_DEGREES grid cell by (floor(lat), floor(lon)).
    Cell(i16, i16),
    AllAgreements,
    Party(String),
    AgreementStatus(i32),
}

/// The grid cell of a point.
pub fn cell(lat: f64, lon: f64) -> (i16, i16) {
    let f = |v: f64, max: f64| (v / CELL_DEGREES).floor().clamp(-max, max - 1.0) as i16;
    (f(lat, 90.0), f(lon, 180.0))
}

/// Seconds in one [`Term::OccurredHour`].
pub const OCCURRED_HOUR_SECONDS: i64 = 3600;

/// The [`Term::OccurredHour`] of a time in seconds since 1970.
pub fn occurred_hour(seconds: i64) -> i64 {
    seconds.div_euclid(OCCURRED_HOUR_SECONDS)
}

/// The terms of one version of a view.
pub fn terms(view: &View) -> Vec<Term> {
    match view {
        View::Report(v) => report_terms(v),
        View::Agreement(v) => agreement_terms(v),
    }
}

fn report_terms(v: &ReportView) -> Vec<Term> {
    let mut t = vec![Term::AllReports];
    let Some(r) = &v.report else {
        return t;
    };
    t.extend(r.agreement_ids.iter().cloned().map(Term::ReportAgreement));
    t.extend(
        r.alleged_perpetrators
            .iter()
            .cloned()
            .map(Term::Perpetrator),
    );
    t.push(Term::ReportedBy(r.reported_by.clone()));
    t.push(Term::EventType(r.event_type));
    t.push(Term::TargetClass(r.target_class));
    t.push(Term::Evidence(r.evidence_status));
    if let Some(loc) = &r.location {
        t.push(Term::Country(loc.country.clone()));
        if !loc.admin1.is_empty() {
            t.push(Term::Admin1(loc.admin1.clone()));
        }
        if let (Some(lat), Some(lon)) = (loc.latitude, loc.longitude) {
            let (a, b) = cell(lat, lon);
            t.push(Term::Cell(a, b));
        }
    }
    if let Some(Timestamp { seconds, .. }) = r.occurred.as_ref().and_then(|o| o.start) {
        t.push(Term::OccurredHour(occurred_hour(seconds)));
    }
    t.sort();
    t.dedup();
    t
}

fn agreement_terms(v: &AgreementView) -> Vec<Term> {
    let mut t = vec![Term::AllAgreements];
    if let Some(a) = &v.agreement {
        t.extend(a.parties.iter().map(|p| Term::Party(p.party.clone())));
    }
    if v.status != 0 {
        t.push(Term::AgreementStatus(v.status));
    }
    t.sort();
    t.dedup();
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(cell(48.5, 37.9), (48, 37));
        assert_eq!(cell(-0.5, -0.5), (-1, -1));
        assert_eq!(cell(90.0, 180.0), (89, 179));
    }
}
