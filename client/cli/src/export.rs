//! Data for the tools analysts already use: report views as JSON Lines
//! (proto3 JSON, each with the entries behind it, so that `truce import`
//! can send them again as they were), and the formats of the shared
//! `truce-export` crate re-exported here: a GeoJSON FeatureCollection of
//! report points (placed at a centroid when a report has no coordinates)
//! and CSV in ACLED's columns and meanings. The web view writes the same
//! GeoJSON and CSV from the same crate. Pure functions over views and
//! entries (and [`entries_of`], which reads a view's entries); the CLI
//! streams them.

use truce_proto::v1::{Entry, ReportView};

use truce_client::{Client, ClientError};
pub use truce_export::{
    ACLED_COLUMNS, NEW_MEDIA, Placement, RECORD_ID_TAG, acled_actor, acled_civilian_targeting,
    acled_date, acled_disorder_type, acled_event, acled_fatalities, acled_geo_precision,
    acled_inter, acled_interaction, acled_row, acled_source_name, acled_source_scale,
    acled_sub_event, acled_time_precision, feature, feature_collection, placement, write_acled_csv,
};

use crate::import::jsonl::ENTRIES_KEY;

/// The entries behind a view (its history), in log order, as stored.
pub async fn entries_of(client: &Client, view: &ReportView) -> Result<Vec<Entry>, ClientError> {
    let mut out = Vec::with_capacity(view.history.len());
    for item in &view.history {
        let entry = client
            .get_entry(item.sequence)
            .await?
            .entry
            .ok_or_else(|| {
                ClientError::Request(format!("entry {} came back empty", item.sequence))
            })?;
        out.push(entry);
    }
    Ok(out)
}

/// One JSON Lines line of `truce export --format jsonl`: the view in proto3
/// JSON with its entries under `"entries"`.
pub fn jsonl_line(view: &ReportView, entries: &[Entry]) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(view)?;
    if let Some(object) = value.as_object_mut() {
        object.insert(ENTRIES_KEY.to_owned(), serde_json::to_value(entries)?);
    }
    serde_json::to_string(&value)
}
