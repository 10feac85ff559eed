//! ACLED CSV rows back to reports: the inverse of [`export::acled_row`], so
//! that events move both ways between Truce and the tools analysts use.
//! Pure: a row (its values in [`ACLED_COLUMNS`] order) in, a report out;
//! and, for a row whose report already exists, which fields it revises,
//! judged column by column through the export mapping so that a refinement
//! ACLED cannot express (AIR_STRIKE for "Air/drone strike", a linked
//! agreement, a harm range) is never undone by a re-import.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};
use pbjson_types::Timestamp;
use truce_proto::v1::{
    AttributionStatus, EventType, EvidenceStatus, ExternalId, ExternalIdScheme, GeoPrecision, Harm,
    InformationCredibility, Interception, Location, Report, ReportView, Source, SourceKind,
    SourceReliability, TargetClass, TimeInterval, TimePrecision, Weapon,
};

use crate::export::{self, ACLED_COLUMNS};
pub use truce_export::ids::report_id;
use truce_export::{
    countries,
    ids::{ID_MAX, id_chars},
};

/// The columns a row is read from; a header without them is refused.
pub const REQUIRED_COLUMNS: [&str; 20] = [
    "event_id_cnty",
    "event_date",
    "time_precision",
    "sub_event_type",
    "actor1",
    "actor2",
    "civilian_targeting",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "notes",
    "fatalities",
    "tags",
    "event_type",
];

/// The party an imported report is reported by.
pub const REPORTED_BY: &str = "ACLED";

/// Where each ACLED column sits in a file's header (any order; other
/// columns are ignored).
#[derive(Debug, Clone)]
pub struct Header {
    positions: Vec<Option<usize>>,
}

impl Header {
    /// Reads a header row; an error names every required column it lacks.
    pub fn new(names: &csv::StringRecord) -> Result<Self, String> {
        let names: Vec<&str> = names
            .iter()
            .map(|n| n.trim_start_matches('\u{feff}').trim())
            .collect();
        let missing: Vec<&str> = REQUIRED_COLUMNS
            .iter()
            .filter(|c| !names.contains(c))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the header lacks ACLED columns: {}",
                missing.join(", ")
            ));
        }
        let positions = ACLED_COLUMNS
            .iter()
            .map(|c| names.iter().position(|n| n == c))
            .collect();
        Ok(Self { positions })
    }

    /// A record's values in [`ACLED_COLUMNS`] order (absent ones empty).
    pub fn row(&self, record: &csv::StringRecord) -> Vec<String> {
        self.positions
            .iter()
            .map(|p| p.and_then(|i| record.get(i)).unwrap_or("").to_owned())
            .collect()
    }
}

/// The value of `column` in a row in [`ACLED_COLUMNS`] order.
fn at<'a>(row: &'a [String], column: &str) -> &'a str {
    ACLED_COLUMNS
        .iter()
        .position(|c| *c == column)
        .and_then(|i| row.get(i))
        .map_or("", String::as_str)
}

/// Our event type of an ACLED sub-event type (inverse of
/// [`export::acled_sub_event`]; both territory sub-events are
/// TERRITORY_SEIZED, the actor and the country telling them apart).
pub fn event_type_of(sub_event_type: &str) -> EventType {
    match sub_event_type.trim() {
        "Air/drone strike" => EventType::DroneStrike,
        "Shelling/artillery/missile attack" => EventType::Shelling,
        "Remote explosive/landmine/IED" => EventType::RemoteExplosive,
        "Grenade" => EventType::Grenade,
        "Armed clash" => EventType::ArmedClash,
        "Non-state actor overtakes territory" | "Government regains territory" => {
            EventType::TerritorySeized
        }
        "Attack" => EventType::AttackOnCivilians,
        "Abduction/forced disappearance" => EventType::Abduction,
        "Disrupted weapons use" => EventType::InterceptedStrike,
        _ => EventType::Other,
    }
}

