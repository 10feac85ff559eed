//! A compliance report's per-day timeline as SVG, for people who read the
//! pattern rather than the table: in-scope alleged violations per day,
//! stacked by alleged perpetrator (each party in its own colour, the same
//! in every chart), with the window in which the agreement applied (under
//! one reading of its start) shaded, each status change marked (extensions
//! and lapses in their own colours), the expiry marked, and the log
//! sequence and checkpoint it shows written under it. Pure (plotters' SVG
//! backend into a string, no fonts needed), so `truce compliance --svg`
//! and tests share it.

use chrono::{DateTime, Days, NaiveDate, Utc};
use plotters::{
    coord::{Shift, types::RangedCoordf64},
    prelude::{
        Cartesian2d, ChartBuilder, ChartContext, Color, DrawingArea, EmptyElement, IntoDrawingArea,
        IntoFont, PathElement, RGBColor, Rectangle, SVGBackend, TRANSPARENT, Text, WHITE,
    },
    style::text_anchor::{HPos, Pos, VPos},
};
use truce_proto::v1::{
    AgreementStatus, AgreementStatusRecord, ComplianceReport, ComplianceTally, DayCount,
};

use crate::{
    enum_label,
    hatch::{Hatch, hatch_of},
    party_name,
};

/// Why no timeline could be drawn.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("the report has no reading {wanted:?} (it has: {available})")]
    UnknownReading { wanted: String, available: String },
    #[error("cannot draw the timeline: {0}")]
    Draw(String),
}

/// Bar colours (Tableau 10 without its green, which is the shading's); a
/// party's is chosen by its code ([`colour_of`]), so it keeps it in every
/// chart.
pub const PALETTE: [RGBColor; 9] = [
    RGBColor(0x4E, 0x79, 0xA7),
    RGBColor(0xF2, 0x8E, 0x2B),
    RGBColor(0xE1, 0x57, 0x59),
    RGBColor(0x76, 0xB7, 0xB2),
    RGBColor(0xED, 0xC9, 0x48),
    RGBColor(0xB0, 0x7A, 0xA1),
    RGBColor(0xFF, 0x9D, 0xA7),
    RGBColor(0x9C, 0x75, 0x5F),
    RGBColor(0xBA, 0xB0, 0xAC),
];
/// The effective window's shading (drawn at 30% opacity).
pub const SHADE: RGBColor = RGBColor(0x59, 0xA1, 0x4F);
const MARK: RGBColor = RGBColor(0x33, 0x33, 0x33);
/// The hatch lines over a bar's colour.
pub const HATCH_INK: RGBColor = RGBColor(0x1A, 0x1A, 0x1A);
/// An extension's mark (and the expiry's).
pub const EXTENSION: RGBColor = RGBColor(0x1B, 0x7A, 0x3D);
/// A lapse's, end's or supersession's mark.
pub const STOP: RGBColor = RGBColor(0xB2, 0x18, 0x2B);
const FOOTER_HEIGHT: u32 = 22;
const SIZE: (u32, u32) = (960, 480);
const LEGEND_WIDTH: u32 = 200;
const DAY_SECONDS: f64 = 86_400.0;

/// A party's bar colour: from its code alone (FNV-1a), so the same party
/// has the same colour in every chart, whoever else is in it.
pub fn colour_of(party: &str) -> RGBColor {
    PALETTE[crate::hatch::party_hash(party) as usize % PALETTE.len()]
}

/// A party's hatch over its colour ([`crate::hatch`]).
pub fn hatch_for(party: &str) -> Hatch {
    hatch_of(party, PALETTE.len())
}

/// Draws `hatch` over a box given in the chart's coordinates.
fn draw_hatch(
    chart: &mut Chart<'_, '_>,
    hatch: Hatch,
    x: (f64, f64),
    y: (f64, f64),
) -> Result<(), TimelineError> {
    let lines = hatch.lines(x, y).into_iter();
    chart
        .draw_series(lines.map(|[a, b]| PathElement::new(vec![a, b], HATCH_INK.stroke_width(1))))
        .map_err(draw_err)?;
    Ok(())
}

fn draw_err(e: impl std::fmt::Display) -> TimelineError {
    TimelineError::Draw(e.to_string())
}

fn to_time(ts: Option<&pbjson_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::<Utc>::try_from(*t).ok())
}

