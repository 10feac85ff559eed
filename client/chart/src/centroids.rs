//! Approximate centroids (WGS84 degrees, to about a tenth of a degree) of
//! the countries Truce's country table knows and of the first-level
//! regions of Ukraine and of Russia's regions along the front and the
//! border: where a report without coordinates is placed, by the command
//! line's GeoJSON export (docs/exports.md) and on the web view's map
//! alike. Extend it with the country table of `truce-export`
//! (`client/export/src/countries.rs`, whose test checks that every
//! country there has a centroid here).

/// (alpha-2, latitude, longitude): the country's centroid.
pub const COUNTRIES: &[(&str, f64, f64)] = &[
    ("AM", 40.1, 45.0),
    ("AZ", 40.3, 47.7),
    ("BY", 53.5, 28.0),
    ("CO", 4.0, -73.0),
    ("EE", 58.7, 25.5),
    ("FI", 64.5, 26.3),
    ("GE", 42.2, 43.5),
    ("HU", 47.2, 19.4),
    ("IL", 31.0, 34.9),
    ("KZ", 48.2, 67.3),
    ("LB", 33.9, 35.9),
    ("LT", 55.3, 23.9),
    ("LV", 56.9, 24.6),
    ("LY", 27.0, 17.0),
    ("MD", 47.2, 28.5),
    ("MM", 21.2, 96.5),
    ("PL", 52.1, 19.4),
    ("PS", 31.9, 35.2),
    ("RO", 45.9, 25.0),
    ("RU", 61.7, 96.7),
    ("SD", 15.6, 30.0),
    ("SK", 48.7, 19.5),
    ("SY", 35.0, 38.5),
    ("TR", 39.1, 35.2),
    ("UA", 49.0, 31.4),
    ("YE", 15.9, 47.6),
];

/// (alpha-2, the region's names, latitude, longitude): first-level
/// regions. A name is matched without case; a name not listed is also
/// matched without its "Oblast", "Krai" or "Region" (ACLED writes
/// "Donetsk" for Donetsk Oblast).
pub const ADMIN1: &[(&str, &[&str], f64, f64)] = &[
    ("RU", &["Belgorod Oblast"], 50.7, 37.4),
    ("RU", &["Bryansk Oblast"], 52.9, 33.4),
    ("RU", &["Krasnodar Krai", "Krasnodar"], 45.4, 39.2),
    ("RU", &["Kursk Oblast"], 51.6, 36.2),
    ("RU", &["Moscow", "Moscow City"], 55.75, 37.6),
    ("RU", &["Moscow Oblast"], 55.5, 37.4),
    ("RU", &["Rostov Oblast"], 47.7, 41.0),
    ("RU", &["Voronezh Oblast"], 50.9, 40.1),
    (
        "UA",
        &["Autonomous Republic of Crimea", "Crimea"],
        45.3,
        34.2,
    ),
    ("UA", &["Cherkasy Oblast"], 49.2, 31.3),
    ("UA", &["Chernihiv Oblast"], 51.3, 32.3),
    ("UA", &["Chernivtsi Oblast"], 48.3, 26.0),
    ("UA", &["Dnipropetrovsk Oblast"], 48.4, 34.9),
    ("UA", &["Donetsk Oblast"], 48.1, 37.7),
    ("UA", &["Ivano-Frankivsk Oblast"], 48.6, 24.6),
    ("UA", &["Kharkiv Oblast"], 49.5, 36.4),
    ("UA", &["Kherson Oblast"], 46.7, 33.5),
    ("UA", &["Khmelnytskyi Oblast"], 49.4, 27.0),
    ("UA", &["Kirovohrad Oblast"], 48.4, 32.0),
    ("UA", &["Kyiv City", "City of Kyiv"], 50.45, 30.5),
    ("UA", &["Kyiv Oblast"], 50.3, 30.4),
    ("UA", &["Luhansk Oblast"], 48.8, 39.1),
    ("UA", &["Lviv Oblast"], 49.7, 23.9),
    ("UA", &["Mykolaiv Oblast"], 47.4, 31.9),
    ("UA", &["Odesa Oblast", "Odessa Oblast"], 46.8, 30.0),
    ("UA", &["Poltava Oblast"], 49.6, 33.9),
    ("UA", &["Rivne Oblast"], 50.9, 26.3),
    ("UA", &["Sevastopol"], 44.6, 33.5),
    ("UA", &["Sumy Oblast"], 51.0, 34.1),
    ("UA", &["Ternopil Oblast"], 49.3, 25.6),
    ("UA", &["Vinnytsia Oblast"], 48.9, 28.6),
    ("UA", &["Volyn Oblast"], 51.2, 24.9),
    ("UA", &["Zakarpattia Oblast"], 48.4, 23.0),
    ("UA", &["Zaporizhzhia Oblast"], 47.3, 35.6),
    ("UA", &["Zhytomyr Oblast"], 50.5, 28.5),
];

/// A name without case and without a trailing "Oblast", "Krai" or
/// "Region".
fn bare(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    [" oblast", " krai", " region"]
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .map_or_else(|| lower.clone(), |b| b.trim().to_owned())
}

/// The centroid (latitude, longitude) of a country, by alpha-2 code.
pub fn country(code: &str) -> Option<(f64, f64)> {
    COUNTRIES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, lat, lon)| (*lat, *lon))
}

/// The centroid (latitude, longitude) of a first-level region of a
/// country: by one of its names, else by its name without "Oblast",
/// "Krai" or "Region".
pub fn admin1(code: &str, name: &str) -> Option<(f64, f64)> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let regions = || ADMIN1.iter().filter(move |(c, _, _, _)| *c == code);
    let exact =
        regions().find(|(_, names, _, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)));
    let wanted = bare(name);
    exact
        .or_else(|| regions().find(|(_, names, _, _)| names.iter().any(|n| bare(n) == wanted)))
        .map(|(_, _, lat, lon)| (*lat, *lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_by_their_names_and_acled_s() {
        // The seed scenario's regions.
        for (code, name) in [
            ("RU", "Krasnodar Krai"),
            ("RU", "Kursk Oblast"),
            ("UA", "Donetsk Oblast"),
        ] {
            assert!(admin1(code, name).is_some(), "{name}");
        }
        assert_eq!(admin1("UA", "Donetsk"), admin1("UA", "Donetsk Oblast"));
        assert_eq!(admin1("UA", "donetsk oblast"), Some((48.1, 37.7)));
        assert_eq!(admin1("UA", "Kyiv"), admin1("UA", "Kyiv Oblast"));
        assert_ne!(admin1("UA", "Kyiv"), admin1("UA", "Kyiv City"));
        assert_ne!(admin1("RU", "Moscow"), admin1("RU", "Moscow Oblast"));
        assert_eq!(admin1("RU", "Donetsk Oblast"), None, "by country");
        assert_eq!(admin1("UA", ""), None);
        assert_eq!(admin1("UA", "Atlantis"), None);
    }
}
