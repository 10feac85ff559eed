//! The timeline chart's tests on the command line's hand-built compliance
//! report (`compliance/fixture.rs`); the chart itself is truce-chart's.

use plotters::prelude::RGBColor;
use truce_chart::{
    hatch::Hatch,
    timeline::{HATCH_INK, PALETTE, SHADE, TimelineError, colour_of, hatch_for, timeline_svg},
};
use truce_proto::v1::ComplianceReport;

use crate::compliance::fixture;

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// Parses the SVG (it must be well-formed XML with an <svg> root) and
/// returns the fills of its rects and its texts.
fn parts(svg: &str) -> (Vec<String>, Vec<String>) {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let rects = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter_map(|n| n.attribute("fill").map(str::to_owned))
        .collect();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
        .collect();
    (rects, texts)
}

fn count(fills: &[String], colour: RGBColor) -> usize {
    fills.iter().filter(|f| **f == hex(colour)).count()
}

#[test]
fn one_bar_per_day_and_perpetrator_a_legend_and_the_status() {
    let svg = timeline_svg(&fixture::report(), None).expect("drawn");
    let (fills, texts) = parts(&svg);
    // UA (first in the tally) on three days, RU on one; plus a legend
    // swatch each. The shaded window and its swatch.
    assert_eq!(count(&fills, colour_of("UA")), 3 + 1, "{svg}");
    assert_eq!(count(&fills, colour_of("RU")), 1 + 1, "{svg}");
    assert_eq!(count(&fills, SHADE), 2, "{svg}");
    for label in ["UA", "RU", "suspended", "03-19", "in effect (start per RU)"] {
        assert!(
            texts.iter().any(|t| t == label),
            "no text {label:?} in {texts:?}"
        );
    }
    assert!(
        texts.iter().any(|t| t.starts_with("Energy truce: ")),
        "{texts:?}"
    );
}

/// Lines drawn in the hatch ink (polylines and paths).
fn hatch_lines(svg: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    doc.descendants()
        .filter(|n| n.attribute("stroke") == Some(hex(HATCH_INK).as_str()))
        .count()
}

#[test]
fn a_partys_bars_and_swatch_carry_its_hatch() {
    // UA and RU are hatched in columns (three lines over each bar and
    // each swatch); US is solid.
    assert_eq!(hatch_for("UA"), Hatch::Columns);
    assert_eq!(hatch_for("RU"), Hatch::Columns);
    assert_eq!(hatch_for("US"), Hatch::Solid);
    let svg = timeline_svg(&fixture::report(), None).expect("drawn");
    // UA: three bars and a swatch; RU: one bar and a swatch.
    assert_eq!(hatch_lines(&svg), 3 * (3 + 1) + 3 * (1 + 1), "{svg}");
    let mut report = fixture::report();
    for current in report.tallies.iter_mut().filter_map(|t| t.current.as_mut()) {
        for p in current
            .by_perpetrator
            .iter_mut()
            .filter(|p| p.party == "RU")
        {
            p.party = "US".into();
        }
        for day in &mut current.per_day {
            for k in day.by_perpetrator.iter_mut().filter(|k| k.key == "RU") {
                k.key = "US".into();
            }
        }
    }
    let svg = timeline_svg(&report, None).expect("drawn");
    assert_eq!(hatch_lines(&svg), 3 * (3 + 1), "US's bar is solid: {svg}");
}

#[test]
fn another_reading_and_unknown_readings() {
    // UA's start is after the period: no bars, nothing shaded.
    let svg = timeline_svg(&fixture::report(), Some("UA")).expect("drawn");
    let (fills, texts) = parts(&svg);
    assert_eq!(count(&fills, colour_of("UA")), 0, "{svg}");
    assert_eq!(count(&fills, SHADE), 0, "{svg}");
    assert!(
        texts.iter().any(|t| t.contains("(start per UA)")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t == "suspended"), "{texts:?}");
    match timeline_svg(&fixture::report(), Some("XX")) {
        Err(TimelineError::UnknownReading { available, .. }) => {
            assert_eq!(available, "RU, UA");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_reports_still_make_a_chart() {
    let svg = timeline_svg(&fixture::empty(), Some("all")).expect("drawn");
    let (fills, texts) = parts(&svg);
    assert!(PALETTE.iter().all(|c| count(&fills, *c) == 0), "{svg}");
    assert_eq!(count(&fills, SHADE), 2, "the window is shaded: {svg}");
    assert!(texts.iter().any(|t| t == "03-18"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "(none in scope)"), "{texts:?}");
    let svg = timeline_svg(&ComplianceReport::default(), None).expect("drawn");
    let (_, texts) = parts(&svg);
    assert!(texts.iter().any(|t| t.contains("no reading")), "{texts:?}");
}