/// The tally asked for: by party code (`all` or "" for a start agreed by
/// all), else the first. None when the report has no tally at all.
fn choose<'a>(
    report: &'a ComplianceReport,
    reading: Option<&str>,
) -> Result<Option<&'a ComplianceTally>, TimelineError> {
    let Some(wanted) = reading else {
        return Ok(report.tallies.first());
    };
    let key = if wanted == "all" { "" } else { wanted };
    match report.tallies.iter().find(|t| t.reading == key) {
        Some(t) => Ok(Some(t)),
        None => Err(TimelineError::UnknownReading {
            wanted: wanted.to_owned(),
            available: report
                .tallies
                .iter()
                .map(|t| {
                    if t.reading.is_empty() {
                        "all"
                    } else {
                        &t.reading
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The days shown: the period's, widened to any day with counts; a
/// report with neither shows the day the agreement was declared.
fn day_range(report: &ComplianceReport, tally: Option<&ComplianceTally>) -> (NaiveDate, u64) {
    let period = report.period.unwrap_or_default();
    let mut days: Vec<NaiveDate> = Vec::new();
    if let Some(from) = to_time(period.from.as_ref()) {
        days.push(from.date_naive());
        if let Some(to) = to_time(period.to.as_ref()).filter(|to| *to > from) {
            days.push((to - chrono::Duration::nanoseconds(1)).date_naive());
        }
    }
    for d in tally
        .iter()
        .flat_map(|t| t.current.iter())
        .flat_map(|c| &c.per_day)
    {
        if let Ok(day) = NaiveDate::parse_from_str(&d.day, "%Y-%m-%d") {
            days.push(day);
        }
    }
    let declared = report
        .agreement
        .as_ref()
        .and_then(|v| v.agreement.as_ref())
        .and_then(|a| to_time(a.declared_at.as_ref()))
        .map_or(NaiveDate::default(), |t| t.date_naive());
    let first = days.iter().min().copied().unwrap_or(declared);
    let last = days.iter().max().copied().unwrap_or(declared);
    let n = u64::try_from((last - first).num_days()).unwrap_or(0) + 1;
    (first, n)
}

/// Perpetrators in the tally's order, then any others the days name.
fn perpetrators(tally: Option<&ComplianceTally>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let current = tally.and_then(|t| t.current.as_ref());
    let named = current
        .iter()
        .flat_map(|c| c.by_perpetrator.iter().map(|p| &p.party));
    let on_days = current
        .iter()
        .flat_map(|c| &c.per_day)
        .flat_map(|d| d.by_perpetrator.iter().map(|k| &k.key));
    for p in named.chain(on_days) {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// The per-day stacked bar chart of `reading`'s in-scope alleged
/// violations (default: the report's first reading), as an SVG document.
pub fn timeline_svg(
    report: &ComplianceReport,
    reading: Option<&str>,
) -> Result<String, TimelineError> {
    let tally = choose(report, reading)?;
    let (first, n_days) = day_range(report, tally);
    let origin = first.and_time(chrono::NaiveTime::MIN).and_utc();
    // Day i's bar is centred on x = i; a time maps to its fraction of a day.
    let x_of = |t: DateTime<Utc>| (t - origin).num_seconds() as f64 / DAY_SECONDS - 0.5;
    let (x_min, x_max) = (-0.5, n_days as f64 - 0.5);
    let parties = perpetrators(tally);
    let per_day = tally
        .and_then(|t| t.current.as_ref())
        .map(|c| c.per_day.as_slice())
        .unwrap_or_default();
    let y_max = per_day
        .iter()
        .map(|d| d.total.max(d.by_perpetrator.iter().map(|k| k.count).sum()))
        .max()
        .unwrap_or(0)
        .max(1);
    let y_top = y_max as f64 * 1.25 + 0.5;

    let title = report
        .agreement
        .as_ref()
        .and_then(|v| v.agreement.as_ref())
        .map_or("", |a| a.title.as_str());
    let reading_label = match tally {
        Some(t) if t.reading.is_empty() => "start agreed by all".to_owned(),
        Some(t) => format!("start per {}", t.reading),
        None => "no reading".to_owned(),
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (main, footer) = root.split_vertically(SIZE.1 - FOOTER_HEIGHT);
        let (plot, legend) = main.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                format!("{title}: in-scope alleged violations per day ({reading_label})"),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(44)
            .build_cartesian_2d(x_min..x_max, 0.0..y_top)
            .map_err(draw_err)?;
        draw_axes(&mut chart, first, n_days, y_top)?;
        let shaded = draw_window(&mut chart, report, tally, &x_of, (x_min, x_max), y_top)?;
        draw_bars(&mut chart, per_day, &parties, first)?;
        let marks = draw_marks(&mut chart, report, &x_of, (x_min, x_max), y_top)?;
        let window = shaded.then_some(reading_label.as_str());
        draw_legend(&legend, &parties, window, marks)?;
        draw_footer(&footer, report)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// The axes: a label under each day (at most 15), whole counts up the
/// side.
fn draw_axes(
    chart: &mut Chart<'_, '_>,
    first: NaiveDate,
    n_days: u64,
    y_top: f64,
) -> Result<(), TimelineError> {
    let day_label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        first
            .checked_add_days(Days::new(i as u64))
            .map_or_else(String::new, |d| d.format("%m-%d").to_string())
    };
    let count_label = |y: &f64| {
        if (y - y.round()).abs() < 1e-6 {
            format!("{}", y.round())
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(usize::try_from(n_days).unwrap_or(15).clamp(1, 15))
        .y_labels((y_top.floor() as usize + 1).min(11))
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&day_label)
        .y_label_formatter(&count_label)
        .x_desc(format!("day (UTC), from {first}"))
        .y_desc("alleged violations in scope")
        .draw()
        .map_err(draw_err)
}

/// Shades the window in which the agreement applied under this reading;
/// whether any of it is in view.
fn draw_window(
    chart: &mut Chart<'_, '_>,
    report: &ComplianceReport,
    tally: Option<&ComplianceTally>,
    x_of: &dyn Fn(DateTime<Utc>) -> f64,
    (x_min, x_max): (f64, f64),
    y_top: f64,
) -> Result<bool, TimelineError> {
    let period = report.period.unwrap_or_default();
    let until = tally.and_then(|t| to_time(t.effective_until.as_ref()));
    let window_to = [to_time(period.to.as_ref()), until]
        .into_iter()
        .flatten()
        .min();
    let Some(from) = tally.and_then(|t| to_time(t.effective_from.as_ref())) else {
        return Ok(false);
    };
    let x0 = x_of(from).max(x_min);
    let x1 = window_to.map_or(x_max, x_of).min(x_max);
    if x1 <= x0 {
        return Ok(false);
    }
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(x0, 0.0), (x1, y_top)],
            SHADE.mix(0.3).filled(),
        )))
        .map_err(draw_err)?;
    Ok(true)
}

/// One rect per (day, perpetrator) with a count, stacked in `parties`'
/// order.
fn draw_bars(
    chart: &mut Chart<'_, '_>,
    per_day: &[DayCount],
    parties: &[String],
    first: NaiveDate,
) -> Result<(), TimelineError> {
    for day in per_day {
        let Ok(date) = NaiveDate::parse_from_str(&day.day, "%Y-%m-%d") else {
            continue;
        };
        let x = (date - first).num_days() as f64;
        let mut base = 0.0;
        for party in parties {
            let count = day
                .by_perpetrator
                .iter()
                .filter(|k| &k.key == party)
                .map(|k| k.count)
                .sum::<u64>();
            if count == 0 {
                continue;
            }
            let top = base + count as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.4, base), (x + 0.4, top)],
                    colour_of(party).filled(),
                )))
                .map_err(draw_err)?;
            draw_hatch(chart, hatch_for(party), (x - 0.4, x + 0.4), (base, top))?;
            base = top;
        }
    }
    Ok(())
}

/// Which kinds of marks were drawn (for the legend).
#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    other: bool,
    extension: bool,
    stop: bool,
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A status change's colour and label: extensions and the expiry green,
/// lapses, ends and supersessions red (with "(overridden)" when a later
/// extension or return to force takes effect at or before it), the rest
/// grey.
fn status_mark(statuses: &[AgreementStatusRecord], k: usize) -> (RGBColor, String) {
    let s = &statuses[k];
    let label = enum_label(s.status().as_str_name(), "AGREEMENT_STATUS_");
    match s.status() {
        AgreementStatus::Extended => (EXTENSION, label),
        AgreementStatus::Lapsed | AgreementStatus::Ended | AgreementStatus::Superseded => {
            let at = to_time(s.effective_at.as_ref());
            let overridden = statuses[k + 1..].iter().any(|later| {
                matches!(
                    later.status(),
                    AgreementStatus::Extended | AgreementStatus::InForce
                ) && to_time(later.effective_at.as_ref()).is_some_and(|e| Some(e) <= at)
            });
            if overridden {
                (STOP, format!("{label} (overridden)"))
            } else {
                (STOP, label)
            }
        }
        _ => (MARK, label),
    }
}

/// Status changes and the expiry: a vertical line and a label each,
/// staggered.
fn draw_marks(
    chart: &mut Chart<'_, '_>,
    report: &ComplianceReport,
    x_of: &dyn Fn(DateTime<Utc>) -> f64,
    (x_min, x_max): (f64, f64),
    y_top: f64,
) -> Result<Marks, TimelineError> {
    let statuses: &[AgreementStatusRecord] = report
        .agreement
        .as_ref()
        .map_or(&[], |v| v.statuses.as_slice());
    let mut lines: Vec<(DateTime<Utc>, RGBColor, String)> = (0..statuses.len())
        .filter_map(|k| {
            let at = to_time(statuses[k].effective_at.as_ref())?;
            let (colour, label) = status_mark(statuses, k);
            Some((at, colour, label))
        })
        .collect();
    let expiry = report
        .agreement
        .as_ref()
        .and_then(|v| v.agreement.as_ref())
        .and_then(|a| to_time(a.expires_at.as_ref()));
    if let Some(at) = expiry {
        lines.push((at, EXTENSION, format!("expires {}", at.format("%m-%d"))));
    }
    let mut marks = Marks::default();
    for (k, (at, colour, label)) in lines.into_iter().enumerate() {
        let x = x_of(at);
        if !(x_min..=x_max).contains(&x) {
            continue;
        }
        match colour {
            EXTENSION => marks.extension = true,
            STOP => marks.stop = true,
            _ => marks.other = true,
        }
        // Right of the line, or left of it near the right edge.
        let right_edge = x > x_min + 0.75 * (x_max - x_min);
        let (h_pos, dx) = if right_edge {
            (HPos::Right, -3)
        } else {
            (HPos::Left, 3)
        };
        let style = ("sans-serif", 12)
            .into_font()
            .color(&colour)
            .pos(Pos::new(h_pos, VPos::Top));
        let dy = 2 + 14 * i32::try_from(k % 3).unwrap_or(0);
        chart
            .draw_series([PathElement::new(
                vec![(x, 0.0), (x, y_top)],
                colour.stroke_width(1),
            )])
            .map_err(draw_err)?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x, y_top)) + Text::new(label, (dx, dy), style),
            ))
            .map_err(draw_err)?;
    }
    Ok(marks)
}

