//! The result table: one row per measure with its median, min and max
//! across runs, its ratios to the references of the same runs (F1, R1,
//! PostgreSQL, logical bytes) and the goals they are held to, rendered as
//! aligned text for the terminal and as Markdown. Rows whose side was
//! skipped say why instead of showing figures.

use super::stats::Spread;

/// A goal: at least or at most a bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    pub fn met(self, v: f64) -> bool {
        match self {
            Self::AtLeast(b) => v >= b,
            Self::AtMost(b) => v <= b,
        }
    }

    fn text(self, suffix: &str) -> String {
        match self {
            Self::AtLeast(b) => format!("≥ {b}{suffix}"),
            Self::AtMost(b) => format!("≤ {b}{suffix}"),
        }
    }
}

/// A measure divided by a reference of the same run.
#[derive(Debug, Clone)]
pub struct Ratio {
    /// What it is divided by ("F1", "PostgreSQL 64 clients").
    pub against: String,
    /// One per run; missing when the reference was skipped.
    pub values: Result<Vec<f64>, String>,
    pub goal: Option<Goal>,
}

/// One measure.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub unit: String,
    /// One per run, or why there are none.
    pub values: Result<Vec<f64>, String>,
    /// A goal on the value itself.
    pub goal: Option<Goal>,
    pub ratios: Vec<Ratio>,
}

impl Row {
    pub fn new(name: impl Into<String>, unit: &str, values: Result<Vec<f64>, String>) -> Self {
        Self {
            name: name.into(),
            unit: unit.to_owned(),
            values,
            goal: None,
            ratios: Vec::new(),
        }
    }

    pub fn goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self
    }

    /// Adds the ratio of this row's values to `reference`'s, run by run.
    pub fn ratio(
        mut self,
        against: &str,
        reference: &Result<Vec<f64>, String>,
        goal: Option<Goal>,
    ) -> Self {
        let values = match (&self.values, reference) {
            (Ok(v), Ok(r)) => Ok(v.iter().zip(r).map(|(a, b)| a / b).collect()),
            (Err(why), _) | (_, Err(why)) => Err(why.clone()),
        };
        self.ratios.push(Ratio {
            against: against.to_owned(),
            values,
            goal,
        });
        self
    }

    /// Every goal of the row and whether its median meets it (None: no
    /// figures to judge).
    pub fn verdicts(&self) -> Vec<(String, Option<bool>)> {
        let mut out = Vec::new();
        if let Some(g) = self.goal {
            let met = spread(&self.values).map(|s| g.met(s.median));
            out.push((g.text(&format!(" {}", self.unit)), met));
        }
        for r in &self.ratios {
            if let Some(g) = r.goal {
                let met = spread(&r.values).map(|s| g.met(s.median));
                out.push((g.text(&format!("× {}", r.against)), met));
            }
        }
        out
    }

    fn cells(&self) -> [String; 7] {
        let name = format!("{} ({})", self.name, self.unit);
        let figures = match (&self.values, spread(&self.values)) {
            (Ok(_), Some(s)) => [num(s.median), num(s.min), num(s.max)],
            (Err(_), _) | (_, None) => ["—".into(), "—".into(), "—".into()],
        };
        let ratios = self
            .ratios
            .iter()
            .filter_map(|r| {
                let s = spread(&r.values)?;
                Some(if s.min == s.max {
                    format!("{}× {}", num(s.median), r.against)
                } else {
                    format!(
                        "{}× {} ({}–{})",
                        num(s.median),
                        r.against,
                        num(s.min),
                        num(s.max)
                    )
                })
            })
            .collect::<Vec<_>>()
            .join("; ");
        let verdicts = self.verdicts();
        let goals = verdicts
            .iter()
            .map(|(g, _)| g.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut met = verdicts
            .iter()
            .map(|(_, m)| match m {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "?",
            })
            .collect::<Vec<_>>()
            .join(" ");
        if let Err(why) = &self.values {
            met = format!("skipped: {why}");
        } else if let Some(why) = self.ratios.iter().find_map(|r| r.values.as_ref().err()) {
            met = format!("{met} (no ratio: {why})").trim().to_owned();
        }
        let [median, min, max] = figures;
        [name, median, min, max, ratios, goals, met]
    }
}

