//! ACLED CSV rows of report views, in ACLED's meanings (docs/acled.md):
//! ACLED's 31 columns in order, its event and sub-event types with the
//! disorder type its rule gives them, actor names and kinds, country
//! names, numeric codes and regions, the middle of a week or month as the
//! event date, and the conservative fatality count. Pure functions;
//! the command line's `import::acled` reads the rows back.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use pbjson_types::Timestamp;
use truce_proto::v1::{
    EventType, ExternalIdScheme, GeoPrecision, Harm, Report, ReportView, Source, SourceKind,
    TargetClass, TimeInterval, TimePrecision,
};

use crate::{countries, ids};

/// ACLED's CSV columns, in order.
pub const ACLED_COLUMNS: [&str; 31] = [
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
];

const BATTLES: &str = "Battles";
const EXPLOSIONS: &str = "Explosions/Remote violence";
const VIOLENCE: &str = "Violence against civilians";
const STRATEGIC: &str = "Strategic developments";

/// ACLED's (event type, sub-event type) of our event type. `government`
/// says whether the first alleged perpetrator is the state forces of the
/// country it happened in: territory they take is "Government regains
/// territory", anyone else's (a foreign state's too) "Non-state actor
/// overtakes territory". Breaches without a strike or a clash are
/// ACLED's "Strategic developments: Other".
pub fn acled_sub_event(t: EventType, government: bool) -> (&'static str, &'static str) {
    use EventType as E;
    match t {
        E::AirStrike | E::DroneStrike => (EXPLOSIONS, "Air/drone strike"),
        E::Shelling | E::MissileAttack => (EXPLOSIONS, "Shelling/artillery/missile attack"),
        E::RemoteExplosive => (EXPLOSIONS, "Remote explosive/landmine/IED"),
        E::Grenade => (EXPLOSIONS, "Grenade"),
        E::ArmedClash => (BATTLES, "Armed clash"),
        E::TerritorySeized if government => (BATTLES, "Government regains territory"),
        E::TerritorySeized => (BATTLES, "Non-state actor overtakes territory"),
        E::AttackOnCivilians => (VIOLENCE, "Attack"),
        E::Abduction => (VIOLENCE, "Abduction/forced disappearance"),
        E::InterceptedStrike => (STRATEGIC, "Disrupted weapons use"),
        _ => (STRATEGIC, "Other"),
    }
}

/// ACLED's disorder type of an (event type, sub-event type) pair:
/// battles, explosions/remote violence and violence against civilians
/// are political violence; protests and violent demonstrations are
/// demonstrations; mob violence is political violence; excessive force
/// against protesters is both; strategic developments are themselves.
pub fn acled_disorder_type(event_type: &str, sub_event_type: &str) -> &'static str {
    const PV: &str = "Political violence";
    const DEM: &str = "Demonstrations";
    match (event_type, sub_event_type) {
        (BATTLES | EXPLOSIONS | VIOLENCE, _) => PV,
        ("Protests", "Excessive force against protesters") => "Political violence; Demonstrations",
        ("Protests", _) | ("Riots", "Violent demonstration") => DEM,
        ("Riots", _) => PV,
        _ => STRATEGIC,
    }
}

/// Whether a report's first alleged perpetrator is the state of the
/// country where it happened (a party code is a country's alpha-2 code).
fn by_the_government(r: &Report) -> bool {
    let country = r.location.as_ref().map_or("", |l| l.country.as_str());
    !country.is_empty() && r.alleged_perpetrators.first().map(String::as_str) == Some(country)
}

/// ACLED's (disorder type, event type, sub-event type) of a report.
pub fn acled_event(r: &Report) -> (&'static str, &'static str, &'static str) {
    let (event, sub) = acled_sub_event(r.event_type(), by_the_government(r));
    (acled_disorder_type(event, sub), event, sub)
}

