//! The map of an agreement's reports as SVG drawn on the server: an
//! equirectangular view fitted to the reports over the country outlines
//! and region boundaries ([`super::basemap`]), a graticule, and one marker
//! a report. A marker's colour is its alleged perpetrator's (the
//! Okabe-Ito palette, readable with the common colour-vision
//! deficiencies) and it carries the party's code beside it, so colour is
//! never the only cue; its shape is the evidence status; a filled marker
//! stands at the report's coordinates, a hollow dashed one at the centroid
//! of its region or country (geo precision). Each marker links to its
//! report and is reachable with the keyboard.

use std::fmt::Write as _;

use truce_proto::v1::{EvidenceStatus, GeoPrecision, Report};

use super::labels::label;
use truce_chart::centroids;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const PAD: f64 = 40.0;

/// Okabe-Ito, without black (the ink) and yellow (too light on the sea).
const PALETTE: [&str; 6] = [
    "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7",
];

/// A party's colour: from its code alone, so it is the same on every map.
fn colour(party: &str) -> &'static str {
    let hash = party.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    PALETTE[hash as usize % PALETTE.len()]
}

/// Where a report is drawn, and whether that is its own position.
fn place(r: &Report) -> Option<(f64, f64, bool)> {
    let loc = r.location.as_ref()?;
    if let (Some(lat), Some(lon)) = (loc.latitude, loc.longitude) {
        let exact = matches!(
            loc.geo_precision(),
            GeoPrecision::Exact | GeoPrecision::Near | GeoPrecision::Unspecified
        );
        return Some((lat, lon, exact));
    }
    centroids::admin1(&loc.country, &loc.admin1)
        .or_else(|| centroids::country(&loc.country))
        .map(|(lat, lon)| (lat, lon, false))
}

/// The marker's shape for an evidence status, as SVG at (x, y).
fn shape(status: EvidenceStatus, x: f64, y: f64) -> String {
    let r = 7.0;
    match status {
        EvidenceStatus::Verified | EvidenceStatus::Corroborated => {
            format!(
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}""#,
                x - r,
                y - r,
                2.0 * r,
                2.0 * r
            )
        }
        EvidenceStatus::Disputed => format!(
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}""#,
            x,
            y - r - 1.0,
            x + r + 1.0,
            y + r,
            x - r - 1.0,
            y + r
        ),
        EvidenceStatus::Debunked | EvidenceStatus::Retracted | EvidenceStatus::Duplicate => {
            format!(
                r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}""#,
                x,
                y - r,
                x + r,
                y,
                x,
                y + r,
                x - r,
                y
            )
        }
        _ => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r:.1}""#),
    }
}

/// Escapes text for SVG.
fn esc(text: &str) -> String {
    maud::html! { (text) }.into_string()
}

/// The map of `reports`.
pub(crate) fn draw(reports: &[Report]) -> String {
    let placed: Vec<(&Report, f64, f64, bool)> = reports
        .iter()
        .filter_map(|r| place(r).map(|(lat, lon, exact)| (r, lat, lon, exact)))
        .collect();
    let (mut south, mut north, mut west, mut east) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (_, lat, lon, _) in &placed {
        south = south.min(*lat);
        north = north.max(*lat);
        west = west.min(*lon);
        east = east.max(*lon);
    }
    if placed.is_empty() {
        (south, north, west, east) = (-60.0, 75.0, -180.0, 180.0);
    }
    // At least 10 degrees each way, and 2 degrees of margin.
    let (clat, clon) = ((south + north) / 2.0, (west + east) / 2.0);
    let half_lat = ((north - south) / 2.0 + 2.0).max(5.0);
    let half_lon = ((east - west) / 2.0 + 2.0).max(half_lat * 1.4);
    let (south, north, west, east) = (
        clat - half_lat,
        clat + half_lat,
        clon - half_lon,
        clon + half_lon,
    );
    let x = |lon: f64| PAD + (lon - west) / (east - west) * (WIDTH - 2.0 * PAD);
    let y = |lat: f64| PAD + (north - lat) / (north - south) * (HEIGHT - 2.0 * PAD);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="group" aria-labelledby="map-title"><title id="map-title">Map of {} reports ({} placed)</title><rect width="{WIDTH}" height="{HEIGHT}" fill="#f4f8fb"/>"##,
        reports.len(),
        placed.len()
    );
    super::basemap::draw(&mut svg, (west, south, east, north), &x, &y);
    graticule(&mut svg, (south, north, west, east), &x, &y);
    for (r, lat, lon, exact) in &placed {
        marker(&mut svg, r, x(*lon), y(*lat), *exact);
    }
    svg.push_str("</svg>");
    svg.push_str(&legend(&placed));
    svg
}