/// Our precision of ACLED's time_precision (inverse of
/// [`export::acled_time_precision`]).
pub fn time_precision_of(code: &str) -> Result<TimePrecision, String> {
    match code.trim() {
        "1" => Ok(TimePrecision::Day),
        "2" => Ok(TimePrecision::Week),
        "3" => Ok(TimePrecision::Month),
        other => Err(format!(
            "time_precision {other:?} is not an ACLED time precision (1 day, 2 week, 3 month)"
        )),
    }
}

/// Our precision of ACLED's geo_precision (inverse of
/// [`export::acled_geo_precision`]; empty is UNKNOWN).
pub fn geo_precision_of(code: &str) -> Result<GeoPrecision, String> {
    match code.trim() {
        "1" => Ok(GeoPrecision::Exact),
        "2" => Ok(GeoPrecision::Near),
        "3" => Ok(GeoPrecision::Region),
        "" => Ok(GeoPrecision::Unknown),
        other => Err(format!(
            "geo_precision {other:?} is not an ACLED geo precision (1, 2 or 3)"
        )),
    }
}

/// Our target class of ACLED's civilian_targeting (inverse of
/// [`export::acled_civilian_targeting`]).
pub fn target_class_of(civilian_targeting: &str) -> TargetClass {
    if civilian_targeting.trim() == "Civilian targeting" {
        TargetClass::OtherCivilian
    } else {
        TargetClass::Unknown
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= ID_MAX
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// The party code of an ACLED actor: a code as is (what `truce export`
/// writes); a state's forces or civilians ("Military Forces of Russia
/// (2000-)", "Civilians (Ukraine)") as the state's country code; any
/// other name in the id charset ("Unidentified Armed Group (Ukraine)" →
/// "Unidentified-Armed-Group-Ukraine").
pub fn party_of(actor: &str) -> Option<String> {
    let a = actor.trim();
    if is_id(a) {
        return Some(a.to_owned());
    }
    let state = ["Military Forces of ", "Police Forces of "]
        .iter()
        .find_map(|p| a.strip_prefix(p))
        .map(|rest| rest.split(" (").next().unwrap_or(rest))
        .or_else(|| {
            a.strip_prefix("Civilians (")
                .and_then(|r| r.strip_suffix(')'))
        });
    if let Some(code) = state.and_then(countries::code_of_name) {
        return Some(code.to_owned());
    }
    let mut code = String::new();
    for c in id_chars(a).chars() {
        if !(c == '-' && (code.is_empty() || code.ends_with('-'))) {
            code.push(c);
        }
    }
    let code = code.trim_end_matches('-');
    let code = code.get(..ID_MAX).unwrap_or(code);
    (!code.is_empty()).then(|| code.to_owned())
}

/// The items of a "; "-separated column.
fn list(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(';')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
}

fn parties(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in list(s).filter_map(|a| party_of(&a)) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// ACLED's event_date: YYYY-MM-DD (or "16 March 2025"), midnight UTC.
fn date(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%d %B %Y"))
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().into())
        .ok_or_else(|| format!("event_date {s:?} is not a date (YYYY-MM-DD)"))
}

/// The start of the period an ACLED date stands for: the day itself; for
/// a week, three days before it (ACLED gives the middle of the week); for
/// a month, its first day (ACLED gives the middle of the month). The
/// inverse of [`export::acled_date`], which gives a report without an end
/// the middle of the seven days or the calendar month from its start.
pub fn period_start(day: Timestamp, precision: TimePrecision) -> Timestamp {
    const DAY: i64 = 86_400;
    let seconds = match precision {
        TimePrecision::Week => day.seconds - 3 * DAY,
        TimePrecision::Month => {
            let into_month =
                chrono::DateTime::from_timestamp(day.seconds, 0).map_or(0, |t| i64::from(t.day0()));
            day.seconds - into_month * DAY
        }
        _ => day.seconds,
    };
    Timestamp { seconds, nanos: 0 }
}

fn coordinate(column: &str, s: &str) -> Result<Option<f64>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("{column} {s:?} is not a number"))
}

fn count(column: &str, s: &str) -> Result<Option<u32>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("{column} {s:?} is not a count"))
}