/// ACLED time_precision: 1 day, 2 week, 3 month (or coarser).
pub fn acled_time_precision(p: TimePrecision) -> &'static str {
    match p {
        TimePrecision::Exact | TimePrecision::Hour | TimePrecision::Day => "1",
        TimePrecision::Week => "2",
        TimePrecision::Month | TimePrecision::Year => "3",
        TimePrecision::Unspecified => "",
    }
}

fn utc(t: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::try_from(*t).ok()
}

/// The last second of the calendar month (or, with `year`, the calendar
/// year) that holds `t`.
fn end_of_period(t: DateTime<Utc>, year: bool) -> Option<DateTime<Utc>> {
    let (y, m) = if year || t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    let next = NaiveDate::from_ymd_opt(y, m, 1)?
        .and_hms_opt(0, 0, 0)?
        .and_utc();
    Some(next - Duration::seconds(1))
}

/// The day ACLED gives an event: the day it started; for a week, the
/// middle of the week (of `occurred` when it has an end, else of the seven
/// days from its start); for a month (or a year, which ACLED can only
/// give as a month), the 15th of the month that holds the middle of the
/// period (`occurred`, else the calendar month or year of its start).
pub fn acled_date(o: &TimeInterval) -> Option<NaiveDate> {
    let start = utc(o.start.as_ref()?)?;
    let end = o.end.as_ref().and_then(utc).filter(|e| *e >= start);
    let middle = |end: DateTime<Utc>| start + (end - start) / 2;
    match o.precision() {
        TimePrecision::Week => {
            let end = end.unwrap_or(start + Duration::days(7) - Duration::seconds(1));
            Some(middle(end).date_naive())
        }
        p @ (TimePrecision::Month | TimePrecision::Year) => {
            let end = end.or_else(|| end_of_period(start, p == TimePrecision::Year))?;
            middle(end).date_naive().with_day(15)
        }
        _ => Some(start.date_naive()),
    }
}

/// ACLED geo_precision: 1 the place, 2 near it, 3 the region.
pub fn acled_geo_precision(p: GeoPrecision) -> &'static str {
    match p {
        GeoPrecision::Exact => "1",
        GeoPrecision::Near => "2",
        GeoPrecision::Region | GeoPrecision::Unknown => "3",
        GeoPrecision::Unspecified => "",
    }
}

/// ACLED civilian_targeting: "Civilian targeting" when civilians (homes,
/// hospitals, schools, aid) were the target, else empty.
pub fn acled_civilian_targeting(t: TargetClass) -> &'static str {
    use TargetClass as T;
    match t {
        T::Residential | T::Health | T::Education | T::Humanitarian | T::OtherCivilian => {
            "Civilian targeting"
        }
        _ => "",
    }
}

/// ACLED's fatalities: its conservative count, the lowest figure held
/// (low, else best, else high), and 0 when none was reported.
pub fn acled_fatalities(h: Option<&Harm>) -> String {
    h.and_then(|h| {
        [h.fatalities_low, h.fatalities_best, h.fatalities_high]
            .into_iter()
            .flatten()
            .min()
    })
    .unwrap_or(0)
    .to_string()
}

/// ACLED's source_scale: "New media" when every source is social media;
/// empty otherwise, since a source's kind does not say its geographic
/// reach (local, national, international), which is what the other
/// scales mean (docs/acled.md).
pub fn acled_source_scale(sources: &[Source]) -> &'static str {
    if !sources.is_empty() && sources.iter().all(|s| s.kind() == SourceKind::SocialMedia) {
        NEW_MEDIA
    } else {
        ""
    }
}

/// ACLED's source_scale of social media.
pub const NEW_MEDIA: &str = "New media";

/// The name of a source in ACLED's source column: its publisher, else its
/// URL, else its identifier.
pub fn acled_source_name(s: &Source) -> &str {
    [&s.publisher, &s.url, &s.identifier]
        .into_iter()
        .find(|v| !v.is_empty())
        .map_or("", String::as_str)
}

/// The tag that carries our record id through ACLED's `tags` column when
/// `event_id_cnty` alone would not give it back (`truce_id=<id>`).
pub const RECORD_ID_TAG: &str = "truce_id=";

