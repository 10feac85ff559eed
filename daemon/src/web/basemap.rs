//! The base map under the web view's maps: country outlines and, for the
//! region of the seed scenario, region (admin-1) boundaries, both from
//! Natural Earth (public domain; `data/README.md` says where they come
//! from and how they were simplified), kept in the repository as text and
//! parsed once, on the first map drawn. Drawn as SVG paths on the server.

use std::{fmt::Write as _, sync::OnceLock};

/// One country's outer rings, each a list of (lon, lat), with its extent.
#[derive(Debug)]
pub(crate) struct Country {
    pub name: String,
    rings: Vec<Ring>,
}

#[derive(Debug)]
struct Ring {
    points: Vec<(f64, f64)>,
    /// west, south, east, north
    extent: (f64, f64, f64, f64),
}

const DATA: &str = include_str!("data/countries.txt");

/// Region boundaries: one line of `lon,lat` points a boundary.
const ADMIN1: &str = include_str!("data/admin1.txt");

fn parse_ring(text: &str) -> Option<Ring> {
    parse_line(text).filter(|r| r.points.len() >= 3)
}

/// A line of points (a ring's or a boundary's), with its extent.
fn parse_line(text: &str) -> Option<Ring> {
    let points: Vec<(f64, f64)> = text
        .split(' ')
        .filter_map(|p| {
            let (lon, lat) = p.split_once(',')?;
            Some((lon.parse().ok()?, lat.parse().ok()?))
        })
        .collect();
    if points.len() < 2 {
        return None;
    }
    let extent = points.iter().fold(
        (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
        |(w, s, e, n), (lon, lat)| (w.min(*lon), s.min(*lat), e.max(*lon), n.max(*lat)),
    );
    Some(Ring { points, extent })
}

/// Every country of the data (lines that do not parse are skipped).
pub(crate) fn countries() -> &'static [Country] {
    static COUNTRIES: OnceLock<Vec<Country>> = OnceLock::new();
    COUNTRIES.get_or_init(|| {
        DATA.lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let _id = fields.next()?;
                let name = fields.next()?.to_owned();
                let rings = fields.next()?.split('|').filter_map(parse_ring).collect();
                Some(Country { name, rings })
            })
            .collect()
    })
}

/// The region (admin-1) boundaries of the data.
fn admin1() -> &'static [Ring] {
    static ADMIN1_LINES: OnceLock<Vec<Ring>> = OnceLock::new();
    ADMIN1_LINES.get_or_init(|| ADMIN1.lines().filter_map(parse_line).collect())
}

/// Whether a line's extent meets the view (west, south, east, north).
fn in_view(ring: &Ring, (west, south, east, north): (f64, f64, f64, f64)) -> bool {
    let (w, s, e, n) = ring.extent;
    !(e < west || w > east || n < south || s > north)
}

/// `points` as SVG path data, projected (`close`: a ring).
fn path(
    d: &mut String,
    points: &[(f64, f64)],
    close: bool,
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
) {
    for (i, (lon, lat)) in points.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { "L" },
            x(*lon),
            y(*lat)
        );
    }
    if close {
        d.push('Z');
    }
}

/// The outlines inside the view (west, south, east, north) as SVG paths,
/// projected with `x` and `y`.
pub(crate) fn draw(
    svg: &mut String,
    view: (f64, f64, f64, f64),
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
) {
    svg.push_str(r##"<g class="basemap" fill="#e8e4da" stroke="#8a8478" stroke-width="0.8" aria-hidden="true">"##);
    for country in countries() {
        let mut d = String::new();
        for ring in country.rings.iter().filter(|r| in_view(r, view)) {
            path(&mut d, &ring.points, true, x, y);
        }
        if !d.is_empty() {
            let _ = write!(
                svg,
                r#"<path d="{d}"><title>{}</title></path>"#,
                maud::html! { (country.name) }.into_string()
            );
        }
    }
    svg.push_str("</g>");
    let mut d = String::new();
    for line in admin1().iter().filter(|l| in_view(l, view)) {
        path(&mut d, &line.points, false, x, y);
    }
    if !d.is_empty() {
        let _ = write!(
            svg,
            r##"<path class="admin1" d="{d}" fill="none" stroke="#a39d90" stroke-width="0.6" stroke-dasharray="3 2" aria-hidden="true"/>"##
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_holds_the_seed_countries() {
        let names: Vec<&str> = countries().iter().map(|c| c.name.as_str()).collect();
        assert!(names.len() > 150, "{}", names.len());
        assert!(names.contains(&"Ukraine") && names.contains(&"Russia"));
    }

    #[test]
    fn only_outlines_in_view_are_drawn() {
        let mut svg = String::new();
        // Around Kyiv.
        draw(&mut svg, (29.0, 49.0, 32.0, 51.0), &|lon| lon, &|lat| lat);
        assert!(svg.contains("<title>Ukraine</title>"));
        assert!(!svg.contains("<title>Brazil</title>"));
        assert!(svg.contains("class=\"admin1\""), "region boundaries");
    }

    #[test]
    fn region_boundaries_are_kept_for_the_seed_region_only() {
        assert!(admin1().len() > 100, "{}", admin1().len());
        // Kursk, where the seed's reports are.
        assert!(
            admin1()
                .iter()
                .any(|l| in_view(l, (35.0, 51.0, 37.0, 52.5)))
        );
        let mut svg = String::new();
        // Around Lisbon: no region boundaries kept there.
        draw(&mut svg, (-10.0, 37.0, -8.0, 40.0), &|lon| lon, &|lat| lat);
        assert!(!svg.contains("class=\"admin1\""));
    }
}