fn graticule(
    svg: &mut String,
    (south, north, west, east): (f64, f64, f64, f64),
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
) {
    let step = if east - west > 60.0 { 20.0 } else { 5.0 };
    let mut lon = (west / step).ceil() * step;
    while lon <= east {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#9fb3c4" stroke-width="0.6" stroke-dasharray="2 3"/><text x="{0:.1}" y="{3:.1}" font-size="11" fill="#555" text-anchor="middle">{lon}°</text>"##,
            x(lon),
            y(north),
            y(south),
            HEIGHT - 12.0
        );
        lon += step;
    }
    let mut lat = (south / step).ceil() * step;
    while lat <= north {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{1:.1}" x2="{2:.1}" y2="{1:.1}" stroke="#9fb3c4" stroke-width="0.6" stroke-dasharray="2 3"/><text x="6" y="{1:.1}" font-size="11" fill="#555">{lat}°</text>"##,
            x(west),
            y(lat),
            x(east)
        );
        lat += step;
    }
}

fn marker(svg: &mut String, r: &Report, x: f64, y: f64, exact: bool) {
    let party = r.alleged_perpetrators.first().map_or("?", String::as_str);
    let colour = colour(party);
    let status = r.evidence_status();
    let loc = r.location.clone().unwrap_or_default();
    let name = format!(
        "Report {}: alleged perpetrator {}, evidence {}, {} {} ({})",
        r.id,
        r.alleged_perpetrators.join(", "),
        label(status.as_str_name(), "EVIDENCE_STATUS_"),
        loc.admin1,
        loc.country,
        if exact {
            "at its coordinates"
        } else {
            "at the centre of its region"
        }
    );
    let style = if exact {
        format!(r##" fill="{colour}" stroke="#1a1a1a" stroke-width="1.5""##)
    } else {
        format!(
            r##" fill="#ffffff" fill-opacity="0.6" stroke="{colour}" stroke-width="3" stroke-dasharray="3 2""##
        )
    };
    let _ = write!(
        svg,
        r##"<a href="/reports/{href}" class="report-marker" data-report="{id}" aria-label="{name}"><title>{name}</title>{shape}{style}/><text x="{tx:.1}" y="{ty:.1}" font-size="12" font-weight="bold" fill="#1a1a1a">{party}</text></a>"##,
        href = urlencoding::encode(&r.id),
        id = esc(&r.id),
        name = esc(&name),
        shape = shape(status, x, y),
        tx = x + 10.0,
        ty = y + 4.0,
        party = esc(party),
    );
}

/// The legend: each party's colour with its code, each status's shape,
/// and what filled and hollow mean.
fn legend(placed: &[(&Report, f64, f64, bool)]) -> String {
    let mut parties: Vec<&str> = placed
        .iter()
        .filter_map(|(r, ..)| r.alleged_perpetrators.first().map(String::as_str))
        .collect();
    parties.sort_unstable();
    parties.dedup();
    let mut out = String::from(r#"<ul class="legend" aria-label="Map legend">"#);
    for p in parties {
        let _ = write!(
            out,
            r##"<li><svg width="16" height="16" aria-hidden="true"><circle cx="8" cy="8" r="6" fill="{}" stroke="#1a1a1a"/></svg> {} (alleged perpetrator)</li>"##,
            colour(p),
            esc(p)
        );
    }
    let statuses = [
        (EvidenceStatus::Unverified, "unverified: circle"),
        (EvidenceStatus::Verified, "verified or corroborated: square"),
        (EvidenceStatus::Disputed, "disputed: triangle"),
        (
            EvidenceStatus::Debunked,
            "debunked, retracted or duplicate: diamond",
        ),
    ];
    for (status, text) in statuses {
        let _ = write!(
            out,
            r##"<li><svg width="18" height="18" aria-hidden="true">{} fill="#888"/></svg> {text}</li>"##,
            shape(status, 9.0, 9.0).replace("r=\"7.0\"", "r=\"6.0\"")
        );
    }
    out.push_str(r##"<li>filled: at its coordinates; hollow, dashed: at the centre of its region or country</li><li>grey dashed lines: region (admin-1) boundaries</li></ul>"##);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_proto::v1::Location;

    fn report(id: &str, admin1: &str, status: EvidenceStatus) -> Report {
        Report {
            id: id.into(),
            alleged_perpetrators: vec!["UA".into()],
            evidence_status: status as i32,
            location: Some(Location {
                country: "RU".into(),
                admin1: admin1.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn one_marker_a_placed_report_with_its_shape() {
        let svg = draw(&[
            report("a", "Kursk Oblast", EvidenceStatus::Disputed),
            report("b", "Krasnodar Krai", EvidenceStatus::Unverified),
        ]);
        assert_eq!(svg.matches("class=\"report-marker\"").count(), 2);
        assert!(svg.contains("<polygon"), "disputed is a triangle");
        assert!(svg.contains("<circle"), "unverified is a circle");
        assert!(svg.contains("stroke-dasharray"), "centroids are hollow");
    }

    #[test]
    fn ids_are_escaped() {
        let svg = draw(&[report("<x>", "Kursk Oblast", EvidenceStatus::Verified)]);
        assert!(!svg.contains("<x>"));
    }
}