fn spread(values: &Result<Vec<f64>, String>) -> Option<Spread> {
    values.as_ref().ok().and_then(|v| Spread::of(v))
}

/// A figure with three significant digits (thousands grouped).
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

const HEADER: [&str; 7] = [
    "measure",
    "median",
    "min",
    "max",
    "ratio (median, min–max)",
    "goal",
    "met",
];

/// A titled group of rows.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Lines before the table (settings, versions).
    pub preamble: Vec<String>,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for l in &self.preamble {
            out.push_str(l);
            out.push('\n');
        }
        if !self.preamble.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("| {} |\n", HEADER.join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
        for r in &self.rows {
            let cells = r.cells().map(|c| c.replace('|', "\\|"));
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// Columns padded to their widest cell.
    pub fn text(&self) -> String {
        let rows: Vec<[String; 7]> = std::iter::once(HEADER.map(str::to_owned))
            .chain(self.rows.iter().map(Row::cells))
            .collect();
        let mut widths = [0usize; 7];
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for l in &self.preamble {
            out.push_str(l);
            out.push('\n');
        }
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(k, (c, w))| {
                    let pad = w - c.chars().count();
                    if (1..=3).contains(&k) {
                        format!("{}{c}", " ".repeat(pad))
                    } else {
                        format!("{c}{}", " ".repeat(pad))
                    }
                })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(num(1_234_567.4), "1,234,567");
        assert_eq!(num(999.6), "1,000");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1.2345), "1.23");
        assert_eq!(num(0.01234), "0.012");
        assert_eq!(num(-4321.0), "-4,321");
        assert_eq!(num(f64::NAN), "NaN");
    }

    #[test]
    fn ratios_goals_and_skips() {
        let pg: Result<Vec<f64>, String> = Ok(vec![100.0, 200.0, 150.0]);
        let f1 = Ok(vec![50.0, 50.0, 50.0]);
        let row = Row::new("appends, 64 clients", "/s", Ok(vec![300.0, 300.0, 300.0]))
            .ratio("PostgreSQL", &pg, Some(Goal::AtLeast(1.5)))
            .ratio("F1", &f1, Some(Goal::AtLeast(8.0)));
        let v = row.verdicts();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].1, Some(true)); // median of 3, 1.5, 2 = 2
        assert_eq!(v[1].1, Some(false)); // 6 < 8
        let md = Report {
            preamble: vec!["# t".into()],
            rows: vec![row],
        }
        .markdown();
        assert!(md.contains("| appends, 64 clients (/s) | 300 | 300 | 300 | 2.00× PostgreSQL (1.50–3.00); 6.00× F1 | ≥ 1.5× PostgreSQL; ≥ 8× F1 | ✓ ✗ |"), "{md}");

        let skipped = Row::new(
            "PostgreSQL inserts, 1 client",
            "/s",
            Err("not found".into()),
        );
        let cells = skipped.cells();
        assert_eq!(cells[1], "—");
        assert_eq!(cells[6], "skipped: not found");
        let against = Row::new("appends, 1 client", "/s", Ok(vec![1.0])).ratio(
            "PostgreSQL",
            &Err("not found".into()),
            Some(Goal::AtLeast(1.0)),
        );
        assert_eq!(against.verdicts()[0].1, None);
        assert!(against.cells()[6].contains("no ratio: not found"));
    }

    #[test]
    fn value_goals_use_the_median() {
        let row = Row::new("query p99", "ms", Ok(vec![12.0, 8.0, 9.0])).goal(Goal::AtMost(10.0));
        assert_eq!(row.verdicts(), vec![("≤ 10 ms".to_owned(), Some(true))]);
        let text = Report {
            preamble: vec![],
            rows: vec![row],
        }
        .text();
        assert!(text.lines().count() == 2 && text.contains("✓"));
    }
}
