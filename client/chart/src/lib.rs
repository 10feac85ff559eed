//! truce-chart: a compliance report's charts as SVG, pure (no I/O, no
//! fonts), so that the `truce` command line (`truce compliance --svg`)
//! and the daemon's web view draw the same chart from the same report.
//! It depends on the protocol alone: the command line re-exports
//! [`timeline`], the daemon's read side calls it. [`centroids`] is where
//! both place a report that has no coordinates (the GeoJSON export, the
//! web view's map).

#![forbid(unsafe_code)]

pub mod centroids;
pub mod hatch;
pub mod timeline;

/// An enum value's label: `AGREEMENT_STATUS_IN_FORCE` with prefix
/// `AGREEMENT_STATUS_` → `in-force` (the command line's vocabulary).
pub(crate) fn enum_label(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// A party as the chart names it: its code, or "unattributed".
pub(crate) fn party_name(code: &str) -> &str {
    if code.is_empty() {
        "unattributed"
    } else {
        code
    }
}
