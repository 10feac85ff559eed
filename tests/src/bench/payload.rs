//! Realistic reports for both sides: report `i` of a run is a valid
//! `SubmitReportRequest` of 600 B–2 KiB encoded (text lengths, source
//! count, place, event type and parties vary deterministically with `i`),
//! the columns PostgreSQL indexes, and the encoded request PostgreSQL
//! stores. The same `i` gives the same bytes on both sides.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pbjson_types::Timestamp;
use prost::Message;
use truce_proto::v1::{
    EventType, Harm, InformationCredibility, Report, Source, SourceKind, SourceReliability,
    SubmitReportRequest, TargetClass,
};

use super::stats::splitmix64;

/// The perpetrator of the reports the filtered query finds.
pub const RARE_PERPETRATOR: &str = "bench-rare-party";

/// Encoded size bounds the generator keeps to.
pub const MIN_BYTES: usize = 600;
pub const MAX_BYTES: usize = 2048;

const REGIONS: [(&str, &str, f64, f64); 6] = [
    ("UA", "Donetsk Oblast", 48.0, 37.8),
    ("UA", "Kharkiv Oblast", 49.99, 36.23),
    ("UA", "Zaporizhzhia Oblast", 47.84, 35.14),
    ("RU", "Kursk Oblast", 51.73, 36.19),
    ("RU", "Belgorod Oblast", 50.6, 36.6),
    ("RU", "Krasnodar Krai", 45.04, 38.98),
];
const EVENTS: [EventType; 6] = [
    EventType::DroneStrike,
    EventType::Shelling,
    EventType::MissileAttack,
    EventType::AirStrike,
    EventType::ArmedClash,
    EventType::AttackOnCivilians,
];
const TARGETS: [TargetClass; 6] = [
    TargetClass::OilRefinery,
    TargetClass::PowerGeneration,
    TargetClass::Residential,
    TargetClass::Transport,
    TargetClass::Military,
    TargetClass::GasDistribution,
];
const PUBLISHERS: [&str; 5] = [
    "Ministry of Defence",
    "Regional Military Administration",
    "Inter Bellum News",
    "Monitoring Mission Daily Report",
    "Local Telegram channel (archived)",
];
const WORDS: [&str; 32] = [
    "drone",
    "strike",
    "reported",
    "near",
    "the",
    "substation",
    "residents",
    "said",
    "officials",
    "damage",
    "to",
    "a",
    "fuel",
    "depot",
    "overnight",
    "air",
    "defence",
    "intercepted",
    "several",
    "debris",
    "fell",
    "on",
    "houses",
    "no",
    "casualties",
    "were",
    "confirmed",
    "according",
    "local",
    "authorities",
    "morning",
    "attack",
];

/// What PostgreSQL stores of report `i`: the columns Truce indexes and the
/// encoded request.
#[derive(Debug, Clone)]
pub struct Row {
    pub request_id: String,
    pub record_id: String,
    pub agreement_id: String,
    pub perpetrator: String,
    pub event_type: i32,
    pub occurred_at: SystemTime,
    pub country: String,
    pub encoded: Vec<u8>,
}

/// Makes report `i` of a run.
#[derive(Debug, Clone)]
pub struct Generator {
    base: Report,
    prefix: String,
    agreement_id: String,
    /// Every `rare_every`-th report (from the first) names
    /// [`RARE_PERPETRATOR`]; None: none does.
    rare_every: Option<u64>,
}

impl Generator {
    /// Reports on the seed agreement (record it first), ids starting with
    /// `prefix`.
    pub fn new(prefix: &str, rare_every: Option<u64>) -> Self {
        let mut base = crate::seed::reports()
            .into_iter()
            .next()
            .and_then(|r| r.report)
            .unwrap_or_default();
        base.sources.clear();
        Self {
            base,
            prefix: prefix.to_owned(),
            agreement_id: crate::seed::agreement_id(),
            rare_every: rare_every.filter(|&n| n > 0),
        }
    }

    /// Whether report `i` names the rare perpetrator.
    pub fn is_rare(&self, i: u64) -> bool {
        self.rare_every.is_some_and(|n| i.is_multiple_of(n))
    }

    /// How many of reports `0..n` the filtered query finds.
    pub fn rare_among(&self, n: u64) -> u64 {
        self.rare_every.map_or(0, |every| n.div_ceil(every))
    }

    /// The record id of report `i`.
    pub fn record_id(&self, i: u64) -> String {
        format!("{}-r{i}", self.prefix)
    }

