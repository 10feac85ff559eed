//! GeoJSON features of report views: a point at the report's coordinates,
//! else at the centroid of its first-level region, else at its country's
//! (`truce_chart::centroids`), with the `geo_precision` property saying which
//! (docs/exports.md); a `null` geometry only when even the country's
//! centroid is unknown.

use geojson::{Feature, FeatureCollection, Geometry, JsonObject, Value, feature::Id};
use truce_proto::v1::{Location, ReportView};

use truce_chart::centroids;

use crate::time;

/// Where a feature's point comes from (its `geo_precision` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The report's own coordinates (how close they are to the place is
    /// the report's geo precision, the `location_precision` property).
    Exact,
    /// The centroid of the report's first-level region (admin1).
    Admin1Centroid,
    /// The centroid of the report's country.
    CountryCentroid,
    /// Nowhere: no coordinates and no known centroid (`null` geometry).
    Unknown,
}

impl Placement {
    /// The `geo_precision` property's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Admin1Centroid => "admin1-centroid",
            Self::CountryCentroid => "country-centroid",
            Self::Unknown => "unknown",
        }
    }
}

/// The point (latitude, longitude) of a location and where it comes from:
/// its coordinates, else its admin1 centroid, else its country's.
pub fn placement(loc: &Location) -> (Option<(f64, f64)>, Placement) {
    if let (Some(lat), Some(lon)) = (loc.latitude, loc.longitude) {
        return (Some((lat, lon)), Placement::Exact);
    }
    if let Some(p) = centroids::admin1(&loc.country, &loc.admin1) {
        return (Some(p), Placement::Admin1Centroid);
    }
    match centroids::country(&loc.country) {
        Some(p) => (Some(p), Placement::CountryCentroid),
        None => (None, Placement::Unknown),
    }
}

/// A GeoJSON feature of a report, placed by [`placement`].
pub fn feature(view: &ReportView) -> Feature {
    let r = view.report.clone().unwrap_or_default();
    let loc = r.location.clone().unwrap_or_default();
    let (point, placed) = placement(&loc);
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
    put("geo_precision", placed.as_str().into());
    put(
        "location_precision",
        loc.geo_precision().as_str_name().into(),
    );
    put("agreement_ids", r.agreement_ids.clone().into());
    put(
        "fatalities_best",
        r.harm
            .and_then(|h| h.fatalities_best)
            .map_or(serde_json::Value::Null, Into::into),
    );
    put("claims", view.claims.len().into());
    Feature {
        bbox: None,
        geometry: point.map(|(lat, lon)| Geometry::new(Value::Point(vec![lon, lat]))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use truce_proto::v1::Report;

    fn view(country: &str, admin1: &str, coords: Option<(f64, f64)>) -> ReportView {
        let location = Location {
            country: country.into(),
            admin1: admin1.into(),
            latitude: coords.map(|c| c.0),
            longitude: coords.map(|c| c.1),
            ..Location::default()
        };
        ReportView {
            report: Some(Report {
                id: "r".into(),
                location: Some(location),
                ..Report::default()
            }),
            ..ReportView::default()
        }
    }

    fn point_and_precision(f: &Feature) -> (Option<serde_json::Value>, serde_json::Value) {
        let geometry = f
            .geometry
            .as_ref()
            .map(|g| serde_json::to_value(g).unwrap_or_default());
        let props = f.properties.clone().unwrap_or_default();
        (geometry, props["geo_precision"].clone())
    }

    #[test]
    fn coordinates_else_admin1_else_country_else_nothing() {
        let cases = [
            (
                view("UA", "Kharkiv Oblast", Some((49.99, 36.23))),
                Some([36.23, 49.99]),
                "exact",
            ),
            (
                view("RU", "Krasnodar Krai", None),
                Some([39.2, 45.4]),
                "admin1-centroid",
            ),
            (
                view("UA", "Donetsk", None),
                Some([37.7, 48.1]),
                "admin1-centroid",
            ),
            (
                view("UA", "Nowhere Oblast", None),
                Some([31.4, 49.0]),
                "country-centroid",
            ),
            (view("RU", "", None), Some([96.7, 61.7]), "country-centroid"),
            (view("FR", "Bretagne", None), None, "unknown"),
        ];
        for (v, want, precision) in cases {
            let f = feature(&v);
            let (geometry, placed) = point_and_precision(&f);
            let coordinates = geometry.map(|g| g["coordinates"].clone());
            assert_eq!(
                coordinates,
                want.map(|c| serde_json::json!(c)),
                "{precision}"
            );
            assert_eq!(placed, precision);
        }
    }
}
