//! Rules for the building blocks records share: sources, external ids,
//! locations and geographic areas.

use truce_proto::v1::{
    BoundingBox, ExternalId, ExternalIdScheme, GeoArea, GeoPrecision, InformationCredibility,
    Location, Source, SourceKind, SourceReliability,
};

use super::{
    fields::{self, LIST_MAX, POLYGON_MAX, SHORT_MAX, SOURCES_MAX, invalid},
    path::Field,
};
use crate::error::Error;

/// A list of sources: at most 64; at least one when `required`.
pub fn sources<'f>(
    field: impl Into<Field<'f>>,
    sources: &[Source],
    required: bool,
) -> Result<(), Error> {
    let field: Field = field.into();
    if required && sources.is_empty() {
        return Err(invalid(field, "needs at least one source"));
    }
    fields::list(field, sources, SOURCES_MAX)?;
    for (i, s) in sources.iter().enumerate() {
        source(field.item(i), s)?;
    }
    Ok(())
}

/// One source.
pub fn source(field: Field<'_>, s: &Source) -> Result<(), Error> {
    fields::enum_value::<SourceKind>(field.child("kind"), s.kind)?;
    if s.url.is_empty() && s.identifier.is_empty() {
        return Err(invalid(
            field.child("url"),
            "is required unless identifier is given",
        ));
    }
    fields::url(field.child("url"), &s.url, false)?;
    for (name, value) in [
        ("identifier", &s.identifier),
        ("publisher", &s.publisher),
        ("title", &s.title),
    ] {
        fields::text(field.child(name), value, SHORT_MAX, false)?;
    }
    fields::optional_timestamp(field.child("published_at"), s.published_at.as_ref())?;
    fields::language(field.child("language"), &s.language)?;
    fields::url(field.child("original_url"), &s.original_url, false)?;
    fields::text(
        field.child("original_publisher"),
        &s.original_publisher,
        SHORT_MAX,
        false,
    )?;
    fields::party(
        field.child("party_affiliation"),
        &s.party_affiliation,
        false,
    )?;
    fields::enum_value::<SourceReliability>(field.child("reliability"), s.reliability)?;
    fields::enum_value::<InformationCredibility>(field.child("credibility"), s.credibility)?;
    if let Some(c) = &s.capture {
        let f = field.child("capture");
        fields::sha256_hex(f.child("sha256"), &c.sha256, true)?;
        fields::required_timestamp(f.child("captured_at"), c.captured_at.as_ref())?;
        fields::url(f.child("archive_url"), &c.archive_url, false)?;
    }
    Ok(())
}

/// External ids: a known scheme and a value each.
pub fn external_ids(field: &str, ids: &[ExternalId]) -> Result<(), Error> {
    fields::list(field, ids, LIST_MAX)?;
    for (i, x) in ids.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let scheme = fields::enum_value::<ExternalIdScheme>(&format!("{f}.scheme"), x.scheme)?;
        fields::text(&format!("{f}.value"), &x.value, fields::ID_MAX, true)?;
        fields::text(
            &format!("{f}.scheme_name"),
            &x.scheme_name,
            fields::ID_MAX,
            scheme == ExternalIdScheme::Other,
        )?;
    }
    Ok(())
}

/// A report's location.
pub fn location(field: Field<'_>, loc: &Location) -> Result<(), Error> {
    fields::country(field.child("country"), &loc.country, true)?;
    for (name, value) in [
        ("admin1", &loc.admin1),
        ("admin2", &loc.admin2),
        ("admin3", &loc.admin3),
        ("place_name", &loc.place_name),
    ] {
        fields::text(field.child(name), value, SHORT_MAX, false)?;
    }
    match (loc.latitude, loc.longitude) {
        (Some(lat), Some(lon)) => {
            fields::latitude(field.child("latitude"), lat)?;
            fields::longitude(field.child("longitude"), lon)?;
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(invalid(
                field.child("longitude"),
                "is required with latitude",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                field.child("latitude"),
                "is required with longitude",
            ));
        }
    }
    fields::enum_value::<GeoPrecision>(field.child("geo_precision"), loc.geo_precision)?;
    Ok(())
}

/// A bounding box: valid corners, south ≤ north.
pub fn bbox(field: &str, b: &BoundingBox) -> Result<(), Error> {
    fields::latitude(&format!("{field}.south"), b.south)?;
    fields::latitude(&format!("{field}.north"), b.north)?;
    fields::longitude(&format!("{field}.west"), b.west)?;
    fields::longitude(&format!("{field}.east"), b.east)?;
    if b.south > b.north {
        return Err(invalid(&format!("{field}.north"), "is south of south"));
    }
    Ok(())
}

/// An agreement's geographic area.
pub fn area(field: &str, a: &GeoArea) -> Result<(), Error> {
    fields::country(&format!("{field}.country"), &a.country, false)?;
    fields::text(&format!("{field}.admin1"), &a.admin1, SHORT_MAX, false)?;
    fields::text(
        &format!("{field}.description"),
        &a.description,
        fields::LONG_MAX,
        false,
    )?;
    if let Some(b) = &a.bbox {
        bbox(&format!("{field}.bbox"), b)?;
    }
    if !a.polygon.is_empty() && a.polygon.len() < 3 {
        return Err(invalid(
            &format!("{field}.polygon"),
            "needs at least 3 points",
        ));
    }
    fields::list(&format!("{field}.polygon"), &a.polygon, POLYGON_MAX)?;
    for (i, p) in a.polygon.iter().enumerate() {
        fields::latitude(&format!("{field}.polygon[{i}].latitude"), p.latitude)?;
        fields::longitude(&format!("{field}.polygon[{i}].longitude"), p.longitude)?;
    }
    if a.country.is_empty() && a.bbox.is_none() && a.polygon.is_empty() {
        return Err(invalid(
            &format!("{field}.country"),
            "an area needs a country, a bbox or a polygon",
        ));
    }
    Ok(())
}