    /// Report `i` as a request.
    pub fn request(&self, i: u64) -> SubmitReportRequest {
        let h = splitmix64(i);
        let pick = |shift: u32, n: usize| ((h >> shift) as usize) % n;
        let (country, admin1, lat, lon) = REGIONS[pick(0, REGIONS.len())];
        let other = if country == "UA" { "RU" } else { "UA" };
        let mut r = self.base.clone();
        r.id = self.record_id(i);
        r.agreement_ids = vec![self.agreement_id.clone()];
        let start = 1_742_342_400 + (h % (28 * 86_400)) as i64; // from 2025-03-19
        if let Some(o) = r.occurred.as_mut() {
            o.start = Some(Timestamp {
                seconds: start,
                nanos: 0,
            });
            o.end = None;
        }
        r.first_reported_at = Some(Timestamp {
            seconds: start + 3_600 * (1 + pick(8, 30) as i64),
            nanos: 0,
        });
        if let Some(l) = r.location.as_mut() {
            l.country = country.to_owned();
            l.admin1 = admin1.to_owned();
            l.place_name = words(h ^ 0x51, 2 + pick(12, 4));
            l.latitude = Some(lat + (pick(16, 1000) as f64 - 500.0) / 2000.0);
            l.longitude = Some(lon + (pick(24, 1000) as f64 - 500.0) / 2000.0);
        }
        r.event_type = EVENTS[pick(32, EVENTS.len())].into();
        r.target_class = TARGETS[pick(36, TARGETS.len())].into();
        r.target_name = words(h ^ 0x7a, 2 + pick(40, 4));
        r.damage = words(h ^ 0x3c, 4 + pick(44, 12));
        r.alleged_perpetrators = vec![if self.is_rare(i) {
            RARE_PERPETRATOR.to_owned()
        } else {
            other.to_owned()
        }];
        r.affected_parties = vec![country.to_owned()];
        r.reported_by = country.to_owned();
        r.harm = Some(Harm {
            fatalities_best: Some((h % 4) as u32),
            injured: Some(((h >> 4) % 12) as u32),
            ..Harm::default()
        });
        let sources = 1 + pick(48, 3);
        r.sources = (0..sources)
            .map(|k| source(i, k, h, start, country))
            .collect();
        // 40..170 words: the main spread of sizes.
        r.notes = words(h ^ 0x99, 40 + pick(52, 130));
        r.tags = vec!["bench".to_owned(), country.to_lowercase()];
        SubmitReportRequest {
            request_id: format!("{}-q{i}", self.prefix),
            report: Some(r),
            with_proof: false,
        }
    }

    /// Report `i` as PostgreSQL stores it.
    pub fn row(&self, i: u64) -> Row {
        let request = self.request(i);
        let encoded = request.encode_to_vec();
        let report = request.report.unwrap_or_default();
        let start = report
            .occurred
            .and_then(|o| o.start)
            .map_or(0, |t| t.seconds);
        Row {
            request_id: request.request_id,
            record_id: report.id,
            agreement_id: report.agreement_ids.into_iter().next().unwrap_or_default(),
            perpetrator: report
                .alleged_perpetrators
                .into_iter()
                .next()
                .unwrap_or_default(),
            event_type: report.event_type,
            occurred_at: UNIX_EPOCH + Duration::from_secs(start.max(0) as u64),
            country: report.location.map(|l| l.country).unwrap_or_default(),
            encoded,
        }
    }
}

fn source(i: u64, k: usize, h: u64, start: i64, party: &str) -> Source {
    let s = splitmix64(h ^ (k as u64 + 1));
    let publisher = PUBLISHERS[(s % PUBLISHERS.len() as u64) as usize];
    Source {
        kind: if k == 0 {
            SourceKind::PartyStatement
        } else {
            SourceKind::Media
        }
        .into(),
        publisher: publisher.to_owned(),
        url: format!("https://example.org/reports/{i}/source-{k}"),
        title: words(s, 4 + (s >> 8) as usize % 8),
        published_at: Some(Timestamp {
            seconds: start + 7_200,
            nanos: 0,
        }),
        language: "en".to_owned(),
        party_affiliation: if k == 0 {
            party.to_owned()
        } else {
            String::new()
        },
        reliability: SourceReliability::NotAssessed.into(),
        credibility: InformationCredibility::NotAssessed.into(),
        ..Source::default()
    }
}

/// `n` words chosen by `seed`.
fn words(seed: u64, n: usize) -> String {
    let mut out = String::new();
    let mut s = seed;
    for k in 0..n {
        s = splitmix64(s);
        if k > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[(s % WORDS.len() as u64) as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_stay_between_600_bytes_and_2_kib() {
        let g = Generator::new("t", Some(100));
        let sizes: Vec<usize> = (0..5_000).map(|i| g.row(i).encoded.len()).collect();
        let (min, max) = (
            sizes.iter().copied().min().unwrap_or(0),
            sizes.iter().copied().max().unwrap_or(0),
        );
        assert!(min >= MIN_BYTES, "smallest {min}, largest {max}");
        assert!(max <= MAX_BYTES, "smallest {min}, largest {max}");
        // Spread, not one size.
        assert!(max - min > 600, "{min}..{max}");
    }

    #[test]
    fn same_index_same_bytes_and_unique_ids() {
        let g = Generator::new("t", None);
        assert_eq!(g.row(7).encoded, g.row(7).encoded);
        assert_ne!(g.row(7).request_id, g.row(8).request_id);
        assert_eq!(g.row(7).record_id, g.record_id(7));
        assert_eq!(g.request(7).encode_to_vec(), g.row(7).encoded);
    }

    #[test]
    fn rare_reports_are_counted_exactly() {
        let g = Generator::new("t", Some(10_000));
        let n = 1_000_000;
        assert_eq!(g.rare_among(n), 100);
        let rare = (0..n).filter(|&i| g.is_rare(i)).count() as u64;
        assert_eq!(rare, 100);
        assert_eq!(g.row(0).perpetrator, RARE_PERPETRATOR);
        assert_ne!(g.row(1).perpetrator, RARE_PERPETRATOR);
        assert_eq!(Generator::new("t", None).rare_among(n), 0);
    }
}