/// ACLED's actor name of a party code: a country's forces ("Military
/// Forces of Ukraine") or its civilians ("Civilians (Ukraine)"), any other
/// code as is; `import::acled::party_of` reads each back to the code.
pub fn acled_actor(code: &str, civilians: bool) -> String {
    match countries::name_of(code) {
        Some(name) if civilians => format!("Civilians ({name})"),
        Some(name) => format!("Military Forces of {name}"),
        None => code.to_owned(),
    }
}

/// ACLED's inter code (the actor's kind) of a party code: a country's
/// forces are "State forces", its civilians "Civilians", any other party
/// an organised armed group, "Political militia" (ACLED's code for
/// unidentified armed groups); empty without an actor.
pub fn acled_inter(code: Option<&str>, civilians: bool) -> &'static str {
    match code {
        None => "",
        Some(_) if civilians => "Civilians",
        Some(c) if countries::name_of(c).is_some() => "State forces",
        Some(_) => "Political militia",
    }
}

/// ACLED's interaction: "<inter1>-<inter2>", or "<inter1> only".
pub fn acled_interaction(inter1: &str, inter2: &str) -> String {
    match (inter1, inter2) {
        ("", _) => String::new(),
        (a, "") => format!("{a} only"),
        (a, b) => format!("{a}-{b}"),
    }
}

/// Whether ACLED would flag civilian targeting: always for violence
/// against civilians; for explosions/remote violence when civilians were
/// the target; never for battles or strategic developments.
fn civilian_targeting(event_type: &str, t: TargetClass) -> &'static str {
    match event_type {
        VIOLENCE => "Civilian targeting",
        EXPLOSIONS => acled_civilian_targeting(t),
        _ => "",
    }
}

/// Unix seconds of the record's last change (its last history entry).
fn last_change(view: &ReportView) -> String {
    view.history
        .last()
        .and_then(|h| h.recorded_at)
        .or_else(|| view.created.as_ref().and_then(|c| c.recorded_at))
        .map_or(String::new(), |t| t.seconds.to_string())
}

/// The actor columns (actor, assoc_actor, inter) of a list of parties:
/// the first is the actor, the others its associated actors.
fn actors(parties: &[String], civilians: bool) -> (String, String, &'static str) {
    let names: Vec<String> = parties.iter().map(|p| acled_actor(p, civilians)).collect();
    let inter = acled_inter(parties.first().map(String::as_str), civilians);
    let first = names.first().cloned().unwrap_or_default();
    (first, names.get(1..).unwrap_or(&[]).join("; "), inter)
}

/// `event_id_cnty` (the ACLED id, else our id) and the tags, with our
/// record id as a tag when the import would not derive it from the former.
fn ids_and_tags(r: &Report) -> (String, String) {
    let event_id = r
        .external_ids
        .iter()
        .find(|x| x.scheme() == ExternalIdScheme::Acled)
        .map_or_else(|| r.id.clone(), |x| x.value.clone());
    let mut tags = r.tags.clone();
    if !r.id.is_empty() && ids::report_id(&event_id) != r.id {
        tags.push(format!("{RECORD_ID_TAG}{}", r.id));
    }
    (event_id, tags.join("; "))
}

