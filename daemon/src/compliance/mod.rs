//! Compliance reports: for one agreement, as the records stood at one
//! sequence, the in-scope alleged violations counted per reading of its
//! start, the period before for comparison, the parties' claims beside the
//! evidence, the indeterminate reports with their reasons, and the annex of
//! every report considered. Everything is read from views as of that
//! sequence and every default comes from the log (never from the clock),
//! so computing it again later gives the same bytes.
//!
//! One pass reads each candidate's view once: it is counted and, when the
//! annex is wanted, handed to the caller as an annex entry right away (the
//! service streams them), so memory stays bounded however many reports
//! there are. Candidates come from two indexes, never from a scan of the
//! log: reports that ever named the agreement, and reports whose
//! occurred.start falls in the previous or current period (widened back by
//! a month, the coarsest precision short of a year), for the reports nobody
//! linked.

mod counts;

use crate::model::RecordKind;
use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, SystemTime},
};

use truce_proto::v1::{
    AgreementView, AnnexEntry, ClaimBesideEvidence, ComplianceFinding, ComplianceReport,
    ComplianceReportRequest, ComplianceTally, IndeterminateReport, Period, ReportEvidence,
    ReportView,
};

use crate::{
    commit::order::{from_timestamp, to_timestamp},
    error::Error,
    model::index::Term,
    model::project::View,
    model::scope::{self, Finding},
    store::{Store, TermRange},
    views,
};
use counts::Tally;

/// How far before a period reports are looked for by their start time, so
/// that a report known only to the month that straddles it is found.
const LOOK_BACK: Duration = Duration::from_secs(31 * 86_400);

/// What a report is computed over: the agreement as it stood at `at` and
/// the periods.
#[derive(Debug)]
pub struct Prepared {
    agreement: AgreementView,
    agreement_id: String,
    at: u64,
    from: SystemTime,
    to: SystemTime,
}

impl Prepared {
    /// The sequence the report is computed at.
    pub fn at(&self) -> u64 {
        self.at
    }
}

/// Checks the request against the records as of `at` (already checked
/// to be durable) and fixes the periods.
pub fn prepare(
    store: &Store,
    req: &ComplianceReportRequest,
    agreement: AgreementView,
    at: u64,
) -> Result<Prepared, Error> {
    let agreement_id = agreement
        .agreement
        .as_ref()
        .map(|a| a.id.clone())
        .unwrap_or_default();
    let (from, to) = period(store, req, &agreement, at)?;
    Ok(Prepared {
        agreement,
        agreement_id,
        at,
        from,
        to,
    })
}

/// The period asked for, or its defaults: from the earliest reading of the
/// start to when the agreement stopped applying, else to the time the log
/// recorded the as-of entry.
fn period(
    store: &Store,
    req: &ComplianceReportRequest,
    agreement: &AgreementView,
    at: u64,
) -> Result<(SystemTime, SystemTime), Error> {
    let a = agreement.agreement.clone().unwrap_or_default();
    let from = match &req.period_from {
        Some(t) => from_timestamp(t),
        None => a
            .effective_from
            .iter()
            .filter_map(|r| r.at.as_ref().map(from_timestamp))
            .min()
            .ok_or_else(|| Error::Internal("an agreement without a start".into()))?,
    };
    let to = match &req.period_to {
        Some(t) => {
            let to = from_timestamp(t);
            if to <= from {
                return Err(Error::invalid(
                    "period_to",
                    "must be after period_from (or the agreement's start)",
                ));
            }
            to
        }
        None => match scope::end_of(agreement) {
            Some(end) => end,
            None => recorded_at(store, at)?,
        }
        .max(from),
    };
    Ok((from, to))
}

fn recorded_at(store: &Store, at: u64) -> Result<SystemTime, Error> {
    Ok(views::durable_entry(store, at)?
        .recorded_at
        .as_ref()
        .map_or(SystemTime::UNIX_EPOCH, from_timestamp))
}

fn report_at(store: &Store, id: &str, at: u64) -> Result<Option<ReportView>, Error> {
    Ok(match views::view_at(store, RecordKind::Report, id, at)? {
        Some(View::Report(v)) => Some(v),
        _ => None,
    })
}

/// The UTC day of a report's start, "YYYY-MM-DD".
fn day_of(t: SystemTime) -> String {
    let ts = to_timestamp(t);
    chrono::DateTime::from_timestamp(ts.seconds, 0)
        .map_or_else(|| "?".to_owned(), |d| d.date_naive().to_string())
}

