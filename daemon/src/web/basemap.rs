//! The base map under the web view's maps: country outlines from Natural
//! Earth (public domain; `data/README.md` says where they come from and
//! how they were simplified), kept in the repository as text and parsed
//! once, on the first map drawn. Drawn as SVG paths on the server.

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

fn parse_ring(text: &str) -> Option<Ring> {
    let points: Vec<(f64, f64)> = text
        .split(' ')
        .filter_map(|p| {
            let (lon, lat) = p.split_once(',')?;
            Some((lon.parse().ok()?, lat.parse().ok()?))
        })
        .collect();
    if points.len() < 3 {
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

/// The outlines inside the view (west, south, east, north) as SVG paths,
/// projected with `x` and `y`.
pub(crate) fn draw(
    svg: &mut String,
    view: (f64, f64, f64, f64),
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
) {
    let (west, south, east, north) = view;
    svg.push_str(r##"<g class="basemap" fill="#e8e4da" stroke="#8a8478" stroke-width="0.8" aria-hidden="true">"##);
    for country in countries() {
        let mut d = String::new();
        for ring in &country.rings {
            let (w, s, e, n) = ring.extent;
            if e < west || w > east || n < south || s > north {
                continue;
            }
            for (i, (lon, lat)) in ring.points.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1}",
                    if i == 0 { "M" } else { "L" },
                    x(*lon),
                    y(*lat)
                );
            }
            d.push('Z');
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
    }
}