/// The harm of ACLED's fatalities, its conservative count: 0 (or empty)
/// is "none reported", which ACLED does not tell from "none", so no
/// figure; any other count is the low and the best estimate (the only
/// figure there is). The inverse of [`export::acled_fatalities`].
pub fn harm_of(fatalities: &str) -> Result<Option<Harm>, String> {
    Ok(count("fatalities", fatalities)?
        .filter(|n| *n > 0)
        .map(|n| Harm {
            fatalities_low: Some(n),
            fatalities_best: Some(n),
            ..Harm::default()
        }))
}

/// A source named in ACLED's source column: social media when the row's
/// source_scale is "New media" alone, else media.
fn source(name: String, scale: &str) -> Source {
    let kind = if scale.trim() == export::NEW_MEDIA {
        SourceKind::SocialMedia
    } else {
        SourceKind::Media
    };
    Source {
        kind: kind.into(),
        publisher: name.clone(),
        identifier: name,
        reliability: SourceReliability::NotAssessed.into(),
        credibility: InformationCredibility::NotAssessed.into(),
        ..Source::default()
    }
}

/// The report of a row (values in [`ACLED_COLUMNS`] order): the inverse
/// of [`export::acled_row`], with every field the daemon requires filled.
pub fn report(row: &[String]) -> Result<Report, String> {
    let event_id = at(row, "event_id_cnty").trim();
    if event_id.is_empty() {
        return Err("event_id_cnty is empty".into());
    }
    let precision = time_precision_of(at(row, "time_precision"))?;
    let start = period_start(date(at(row, "event_date"))?, precision);
    let alleged_perpetrators = parties(&format!(
        "{}; {}",
        at(row, "actor1"),
        at(row, "assoc_actor_1")
    ));
    let attribution = if alleged_perpetrators.is_empty() {
        AttributionStatus::Undetermined
    } else {
        AttributionStatus::Alleged
    };
    let location = Location {
        country: countries::code(at(row, "country"), at(row, "iso"))?,
        admin1: at(row, "admin1").to_owned(),
        admin2: at(row, "admin2").to_owned(),
        admin3: at(row, "admin3").to_owned(),
        place_name: at(row, "location").to_owned(),
        latitude: coordinate("latitude", at(row, "latitude"))?,
        longitude: coordinate("longitude", at(row, "longitude"))?,
        geo_precision: geo_precision_of(at(row, "geo_precision"))?.into(),
        radius_m: None,
    };
    let scale = at(row, "source_scale");
    let sources: Vec<Source> = list(at(row, "source"))
        .map(|name| source(name, scale))
        .collect();
    if sources.is_empty() {
        return Err("source is empty: a report needs at least one source".into());
    }
    let harm = harm_of(at(row, "fatalities"))?;
    let (own_id, tags) = record_id_tag(at(row, "tags"));
    // Our own record exported (no ACLED id of its own): its id, no ACLED id.
    let external_ids = if own_id.as_deref() == Some(event_id) {
        Vec::new()
    } else {
        vec![ExternalId {
            scheme: ExternalIdScheme::Acled.into(),
            value: event_id.to_owned(),
            scheme_name: String::new(),
        }]
    };
    Ok(Report {
        id: own_id.unwrap_or_else(|| report_id(event_id)),
        occurred: Some(TimeInterval {
            start: Some(start),
            end: None,
            precision: precision.into(),
        }),
        location: Some(location),
        event_type: event_type_of(at(row, "sub_event_type")).into(),
        weapon: Weapon::NotAssessed.into(),
        target_class: target_class_of(at(row, "civilian_targeting")).into(),
        interception: Interception::Unknown.into(),
        alleged_perpetrators,
        affected_parties: parties(&format!(
            "{}; {}",
            at(row, "actor2"),
            at(row, "assoc_actor_2")
        )),
        reported_by: REPORTED_BY.into(),
        attribution: attribution.into(),
        harm,
        sources,
        notes: at(row, "notes").to_owned(),
        tags,
        external_ids,
        evidence_status: EvidenceStatus::Unverified.into(),
        ..Report::default()
    })
}

