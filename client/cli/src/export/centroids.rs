//! The centroid table the GeoJSON export places a report without
//! coordinates with: it lives in `truce-chart` (the web view's map uses it
//! too); here its test against the command line's country table.

pub use truce_chart::centroids::{admin1, country};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::countries;
    use truce_chart::centroids::{ADMIN1, COUNTRIES};

    #[test]
    fn every_known_country_has_a_centroid_inside_the_globe() {
        for code in countries::codes() {
            assert!(country(code).is_some(), "{code}");
        }
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        for (lat, lon) in COUNTRIES
            .iter()
            .map(|(_, a, b)| (*a, *b))
            .chain(ADMIN1.iter().map(|(_, _, a, b)| (*a, *b)))
        {
            assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
        }
        assert_eq!(country("XX"), None);
    }
}
