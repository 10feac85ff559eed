//! The agreement page "now" without making its reader wait for a
//! compliance report. Computing one over 100,000 reports takes seconds
//! (docs/benchmarks.md), and every new entry moves "now" to a sequence
//! with no report yet. When the cache holds a report of the agreement at
//! an earlier sequence, the page is rendered whole at that sequence (its
//! map, claims and statuses too, so it is one consistent view of the log,
//! named on the page) with a notice, while the report at the newest
//! sequence is computed in the background; the page's script fetches it
//! again until the notice is gone, and a reader without the script
//! reloads. With nothing kept, the page computes and waits, as before.

use std::sync::Arc;

use super::{Web, pages::compute_compliance};

/// The sequence to render the page at: `newest`, or the newest earlier
/// sequence with a kept report while `newest`'s is computed (the second
/// value, then `Some(newest)`).
pub(crate) fn sequence_to_show(web: &Web, id: &str, newest: u64) -> (u64, Option<u64>) {
    if web.compliance.get(id, newest).is_some() {
        return (newest, None);
    }
    let Some(kept) = web.compliance.newest_before(id, newest) else {
        return (newest, None);
    };
    if web.compliance.start(id) {
        let (web, id) = (web.clone(), id.to_owned());
        tokio::spawn(async move {
            match compute_compliance(&web, &id, newest).await {
                Ok(report) => {
                    let at = report.as_of_sequence;
                    web.compliance.put(&id, at, Arc::new(report));
                }
                Err(e) => tracing::warn!(agreement = %id, sequence = newest, error = %e,
                    "web view: the compliance report could not be computed"),
            }
            web.compliance.finish(&id);
        });
    } else if !web.compliance.is_computing(id) {
        // No room for another background computation: compute now.
        return (newest, None);
    }
    (kept, Some(newest))
}