/// Our record id from the `truce_id=` tag `truce export` adds, and the
/// other tags.
fn record_id_tag(tags: &str) -> (Option<String>, Vec<String>) {
    let mut id = None;
    let mut rest = Vec::new();
    for tag in list(tags) {
        match tag.strip_prefix(export::RECORD_ID_TAG) {
            Some(v) if is_id(v) && id.is_none() => id = Some(v.to_owned()),
            _ => rest.push(tag),
        }
    }
    (id, rest)
}

/// The correction paths of the fields behind an ACLED column.
fn paths_of(column: &str) -> &'static [&'static str] {
    match column {
        "event_id_cnty" => &["external_ids"],
        "event_date" | "year" => &["occurred.start"],
        // The start stands for the period the date and precision name.
        "time_precision" => &["occurred.precision", "occurred.start"],
        "disorder_type" | "event_type" | "sub_event_type" => &["event_type"],
        "actor1" | "assoc_actor_1" => &["alleged_perpetrators"],
        "actor2" | "assoc_actor_2" => &["affected_parties"],
        "civilian_targeting" => &["target_class"],
        "country" | "iso" => &["location.country"],
        "admin1" => &["location.admin1"],
        "admin2" => &["location.admin2"],
        "admin3" => &["location.admin3"],
        "location" => &["location.place_name"],
        "latitude" | "longitude" => &["location.latitude", "location.longitude"],
        "geo_precision" => &["location.geo_precision"],
        "notes" => &["notes"],
        "fatalities" => &["harm.fatalities_low", "harm.fatalities_best"],
        "tags" => &["tags"],
        // Sources are attached, not corrected; the rest we do not hold.
        _ => &[],
    }
}

/// What a row revises in the stored report: the correction's paths and
/// values, or None when every column we hold exports the same.
pub fn revision(stored: &ReportView, row: &Report) -> Option<(Vec<String>, Report)> {
    let old = export::acled_row(stored);
    let new = export::acled_row(&ReportView {
        report: Some(row.clone()),
        ..ReportView::default()
    });
    let mut paths: Vec<String> = Vec::new();
    for ((column, a), b) in ACLED_COLUMNS.iter().zip(&old).zip(&new) {
        if a == b {
            continue;
        }
        for p in paths_of(column) {
            if !paths.iter().any(|q| q == p) {
                paths.push((*p).to_owned());
            }
        }
    }
    let has = |paths: &[String], p: &str| paths.iter().any(|q| q == p);
    let current = stored.report.clone().unwrap_or_default();
    let mut values = row.clone();
    let undetermined = |r: &Report| r.attribution() == AttributionStatus::Undetermined;
    if has(&paths, "alleged_perpetrators") && undetermined(&current) != undetermined(row) {
        paths.push("attribution".into());
    }
    // The row's date names a period from its start: a stored end goes
    // with the stored start (and might be before the new one).
    let end = current.occurred.as_ref().and_then(|o| o.end.as_ref());
    if has(&paths, "occurred.start") && end.is_some() {
        paths.push("occurred.end".into());
    }
    // A stored high under the new count (or with none) would leave a
    // range that is invalid or exports another count.
    let high = current.harm.and_then(|h| h.fatalities_high);
    let low = row.harm.and_then(|h| h.fatalities_low);
    if has(&paths, "harm.fatalities_low") && high.is_some() && (low.is_none() || high < low) {
        paths.push("harm.fatalities_high".into());
    }
    if has(&paths, "external_ids") {
        values.external_ids = current
            .external_ids
            .iter()
            .filter(|x| x.scheme() != ExternalIdScheme::Acled)
            .chain(&row.external_ids)
            .cloned()
            .collect();
    }
    (!paths.is_empty()).then_some((paths, values))
}