/// Computes the report (without checkpoint or annex). Each report the
/// annex holds is passed to `annex` in submission order (when given);
/// `annex` returning false stops the pass and the result is None.
pub fn run(
    store: &Store,
    prepared: Prepared,
    mut annex: Option<&mut dyn FnMut(AnnexEntry) -> bool>,
) -> Result<Option<ComplianceReport>, Error> {
    let periods = Periods::of(&prepared);
    let mut pass = Pass::new(&prepared);
    for id in candidates(store, &prepared, &periods)?.into_values() {
        let Some(view) = report_at(store, &id, prepared.at)? else {
            continue;
        };
        let Some(entry) = pass.consider(&prepared, &periods, id, view) else {
            continue;
        };
        if let Some(emit) = annex.as_mut()
            && !emit(entry)
        {
            return Ok(None);
        }
    }
    pass.finish(store, prepared, &periods).map(Some)
}

/// The current period, the previous one of the same length, and how far
/// back reports are looked for by their start.
struct Periods {
    from: SystemTime,
    to: SystemTime,
    prev_from: SystemTime,
    since: SystemTime,
}

impl Periods {
    fn of(prepared: &Prepared) -> Self {
        let (from, to) = (prepared.from, prepared.to);
        let length = to.duration_since(from).unwrap_or_default();
        let prev_from = from.checked_sub(length).unwrap_or(from);
        let since = prev_from.checked_sub(LOOK_BACK).unwrap_or(prev_from);
        Self {
            from,
            to,
            prev_from,
            since,
        }
    }
}

/// Candidates in creating-sequence order: every report that ever named
/// the agreement, then those that started in the periods.
fn candidates(
    store: &Store,
    prepared: &Prepared,
    periods: &Periods,
) -> Result<BTreeMap<u64, String>, Error> {
    let at = prepared.at;
    let mut candidates: BTreeMap<u64, String> = BTreeMap::new();
    for item in store.scan_term(&Term::ReportAgreement(prepared.agreement_id.clone()), 0) {
        let (seq, id) = item?;
        if seq > at {
            break;
        }
        candidates.insert(seq, id);
    }
    let occurred = TermRange::Occurred {
        since: Some(to_timestamp(periods.since).seconds),
        until: Some(to_timestamp(periods.to).seconds),
    };
    for item in store.scan_terms(&occurred) {
        let (seq, id) = item?;
        if seq <= at {
            candidates.entry(seq).or_insert(id);
        }
    }
    Ok(candidates)
}

/// What one pass over the candidates has counted so far.
struct Pass {
    current: Vec<Tally>,
    previous: Tally,
    tallies: Vec<ComplianceTally>,
    unlinked: Vec<String>,
    evidence: HashMap<String, i32>,
    claims: BTreeMap<String, truce_proto::v1::Claim>,
    examined: u64,
}

impl Pass {
    fn new(prepared: &Prepared) -> Self {
        let agreement = &prepared.agreement;
        let readings = agreement
            .agreement
            .as_ref()
            .map(|a| a.effective_from.clone())
            .unwrap_or_default();
        let tallies = readings
            .iter()
            .map(|r| ComplianceTally {
                reading: r.party.clone(),
                effective_from: r.at,
                effective_until: scope::end_of(agreement).map(to_timestamp),
                ..ComplianceTally::default()
            })
            .collect();
        Self {
            current: vec![Tally::default(); readings.len()],
            previous: Tally::default(),
            tallies,
            unlinked: Vec::new(),
            evidence: HashMap::new(),
            claims: BTreeMap::new(),
            examined: 0,
        }
    }

