//! Country names and ISO 3166-1 numeric codes as ACLED writes them, to the
//! alpha-2 codes a report's location holds (the daemon accepts only those).
//! With ACLED's region of each (its `region` column). A short table of the
//! countries of the conflicts Truce is used for; a name it does not know is
//! a row error that names it, so extend it here (and add the country's
//! centroid to `truce_chart::centroids`).

/// (alpha-2, ACLED's country name, ISO 3166-1 numeric, ACLED's region).
const COUNTRIES: &[(&str, &str, u16, &str)] = &[
    ("AM", "Armenia", 51, "Caucasus and Central Asia"),
    ("AZ", "Azerbaijan", 31, "Caucasus and Central Asia"),
    ("BY", "Belarus", 112, "Europe"),
    ("CO", "Colombia", 170, "South America"),
    ("EE", "Estonia", 233, "Europe"),
    ("FI", "Finland", 246, "Europe"),
    ("GE", "Georgia", 268, "Caucasus and Central Asia"),
    ("HU", "Hungary", 348, "Europe"),
    ("IL", "Israel", 376, "Middle East"),
    ("KZ", "Kazakhstan", 398, "Caucasus and Central Asia"),
    ("LB", "Lebanon", 422, "Middle East"),
    ("LT", "Lithuania", 440, "Europe"),
    ("LV", "Latvia", 428, "Europe"),
    ("LY", "Libya", 434, "Northern Africa"),
    ("MD", "Moldova", 498, "Europe"),
    ("MM", "Myanmar", 104, "Southeast Asia"),
    ("PL", "Poland", 616, "Europe"),
    ("PS", "Palestine", 275, "Middle East"),
    ("RO", "Romania", 642, "Europe"),
    ("RU", "Russia", 643, "Europe"),
    ("SD", "Sudan", 729, "Northern Africa"),
    ("SK", "Slovakia", 703, "Europe"),
    ("SY", "Syria", 760, "Middle East"),
    ("TR", "Turkey", 792, "Middle East"),
    ("UA", "Ukraine", 804, "Europe"),
    ("YE", "Yemen", 887, "Middle East"),
];

/// The alpha-2 code of an ACLED country name (case-insensitive).
pub fn code_of_name(name: &str) -> Option<&'static str> {
    let name = name.trim();
    COUNTRIES
        .iter()
        .find(|(_, n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|(code, _, _, _)| *code)
}

/// ACLED's name of a country, by alpha-2 code.
pub fn name_of(code: &str) -> Option<&'static str> {
    COUNTRIES
        .iter()
        .find(|(c, _, _, _)| *c == code)
        .map(|(_, name, _, _)| *name)
}

/// The ISO 3166-1 numeric code of a country, by alpha-2 code.
pub fn numeric_of(code: &str) -> Option<u16> {
    COUNTRIES
        .iter()
        .find(|(c, _, _, _)| *c == code)
        .map(|(_, _, n, _)| *n)
}

/// ACLED's region of a country ("Europe", "Middle East", "Caucasus and
/// Central Asia"), by alpha-2 code.
pub fn region_of(code: &str) -> Option<&'static str> {
    COUNTRIES
        .iter()
        .find(|(c, _, _, _)| *c == code)
        .map(|(_, _, _, region)| *region)
}

/// The alpha-2 codes this table knows, in order.
#[cfg(test)]
pub fn codes() -> impl Iterator<Item = &'static str> {
    COUNTRIES.iter().map(|(code, _, _, _)| *code)
}

/// The alpha-2 code of an ISO 3166-1 numeric code ("804", "51").
pub fn code_of_numeric(iso: &str) -> Option<&'static str> {
    let n: u16 = iso.trim().parse().ok()?;
    COUNTRIES
        .iter()
        .find(|(_, _, m, _)| *m == n)
        .map(|(code, _, _, _)| *code)
}

/// The alpha-2 code of ACLED's country and iso columns: the country column
/// when it already is a code (what `truce export` writes), else its name,
/// else the numeric code.
pub fn code(country: &str, iso: &str) -> Result<String, String> {
    let c = country.trim();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(c.to_owned());
    }
    code_of_name(c)
        .or_else(|| code_of_numeric(iso))
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "country {c:?} (iso {iso:?}) is neither an ISO 3166-1 alpha-2 code nor a country this importer knows"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_codes() {
        assert_eq!(code("Ukraine", "").as_deref(), Ok("UA"));
        assert_eq!(code("russia", "").as_deref(), Ok("RU"));
        assert_eq!(code("RU", "").as_deref(), Ok("RU"));
        assert_eq!(code("Ukrainia", "804").as_deref(), Ok("UA"));
        assert_eq!(code("", "051").as_deref(), Ok("AM"));
        assert_eq!(
            (name_of("UA"), numeric_of("UA")),
            (Some("Ukraine"), Some(804))
        );
        assert_eq!((name_of("XX"), numeric_of("XX")), (None, None));
        assert_eq!(region_of("RU"), Some("Europe"));
        assert_eq!(region_of("AZ"), Some("Caucasus and Central Asia"));
        assert_eq!(region_of("SY"), Some("Middle East"));
        assert_eq!(region_of("XX"), None);
        let err = code("Atlantis", "999").unwrap_err();
        assert!(err.contains("\"Atlantis\""), "{err}");
        assert!(
            COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted by code, no code twice"
        );
    }
}