/// Under the chart: the log sequence and the checkpoint it shows, so a
/// reader can ask for the same report again (`--as-of`) and check it.
fn draw_footer(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    report: &ComplianceReport,
) -> Result<(), TimelineError> {
    let checkpoint = match &report.checkpoint {
        Some(c) => {
            let root = hex::encode(&c.root_hash);
            format!(
                "checkpoint {} size {} root {}",
                c.origin,
                c.tree_size,
                root.get(..16).unwrap_or(&root)
            )
        }
        None => "no checkpoint".to_owned(),
    };
    let text = format!("as of log sequence {}; {checkpoint}", report.as_of_sequence);
    area.draw(&Text::new(text, (12, 4), ("sans-serif", 12).into_font()))
        .map_err(draw_err)
}

/// The legend, beside the plot: a swatch per perpetrator, then the
/// shading and the kinds of lines drawn.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    parties: &[String],
    window: Option<&str>,
    marks: Marks,
) -> Result<(), TimelineError> {
    let font = ("sans-serif", 13).into_font();
    let mut y = 48;
    let mut row = |area: &DrawingArea<SVGBackend<'_>, Shift>, label: String| {
        let at = y;
        y += 20;
        area.draw(&Text::new(label, (28, at), font.clone()))
            .map(|()| at)
            .map_err(draw_err)
    };
    area.draw(&Text::new(
        "alleged perpetrator".to_owned(),
        (8, 24),
        font.clone(),
    ))
    .map_err(draw_err)?;
    if parties.is_empty() {
        row(area, "(none in scope)".to_owned())?;
    }
    for party in parties {
        let at = row(area, party_name(party).to_owned())?;
        area.draw(&Rectangle::new(
            [(8, at), (20, at + 12)],
            colour_of(party).filled(),
        ))
        .map_err(draw_err)?;
        for [(ax, ay), (bx, by)] in
            hatch_for(party).lines((8.0, 20.0), (at.into(), f64::from(at + 12)))
        {
            area.draw(&PathElement::new(
                vec![(ax as i32, ay as i32), (bx as i32, by as i32)],
                HATCH_INK.stroke_width(1),
            ))
            .map_err(draw_err)?;
        }
    }
    if let Some(reading) = window {
        let at = row(area, format!("in effect ({reading})"))?;
        area.draw(&Rectangle::new(
            [(8, at), (20, at + 12)],
            SHADE.mix(0.3).filled(),
        ))
        .map_err(draw_err)?;
    }
    for (drawn, colour, label) in [
        (marks.other, MARK, "status change"),
        (marks.extension, EXTENSION, "extension, expiry"),
        (marks.stop, STOP, "lapse, end, supersession"),
    ] {
        if drawn {
            let at = row(area, label.to_owned())?;
            area.draw(&PathElement::new(
                vec![(14, at - 2), (14, at + 14)],
                colour.stroke_width(1),
            ))
            .map_err(draw_err)?;
        }
    }
    Ok(())
}
