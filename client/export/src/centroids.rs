//! The centroid table (`truce_chart::centroids`, where the GeoJSON export
//! and the web view's map place a report without coordinates) checked
//! against the country table the ACLED columns use: every country this
//! crate can name has a centroid.

#[cfg(test)]
mod tests {
    use crate::countries;
    use truce_chart::centroids::{ADMIN1, COUNTRIES, country};

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