/// The row's sources whose names the stored report's sources lack.
pub fn missing_sources(stored: &Report, row: &Report) -> Vec<Source> {
    let have: HashSet<&str> = stored
        .sources
        .iter()
        .map(export::acled_source_name)
        .collect();
    row.sources
        .iter()
        .filter(|s| !have.contains(export::acled_source_name(s)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{
        acled_civilian_targeting, acled_geo_precision, acled_row, acled_sub_event,
        acled_time_precision,
    };

    fn row(pairs: &[(&str, &str)]) -> Vec<String> {
        ACLED_COLUMNS
            .iter()
            .map(|c| {
                pairs
                    .iter()
                    .find(|(k, _)| k == c)
                    .map_or("", |(_, v)| v)
                    .to_owned()
            })
            .collect()
    }

    fn sample() -> Vec<String> {
        row(&[
            ("event_id_cnty", "UKR201234"),
            ("event_date", "2025-03-16"),
            ("year", "2025"),
            ("time_precision", "1"),
            ("disorder_type", "Political violence"),
            ("event_type", "Explosions/Remote violence"),
            ("sub_event_type", "Air/drone strike"),
            ("actor1", "Military Forces of Russia (2000-)"),
            ("actor2", "Civilians (Ukraine)"),
            ("civilian_targeting", "Civilian targeting"),
            ("iso", "804"),
            ("country", "Ukraine"),
            ("admin1", "Kharkiv"),
            ("location", "Kharkiv"),
            ("latitude", "49.9935"),
            ("longitude", "36.2304"),
            ("geo_precision", "1"),
            ("source", "Suspilne Media; Ukrainska Pravda"),
            (
                "notes",
                "On 16 March 2025, Russian forces struck Kharkiv with drones.",
            ),
            ("fatalities", "2"),
            ("tags", "casualties reported"),
            ("timestamp", "1742515200"),
        ])
    }

    #[test]
    fn every_forward_mapping_inverts() {
        for t in (0..=17).filter_map(|i| EventType::try_from(i).ok()) {
            for government in [false, true] {
                let (_, sub) = acled_sub_event(t, government);
                let back = acled_sub_event(event_type_of(sub), government);
                assert_eq!(back, acled_sub_event(t, government), "{t:?}");
            }
        }
        for p in (1..=6).filter_map(|i| TimePrecision::try_from(i).ok()) {
            let code = acled_time_precision(p);
            let back = time_precision_of(code).map(acled_time_precision);
            assert_eq!(back, Ok(code), "{p:?}");
        }
        for p in (1..=4).filter_map(|i| GeoPrecision::try_from(i).ok()) {
            let code = acled_geo_precision(p);
            let back = geo_precision_of(code).map(acled_geo_precision);
            assert_eq!(back, Ok(code), "{p:?}");
        }
        for t in (1..=17).filter_map(|i| TargetClass::try_from(i).ok()) {
            let code = acled_civilian_targeting(t);
            assert_eq!(
                acled_civilian_targeting(target_class_of(code)),
                code,
                "{t:?}"
            );
        }
    }

    #[test]
    fn an_acled_row_becomes_a_valid_report() {
        let r = report(&sample()).unwrap();
        assert_eq!(r.id, "acled-UKR201234");
        assert_eq!(r.external_ids[0].scheme(), ExternalIdScheme::Acled);
        assert_eq!(r.external_ids[0].value, "UKR201234");
        let occurred = r.occurred.unwrap();
        assert_eq!(occurred.start.map(|t| t.seconds), Some(1_742_083_200));
        assert_eq!(occurred.precision(), TimePrecision::Day);
        assert!(occurred.end.is_none());
        assert_eq!(r.event_type(), EventType::DroneStrike);
        assert_eq!(r.alleged_perpetrators, ["RU"]);
        assert_eq!(r.affected_parties, ["UA"]);
        assert_eq!(r.attribution(), AttributionStatus::Alleged);
        assert_eq!(r.target_class(), TargetClass::OtherCivilian);
        let loc = r.location.clone().unwrap();
        assert_eq!(loc.country, "UA");
        assert_eq!(
            (loc.latitude, loc.longitude),
            (Some(49.9935), Some(36.2304))
        );
        assert_eq!(loc.geo_precision(), GeoPrecision::Exact);
        assert_eq!(r.sources.len(), 2);
        assert_eq!(r.sources[1].publisher, "Ukrainska Pravda");
        assert_eq!(r.sources[1].identifier, "Ukrainska Pravda");
        assert_eq!(r.sources[1].kind(), SourceKind::Media);
        assert_eq!(r.harm.and_then(|h| h.fatalities_best), Some(2));
        assert_eq!(r.tags, ["casualties reported"]);
        assert_eq!(r.reported_by, "ACLED");
        assert_eq!(r.weapon(), Weapon::NotAssessed);
        assert_eq!(r.interception(), Interception::Unknown);
        assert_eq!(r.evidence_status(), EvidenceStatus::Unverified);
    }

    #[test]
    fn export_then_import_then_export_is_the_same_row() {
        let first = report(&sample()).unwrap();
        let view = |r: &Report| ReportView {
            report: Some(r.clone()),
            ..ReportView::default()
        };
        let exported = acled_row(&view(&first));
        let again = acled_row(&view(&report(&exported).unwrap()));
        assert_eq!(exported, again);
        // ACLED's meanings: actor and country names, the numeric iso.
        assert_eq!(at(&exported, "actor1"), "Military Forces of Russia");
        assert_eq!(at(&exported, "actor2"), "Civilians (Ukraine)");
        assert_eq!(at(&exported, "inter1"), "State forces");
        assert_eq!(at(&exported, "interaction"), "State forces-Civilians");
        assert_eq!(at(&exported, "country"), "Ukraine");
        assert_eq!(at(&exported, "iso"), "804");
        assert_eq!(at(&exported, "civilian_targeting"), "Civilian targeting");
    }

    #[test]
    fn bad_values_are_named() {
        let with = |col: &str, v: &str| {
            let mut r = sample();
            let i = ACLED_COLUMNS.iter().position(|c| *c == col).unwrap();
            r[i] = v.into();
            report(&r).unwrap_err()
        };
        assert!(with("event_date", "2025-02-30").contains("event_date \"2025-02-30\""));
        assert!(with("time_precision", "4").contains("time_precision \"4\""));
        assert!(with("time_precision", "").contains("time_precision"));
        assert!(with("latitude", "north").contains("latitude \"north\""));
        assert!(with("fatalities", "-1").contains("fatalities"));
        assert!(with("source", " ; ").contains("source is empty"));
        assert!(with("event_id_cnty", "").contains("event_id_cnty"));
        assert!(with("geo_precision", "7").contains("geo_precision"));
        let mut r = sample();
        r[15] = "999".into(); // iso
        r[17] = "Atlantis".into(); // country
        assert!(report(&r).unwrap_err().contains("Atlantis"));
        assert_eq!(
            date("16 March 2025").map(|t| t.seconds),
            Ok(1_742_083_200),
            "ACLED's older date form"
        );
    }

    #[test]
    fn ids_and_parties() {
        assert_eq!(report_id("UKR 12/3"), "acled-UKR-12-3");
        let long = report_id(&"x".repeat(200));
        assert!(long.starts_with("acled-") && long.len() == 46, "{long}");
        assert_eq!(party_of("UA").as_deref(), Some("UA"));
        assert_eq!(
            party_of("Military Forces of Ukraine (2019-)").as_deref(),
            Some("UA")
        );
        assert_eq!(
            party_of("Unidentified Armed Group (Ukraine)").as_deref(),
            Some("Unidentified-Armed-Group-Ukraine")
        );
        assert_eq!(party_of(" () "), None);
        assert_eq!(
            parties("RU; Military Forces of Russia (2000-); ; BY"),
            ["RU", "BY"]
        );
    }

    #[test]
    fn header_in_any_order_with_extra_columns() {
        let mut names: Vec<&str> = ACLED_COLUMNS.iter().rev().copied().collect();
        names.push("extra");
        let header = Header::new(&csv::StringRecord::from(names.clone())).unwrap();
        let values: Vec<String> = names.iter().map(|n| format!("v-{n}")).collect();
        let row = header.row(&csv::StringRecord::from(values));
        assert_eq!(at(&row, "notes"), "v-notes");
        assert_eq!(at(&row, "event_id_cnty"), "v-event_id_cnty");
        let err =
            Header::new(&csv::StringRecord::from(vec!["event_id_cnty", "notes"])).unwrap_err();
        assert!(
            err.contains("event_date") && err.contains("fatalities"),
            "{err}"
        );
        assert!(!err.contains("notes"), "{err}");
    }

    #[test]
    fn a_revision_names_only_what_changed_in_acled_terms() {
        let mut stored = report(&sample()).unwrap();
        // Refinements ACLED cannot express stay.
        stored.event_type = EventType::AirStrike.into();
        stored.agreement_ids = vec!["some-agreement".into()];
        stored.harm = Some(Harm {
            fatalities_low: Some(2),
            fatalities_best: Some(3),
            fatalities_high: Some(4),
            injured: Some(4),
        });
        let view = ReportView {
            report: Some(stored.clone()),
            ..ReportView::default()
        };
        assert!(revision(&view, &report(&sample()).unwrap()).is_none());

        let mut revised = sample();
        revised[28] = "5".into(); // fatalities
        revised[27] = "Revised notes.".into(); // notes
        revised[7] = String::new(); // actor1
        let row = report(&revised).unwrap();
        let (paths, values) = revision(&view, &row).unwrap();
        assert_eq!(
            paths,
            [
                "alleged_perpetrators",
                "notes",
                "harm.fatalities_low",
                "harm.fatalities_best",
                "attribution",
                "harm.fatalities_high"
            ]
        );
        assert_eq!(values.attribution(), AttributionStatus::Undetermined);
        let harm = values.harm.unwrap_or_default();
        assert_eq!(
            (harm.fatalities_low, harm.fatalities_best),
            (Some(5), Some(5))
        );
        assert_eq!(harm.fatalities_high, None, "4 is under the new count");
    }

    #[test]
    fn fatalities_are_a_conservative_count_with_0_for_none_reported() {
        assert_eq!(harm_of("0"), Ok(None), "0: none reported");
        assert_eq!(harm_of(""), Ok(None));
        let three = harm_of("3").unwrap().unwrap_or_default();
        assert_eq!(
            (three.fatalities_low, three.fatalities_best),
            (Some(3), Some(3))
        );
        assert_eq!(three.fatalities_high, None);
        for f in ["0", "3"] {
            let mut r = sample();
            r[28] = f.into();
            let view = ReportView {
                report: Some(report(&r).unwrap()),
                ..ReportView::default()
            };
            assert_eq!(at(&acled_row(&view), "fatalities"), f);
        }
    }

    #[test]
    fn week_and_month_dates_are_the_middle_of_a_period_read_back_as_its_start() {
        let day = |s: &str| date(s).unwrap();
        let week = period_start(day("2025-03-18"), TimePrecision::Week);
        assert_eq!(week, day("2025-03-15"));
        let month = period_start(day("2025-02-15"), TimePrecision::Month);
        assert_eq!(month, day("2025-02-01"));
        assert_eq!(
            period_start(day("2025-03-18"), TimePrecision::Day),
            day("2025-03-18")
        );
        for (date, precision) in [
            ("2025-03-18", "2"),
            ("2025-02-15", "3"),
            ("2025-01-01", "1"),
        ] {
            let mut r = sample();
            r[1] = date.into();
            r[3] = precision.into();
            let back = acled_row(&ReportView {
                report: Some(report(&r).unwrap()),
                ..ReportView::default()
            });
            assert_eq!(
                (at(&back, "event_date"), at(&back, "time_precision")),
                (date, precision)
            );
        }
    }

    #[test]
    fn a_new_media_scale_is_read_as_social_media_and_written_back() {
        let mut r = sample();
        r[26] = "New media".into();
        let read = report(&r).unwrap();
        assert!(
            read.sources
                .iter()
                .all(|s| s.kind() == SourceKind::SocialMedia)
        );
        let view = ReportView {
            report: Some(read),
            ..ReportView::default()
        };
        assert_eq!(at(&acled_row(&view), "source_scale"), "New media");
        assert_eq!(
            report(&sample()).unwrap().sources[0].kind(),
            SourceKind::Media
        );
    }

    #[test]
    fn sources_missing_by_name() {
        let stored = report(&sample()).unwrap();
        let mut revised = sample();
        revised[25] = "Ukrainska Pravda; Kyiv Independent".into();
        let missing = missing_sources(&stored, &report(&revised).unwrap());
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].publisher, "Kyiv Independent");
    }
}