/// The date columns: event_date, year, time_precision.
fn date_columns(r: &Report) -> [(&'static str, String); 3] {
    let occurred = r.occurred.unwrap_or_default();
    let day = acled_date(&occurred);
    [
        ("event_date", day.map_or(String::new(), |d| d.to_string())),
        ("year", day.map_or(String::new(), |d| d.year().to_string())),
        (
            "time_precision",
            acled_time_precision(occurred.precision()).into(),
        ),
    ]
}

/// The place columns: iso, region, country, admin1–3, location,
/// latitude, longitude, geo_precision.
fn place_columns(r: &Report) -> [(&'static str, String); 10] {
    let loc = r.location.clone().unwrap_or_default();
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let code = loc.country.as_str();
    [
        (
            "iso",
            countries::numeric_of(code).map_or(String::new(), |n| n.to_string()),
        ),
        ("region", countries::region_of(code).unwrap_or("").into()),
        (
            "country",
            countries::name_of(code).map_or_else(|| code.to_owned(), str::to_owned),
        ),
        ("admin1", loc.admin1.clone()),
        ("admin2", loc.admin2.clone()),
        ("admin3", loc.admin3.clone()),
        ("location", loc.place_name.clone()),
        ("latitude", opt(loc.latitude)),
        ("longitude", opt(loc.longitude)),
        (
            "geo_precision",
            acled_geo_precision(loc.geo_precision()).into(),
        ),
    ]
}

/// The event and actor columns: disorder_type to civilian_targeting.
fn event_columns(r: &Report) -> [(&'static str, String); 11] {
    let (disorder, event_type, sub_event) = acled_event(r);
    let targeting = civilian_targeting(event_type, r.target_class());
    let (actor1, assoc1, inter1) = actors(&r.alleged_perpetrators, false);
    let (actor2, assoc2, inter2) = actors(&r.affected_parties, !targeting.is_empty());
    [
        ("disorder_type", disorder.into()),
        ("event_type", event_type.into()),
        ("sub_event_type", sub_event.into()),
        ("actor1", actor1),
        ("assoc_actor_1", assoc1),
        ("inter1", inter1.into()),
        ("actor2", actor2),
        ("assoc_actor_2", assoc2),
        ("inter2", inter2.into()),
        ("interaction", acled_interaction(inter1, inter2)),
        ("civilian_targeting", targeting.into()),
    ]
}

/// One ACLED CSV row of a report view, in ACLED's meanings
/// (docs/acled.md).
pub fn acled_row(view: &ReportView) -> Vec<String> {
    let r = view.report.clone().unwrap_or_default();
    let (event_id, tags) = ids_and_tags(&r);
    let sources: Vec<&str> = r.sources.iter().map(acled_source_name).collect();
    let rest: [(&str, String); 7] = [
        ("event_id_cnty", event_id),
        ("source", sources.join("; ")),
        ("source_scale", acled_source_scale(&r.sources).into()),
        ("notes", r.notes.clone()),
        ("fatalities", acled_fatalities(r.harm.as_ref())),
        ("tags", tags),
        ("timestamp", last_change(view)),
    ];
    let mut row = vec![String::new(); ACLED_COLUMNS.len()];
    let values = date_columns(&r)
        .into_iter()
        .chain(event_columns(&r))
        .chain(place_columns(&r))
        .chain(rest);
    for (col, value) in values {
        if let Some(i) = ACLED_COLUMNS.iter().position(|c| *c == col) {
            row[i] = value;
        }
    }
    row
}

/// Writes ACLED CSV: the header row, then one row per view (what
/// `truce export --format acled-csv` writes).
pub fn write_acled_csv<W: std::io::Write>(out: W, views: &[ReportView]) -> Result<(), csv::Error> {
    write_acled(out, views, true)
}

/// Writes the rows of `views` in ACLED CSV, after the header row when
/// `header` (the web view streams a long export page by page: the header
/// with the first page only).
pub fn write_acled(
    out: impl std::io::Write,
    views: &[ReportView],
    header: bool,
) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    if header {
        w.write_record(ACLED_COLUMNS)?;
    }
    for v in views {
        w.write_record(acled_row(v))?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_proto::v1::Location;

    /// ACLED's codebook: its 6 event types, each with its sub-event types
    /// (25 in all), and the disorder type of each pair.
    const CODEBOOK: [(&str, &[(&str, &str)]); 6] = [
        (
            "Battles",
            &[
                ("Armed clash", "Political violence"),
                ("Government regains territory", "Political violence"),
                ("Non-state actor overtakes territory", "Political violence"),
            ],
        ),
        (
            "Explosions/Remote violence",
            &[
                ("Chemical weapon", "Political violence"),
                ("Air/drone strike", "Political violence"),
                ("Suicide bomb", "Political violence"),
                ("Shelling/artillery/missile attack", "Political violence"),
                ("Remote explosive/landmine/IED", "Political violence"),
                ("Grenade", "Political violence"),
            ],
        ),
        (
            "Violence against civilians",
            &[
                ("Sexual violence", "Political violence"),
                ("Attack", "Political violence"),
                ("Abduction/forced disappearance", "Political violence"),
            ],
        ),
        (
            "Protests",
            &[
                ("Peaceful protest", "Demonstrations"),
                ("Protest with intervention", "Demonstrations"),
                (
                    "Excessive force against protesters",
                    "Political violence; Demonstrations",
                ),
            ],
        ),
        (
            "Riots",
            &[
                ("Violent demonstration", "Demonstrations"),
                ("Mob violence", "Political violence"),
            ],
        ),
        (
            "Strategic developments",
            &[
                ("Agreement", "Strategic developments"),
                ("Arrests", "Strategic developments"),
                ("Change to group/activity", "Strategic developments"),
                ("Disrupted weapons use", "Strategic developments"),
                ("Headquarters or base established", "Strategic developments"),
                ("Looting/property destruction", "Strategic developments"),
                (
                    "Non-violent transfer of territory",
                    "Strategic developments",
                ),
                ("Other", "Strategic developments"),
            ],
        ),
    ];

    fn codebook_disorder(event: &str, sub: &str) -> Option<&'static str> {
        CODEBOOK
            .iter()
            .filter(|(e, _)| *e == event)
            .flat_map(|(_, subs)| subs.iter())
            .find(|(s, _)| *s == sub)
            .map(|(_, d)| *d)
    }

    fn report(t: EventType, perpetrator: &str, country: &str) -> Report {
        Report {
            event_type: t.into(),
            alleged_perpetrators: vec![perpetrator.into()],
            location: Some(Location {
                country: country.into(),
                ..Location::default()
            }),
            ..Report::default()
        }
    }

    #[test]
    fn the_header_is_acled_s_31_columns_in_order() {
        let acled = "event_id_cnty,event_date,year,time_precision,disorder_type,\
            event_type,sub_event_type,actor1,assoc_actor_1,inter1,actor2,assoc_actor_2,\
            inter2,interaction,civilian_targeting,iso,region,country,admin1,admin2,admin3,\
            location,latitude,longitude,geo_precision,source,source_scale,notes,fatalities,\
            tags,timestamp";
        let mut out = Vec::new();
        write_acled_csv(&mut out, &[]).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out).trim_end(), acled);
        assert_eq!(acled.split(',').count(), 31);
        let pairs: usize = CODEBOOK.iter().map(|(_, subs)| subs.len()).sum();
        assert_eq!(pairs, 25, "the test's codebook");
    }

    #[test]
    fn every_exported_pair_is_acled_s_with_its_disorder_type() {
        let mut seen = Vec::new();
        for t in (0..=17).filter_map(|i| EventType::try_from(i).ok()) {
            for (perpetrator, country) in [("UA", "UA"), ("RU", "UA"), ("Wagner", "SY")] {
                let (disorder, event, sub) = acled_event(&report(t, perpetrator, country));
                let want = codebook_disorder(event, sub);
                assert!(
                    want.is_some(),
                    "{t:?}: {event} / {sub} is not in the codebook"
                );
                assert_eq!(Some(disorder), want, "{t:?}: {event} / {sub}");
                seen.push(sub);
            }
        }
        assert!(
            seen.contains(&"Government regains territory"),
            "not vacuous"
        );
        // ACLED's rule for pairs Truce does not export.
        for (event, subs) in CODEBOOK {
            for (sub, disorder) in subs {
                assert_eq!(acled_disorder_type(event, sub), *disorder, "{sub}");
            }
        }
    }

    #[test]
    fn territory_is_regained_only_by_the_country_s_own_forces() {
        let sub = |p: &str, c: &str| acled_event(&report(EventType::TerritorySeized, p, c)).2;
        assert_eq!(sub("UA", "UA"), "Government regains territory");
        assert_eq!(sub("RU", "UA"), "Non-state actor overtakes territory");
        assert_eq!(sub("Wagner", "SY"), "Non-state actor overtakes territory");
        assert_eq!(sub("", ""), "Non-state actor overtakes territory");
    }

    fn at(s: &str) -> Option<Timestamp> {
        Some(Timestamp {
            seconds: crate::time::parse(s).map_or(0, |t| t.seconds),
            nanos: 0,
        })
    }

    fn interval(start: &str, end: Option<&str>, p: TimePrecision) -> TimeInterval {
        TimeInterval {
            start: at(start),
            end: end.and_then(at),
            precision: p.into(),
        }
    }

    #[test]
    fn a_week_or_a_month_is_given_as_its_middle() {
        use TimePrecision as P;
        let cases = [
            (interval("2025-03-15", None, P::Week), "2025-03-18"),
            (
                interval("2025-03-10", Some("2025-03-16T23:59:59Z"), P::Week),
                "2025-03-13",
            ),
            (interval("2024-12-30", None, P::Week), "2025-01-02"),
            (interval("2025-02-01", None, P::Month), "2025-02-15"),
            (interval("2025-02-20", None, P::Month), "2025-02-15"),
            (
                interval("2025-03-01", Some("2025-03-31T23:59:59Z"), P::Month),
                "2025-03-15",
            ),
            (interval("2025-01-01", None, P::Year), "2025-07-15"),
            (interval("2025-03-19T17:00:00Z", None, P::Day), "2025-03-19"),
            (
                interval("2025-03-19", Some("2025-03-19T23:59:59Z"), P::Exact),
                "2025-03-19",
            ),
        ];
        for (o, want) in cases {
            let got = acled_date(&o).map(|d| d.to_string());
            assert_eq!(got.as_deref(), Some(want), "{o:?}");
        }
        let view = ReportView {
            report: Some(Report {
                occurred: Some(interval("2024-12-30", None, P::Week)),
                ..Report::default()
            }),
            ..ReportView::default()
        };
        let row = acled_row(&view);
        assert_eq!(
            (row[1].as_str(), row[2].as_str(), row[3].as_str()),
            ("2025-01-02", "2025", "2")
        );
    }

    #[test]
    fn fatalities_are_the_lowest_figure_and_0_when_none_is_reported() {
        let harm = |low, best, high| Harm {
            fatalities_low: low,
            fatalities_best: best,
            fatalities_high: high,
            injured: Some(7),
        };
        assert_eq!(acled_fatalities(None), "0");
        assert_eq!(acled_fatalities(Some(&harm(None, None, None))), "0");
        assert_eq!(
            acled_fatalities(Some(&harm(Some(1), Some(2), Some(9)))),
            "1"
        );
        assert_eq!(acled_fatalities(Some(&harm(None, Some(3), Some(9)))), "3");
        assert_eq!(acled_fatalities(Some(&harm(None, None, Some(10)))), "10");
    }

    #[test]
    fn region_from_the_country_and_source_scale_from_social_media_only() {
        let row = |country: &str, kinds: &[SourceKind]| {
            let sources = kinds
                .iter()
                .map(|k| Source {
                    kind: (*k).into(),
                    ..Source::default()
                })
                .collect();
            let r = Report {
                location: Some(Location {
                    country: country.into(),
                    ..Location::default()
                }),
                sources,
                ..Report::default()
            };
            let row = acled_row(&ReportView {
                report: Some(r),
                ..ReportView::default()
            });
            (row[16].clone(), row[26].clone())
        };
        use SourceKind as K;
        assert_eq!(row("UA", &[K::Media]), ("Europe".into(), String::new()));
        assert_eq!(row("AZ", &[K::SocialMedia]).0, "Caucasus and Central Asia");
        assert_eq!(
            row("SY", &[K::SocialMedia, K::SocialMedia]),
            ("Middle East".into(), "New media".into())
        );
        assert_eq!(
            row("XX", &[K::SocialMedia, K::Monitor]),
            (String::new(), String::new())
        );
        assert_eq!(row("UA", &[]).1, "");
    }
}