    /// Counts one candidate's view; its annex entry, or None when the
    /// report is not one the annex holds.
    fn consider(
        &mut self,
        prepared: &Prepared,
        periods: &Periods,
        id: String,
        view: ReportView,
    ) -> Option<AnnexEntry> {
        let report = view.report.as_ref()?;
        let (start, end) = scope::interval(report)?;
        let linked = report.agreement_ids.contains(&prepared.agreement_id);
        // Index terms are never removed and a correction after `at` adds
        // terms for older reports: keep exactly the reports that, as they
        // stood at `at`, named the agreement or started in the periods, so
        // the same `at` always considers the same reports.
        if !linked && (start < periods.since || start >= periods.to) {
            return None;
        }
        self.examined += 1;
        if start >= periods.prev_from
            && start < periods.from
            && scope::assess_time_aside(report, &prepared.agreement) == Finding::InScope
        {
            self.previous.add(report, &day_of(start));
        }
        if end < periods.from || start >= periods.to {
            return None;
        }
        let assessments = scope::assess_view(&view, &prepared.agreement);
        if linked {
            self.count_linked(&id, report, &assessments, start);
        } else if assessments
            .iter()
            .any(|a| a.finding() != ComplianceFinding::OutOfScope)
        {
            self.unlinked.push(id.clone());
        } else {
            return None;
        }
        self.evidence.insert(id, report.evidence_status);
        for c in &view.claims {
            self.claims.entry(c.id.clone()).or_insert_with(|| c.clone());
        }
        Some(AnnexEntry {
            report: view.report,
            linked,
            assessments,
            created: view.created,
        })
    }

    /// A report that names the agreement, counted under each reading by
    /// its finding.
    fn count_linked(
        &mut self,
        id: &str,
        report: &truce_proto::v1::Report,
        assessments: &[truce_proto::v1::ScopeAssessment],
        start: SystemTime,
    ) {
        for (i, a) in assessments.iter().enumerate() {
            let (Some(tally), Some(count)) = (self.tallies.get_mut(i), self.current.get_mut(i))
            else {
                continue;
            };
            match a.finding() {
                ComplianceFinding::InScope => count.add(report, &day_of(start)),
                ComplianceFinding::Indeterminate => {
                    tally.indeterminate += 1;
                    tally.indeterminate_reports.push(IndeterminateReport {
                        report_id: id.to_owned(),
                        reasons: a.reasons.clone(),
                    });
                }
                _ => tally.out_of_scope += 1,
            }
        }
    }

    /// The report from what the pass counted.
    fn finish(
        mut self,
        store: &Store,
        prepared: Prepared,
        periods: &Periods,
    ) -> Result<ComplianceReport, Error> {
        for c in &prepared.agreement.claims {
            self.claims.entry(c.id.clone()).or_insert_with(|| c.clone());
        }
        let previous = self.previous.finish();
        for (tally, count) in self.tallies.iter_mut().zip(self.current) {
            tally.current = Some(count.finish());
            tally.previous = Some(previous.clone());
        }
        let at = prepared.at;
        let claims = self.claims.into_values().collect();
        let claims = beside_evidence(store, claims, &self.evidence, at)?;
        let period = |from, to| Period {
            from: Some(to_timestamp(from)),
            to: Some(to_timestamp(to)),
        };
        Ok(ComplianceReport {
            agreement: Some(prepared.agreement),
            as_of_sequence: at,
            checkpoint: None,
            period: Some(period(periods.from, periods.to)),
            previous_period: Some(period(periods.prev_from, periods.from)),
            tallies: self.tallies,
            claims,
            unlinked_report_ids: self.unlinked,
            examined: self.examined,
            annex: Vec::new(),
        })
    }
}

/// Each claim with the evidence status of the reports it concerns, by
/// party, then by when stated, then by id.
fn beside_evidence(
    store: &Store,
    mut claims: Vec<truce_proto::v1::Claim>,
    known: &HashMap<String, i32>,
    at: u64,
) -> Result<Vec<ClaimBesideEvidence>, Error> {
    claims.sort_by(|a, b| {
        let when = |c: &truce_proto::v1::Claim| c.stated_at.map(|t| (t.seconds, t.nanos));
        a.party
            .cmp(&b.party)
            .then(when(a).cmp(&when(b)))
            .then(a.id.cmp(&b.id))
    });
    let mut out = Vec::with_capacity(claims.len());
    for claim in claims {
        let mut reports = Vec::with_capacity(claim.report_ids.len());
        for id in &claim.report_ids {
            let status = match known.get(id) {
                Some(s) => Some(*s),
                None => report_at(store, id, at)?
                    .and_then(|v| v.report)
                    .map(|r| r.evidence_status),
            };
            if let Some(evidence_status) = status {
                reports.push(ReportEvidence {
                    report_id: id.clone(),
                    evidence_status,
                });
            }
        }
        out.push(ClaimBesideEvidence {
            claim: Some(claim),
            reports,
        });
    }
    Ok(out)
}
