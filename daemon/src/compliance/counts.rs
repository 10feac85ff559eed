//! Tallies of in-scope alleged violations: the accumulator behind each
//! `ComplianceCounts`, keyed in BTreeMaps so that the same reports always
//! give the same bytes.

use std::collections::BTreeMap;

use truce_proto::v1::{ComplianceCounts, Count, DayCount, HarmTotals, PerpetratorCount, Report};

#[derive(Debug, Default, Clone)]
struct Perpetrator {
    total: u64,
    by_attribution: BTreeMap<String, u64>,
    by_evidence: BTreeMap<String, u64>,
}

/// Counts being gathered for one period.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    in_scope: u64,
    by_perpetrator: BTreeMap<String, Perpetrator>,
    by_event_type: BTreeMap<String, u64>,
    by_target_class: BTreeMap<String, u64>,
    by_admin1: BTreeMap<String, u64>,
    per_day: BTreeMap<String, (u64, BTreeMap<String, u64>)>,
    harm: HarmTotals,
}

/// The party a report without a named perpetrator is counted under.
pub const NO_PERPETRATOR: &str = "(undetermined)";

impl Tally {
    /// Counts one in-scope report (under each of its perpetrators).
    pub fn add(&mut self, r: &Report, day: &str) {
        self.in_scope += 1;
        let perpetrators: Vec<&str> = if r.alleged_perpetrators.is_empty() {
            vec![NO_PERPETRATOR]
        } else {
            r.alleged_perpetrators.iter().map(String::as_str).collect()
        };
        let (total, by_party) = self.per_day.entry(day.to_owned()).or_default();
        *total += 1;
        for p in &perpetrators {
            *by_party.entry((*p).to_owned()).or_default() += 1;
            let e = self.by_perpetrator.entry((*p).to_owned()).or_default();
            e.total += 1;
            *e.by_attribution
                .entry(r.attribution().as_str_name().to_owned())
                .or_default() += 1;
            *e.by_evidence
                .entry(r.evidence_status().as_str_name().to_owned())
                .or_default() += 1;
        }
        *self
            .by_event_type
            .entry(r.event_type().as_str_name().to_owned())
            .or_default() += 1;
        *self
            .by_target_class
            .entry(r.target_class().as_str_name().to_owned())
            .or_default() += 1;
        let loc = r.location.clone().unwrap_or_default();
        let admin1 = if loc.admin1.is_empty() {
            "?"
        } else {
            &loc.admin1
        };
        *self
            .by_admin1
            .entry(format!("{}/{admin1}", loc.country))
            .or_default() += 1;
        if let Some(h) = r.harm {
            let figures = [
                h.fatalities_low,
                h.fatalities_best,
                h.fatalities_high,
                h.injured,
            ];
            if figures.iter().any(Option::is_some) {
                self.harm.reports_with_figures += 1;
            }
            self.harm.fatalities_low += u64::from(h.fatalities_low.unwrap_or(0));
            self.harm.fatalities_best += u64::from(h.fatalities_best.unwrap_or(0));
            self.harm.fatalities_high += u64::from(h.fatalities_high.unwrap_or(0));
            self.harm.injured += u64::from(h.injured.unwrap_or(0));
        }
    }

    /// The counts, largest first where a ranking reads better (ties by key).
    pub fn finish(self) -> ComplianceCounts {
        let mut by_perpetrator: Vec<PerpetratorCount> = self
            .by_perpetrator
            .into_iter()
            .map(|(party, p)| PerpetratorCount {
                party,
                total: p.total,
                by_attribution: counts(p.by_attribution),
                by_evidence: counts(p.by_evidence),
            })
            .collect();
        by_perpetrator.sort_by(|a, b| b.total.cmp(&a.total).then(a.party.cmp(&b.party)));
        ComplianceCounts {
            in_scope: self.in_scope,
            by_perpetrator,
            by_event_type: ranked(self.by_event_type),
            by_target_class: ranked(self.by_target_class),
            by_admin1: ranked(self.by_admin1),
            per_day: self
                .per_day
                .into_iter()
                .map(|(day, (total, by))| DayCount {
                    day,
                    total,
                    by_perpetrator: counts(by),
                })
                .collect(),
            harm: Some(self.harm),
        }
    }
}

fn counts(m: BTreeMap<String, u64>) -> Vec<Count> {
    m.into_iter()
        .map(|(key, count)| Count { key, count })
        .collect()
}

fn ranked(m: BTreeMap<String, u64>) -> Vec<Count> {
    let mut v = counts(m);
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    v
}
