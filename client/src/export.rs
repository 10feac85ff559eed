//! Data for the tools analysts already use: report views as JSON Lines
//! (proto3 JSON, each with the entries behind it, so that `truce import`
//! can send them again as they were), a GeoJSON FeatureCollection of report
//! points, and CSV with ACLED's columns. Pure functions over views and
//! entries (and [`entries_of`], which reads a view's entries); the CLI
//! streams them.

use geojson::{Feature, FeatureCollection, Geometry, JsonObject, Value, feature::Id};
use truce_proto::v1::{
    Entry, EventType, ExternalIdScheme, GeoPrecision, Report, ReportView, Source, TargetClass,
    TimePrecision,
};

use crate::{
    Client, ClientError,
    import::{acled, countries, jsonl::ENTRIES_KEY},
    time,
};

/// The entries behind a view (its history), in log order, as stored.
pub async fn entries_of(client: &Client, view: &ReportView) -> Result<Vec<Entry>, ClientError> {
    let mut out = Vec::with_capacity(view.history.len());
    for item in &view.history {
        let entry = client
            .get_entry(item.sequence)
            .await?
            .entry
            .ok_or_else(|| {
                ClientError::Request(format!("entry {} came back empty", item.sequence))
            })?;
        out.push(entry);
    }
    Ok(out)
}

/// One JSON Lines line of `truce export --format jsonl`: the view in proto3
/// JSON with its entries under `"entries"`.
pub fn jsonl_line(view: &ReportView, entries: &[Entry]) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(view)?;
    if let Some(object) = value.as_object_mut() {
        object.insert(ENTRIES_KEY.to_owned(), serde_json::to_value(entries)?);
    }
    serde_json::to_string(&value)
}

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

/// ACLED (disorder type, event type, sub-event type) of our event type.
pub fn acled_event(t: EventType) -> (&'static str, &'static str, &'static str) {
    use EventType as E;
    const PV: &str = "Political violence";
    const EXP: &str = "Explosions/Remote violence";
    match t {
        E::AirStrike | E::DroneStrike => (PV, EXP, "Air/drone strike"),
        E::Shelling | E::MissileAttack => (PV, EXP, "Shelling/artillery/missile attack"),
        E::RemoteExplosive => (PV, EXP, "Remote explosive/landmine/IED"),
        E::Grenade => (PV, EXP, "Grenade"),
        E::ArmedClash => (PV, "Battles", "Armed clash"),
        E::TerritorySeized => (PV, "Battles", "Non-state actor overtakes territory"),
        E::AttackOnCivilians => (PV, "Violence against civilians", "Attack"),
        E::Abduction => (
            PV,
            "Violence against civilians",
            "Abduction/forced disappearance",
        ),
        E::InterceptedStrike => (
            "Strategic developments",
            "Strategic developments",
            "Disrupted weapons use",
        ),
        _ => ("Strategic developments", "Strategic developments", "Other"),
    }
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

/// The name of a source in ACLED's source column: its publisher, else its
/// URL, else its identifier.
pub fn acled_source_name(s: &Source) -> &str {
    [&s.publisher, &s.url, &s.identifier]
        .into_iter()
        .find(|v| !v.is_empty())
        .map_or("", String::as_str)
}

fn date(r: &Report) -> (String, String) {
    let start = time::format(r.occurred.as_ref().and_then(|o| o.start.as_ref()));
    let day = start.get(..10).unwrap_or("").to_owned();
    let year = start.get(..4).unwrap_or("").to_owned();
    (day, year)
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
        "Violence against civilians" => "Civilian targeting",
        "Explosions/Remote violence" => acled_civilian_targeting(t),
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
    if !r.id.is_empty() && acled::report_id(&event_id) != r.id {
        tags.push(format!("{RECORD_ID_TAG}{}", r.id));
    }
    (event_id, tags.join("; "))
}

/// One ACLED CSV row of a report view, in ACLED's meanings
/// (docs/acled.md).
pub fn acled_row(view: &ReportView) -> Vec<String> {
    let r = view.report.clone().unwrap_or_default();
    let loc = r.location.clone().unwrap_or_default();
    let (day, year) = date(&r);
    let (disorder, event_type, sub_event) = acled_event(r.event_type());
    let targeting = civilian_targeting(event_type, r.target_class());
    let (event_id, tags) = ids_and_tags(&r);
    let (actor1, assoc1, inter1) = actors(&r.alleged_perpetrators, false);
    let (actor2, assoc2, inter2) = actors(&r.affected_parties, !targeting.is_empty());
    let sources: Vec<&str> = r.sources.iter().map(acled_source_name).collect();
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let values: [(&str, String); 30] = [
        ("event_id_cnty", event_id),
        ("event_date", day),
        ("year", year),
        (
            "time_precision",
            acled_time_precision(r.occurred.unwrap_or_default().precision()).into(),
        ),
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
        (
            "iso",
            countries::numeric_of(&loc.country).map_or(String::new(), |n| n.to_string()),
        ),
        (
            "country",
            countries::name_of(&loc.country).map_or_else(|| loc.country.clone(), str::to_owned),
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
        ("source", sources.join("; ")),
        ("notes", r.notes.clone()),
        (
            "fatalities",
            r.harm
                .and_then(|h| h.fatalities_best)
                .map_or(String::new(), |f| f.to_string()),
        ),
        ("tags", tags),
        ("timestamp", last_change(view)),
        ("region", String::new()),
    ];
    let mut row = vec![String::new(); ACLED_COLUMNS.len()];
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
    let mut w = csv::Writer::from_writer(out);
    w.write_record(ACLED_COLUMNS)?;
    for v in views {
        w.write_record(acled_row(v))?;
    }
    w.flush()?;
    Ok(())
}

/// A GeoJSON feature of a report (null geometry without coordinates).
pub fn feature(view: &ReportView) -> Feature {
    let r = view.report.clone().unwrap_or_default();
    let loc = r.location.clone().unwrap_or_default();
    let mut props = JsonObject::new();
    let mut put = |k: &str, v: serde_json::Value| {
        props.insert(k.to_owned(), v);
    };
    put("id", r.id.clone().into());
    put(
        "occurred_start",
        time::format(r.occurred.as_ref().and_then(|o| o.start.as_ref())).into(),
    );
    put("event_type", r.event_type().as_str_name().into());
    put("target_class", r.target_class().as_str_name().into());
    put(
        "alleged_perpetrators",
        r.alleged_perpetrators.clone().into(),
    );
    put("reported_by", r.reported_by.clone().into());
    put("evidence_status", r.evidence_status().as_str_name().into());
    put("country", loc.country.clone().into());
    put("admin1", loc.admin1.clone().into());
    put("place_name", loc.place_name.clone().into());
    put("agreement_ids", r.agreement_ids.clone().into());
    put(
        "fatalities_best",
        r.harm
            .and_then(|h| h.fatalities_best)
            .map_or(serde_json::Value::Null, Into::into),
    );
    put("claims", view.claims.len().into());
    let geometry = match (loc.latitude, loc.longitude) {
        (Some(lat), Some(lon)) => Some(Geometry::new(Value::Point(vec![lon, lat]))),
        _ => None,
    };
    Feature {
        bbox: None,
        geometry,
        id: Some(Id::String(r.id)),
        properties: Some(props),
        foreign_members: None,
    }
}

/// A FeatureCollection of report views.
pub fn feature_collection(views: &[ReportView]) -> FeatureCollection {
    FeatureCollection {
        bbox: None,
        features: views.iter().map(feature).collect(),
        foreign_members: None,
    }
}
