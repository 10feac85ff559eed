//! truce-export: report views in the formats analysts' tools read, pure
//! (no I/O beyond the writer it is given), so that `truce export` and the
//! daemon's web view (`/reports.geojson`, `/reports.csv`) write the same
//! bytes for the same views: GeoJSON features placed at the report's
//! coordinates or a centroid ([`geojson`]), and CSV rows in ACLED's
//! columns and meanings ([`acled`], with ACLED's country table in
//! [`countries`] and the record ids of ACLED events in [`ids`], which the
//! command line's import reads back). It depends on the protocol and on
//! `truce-chart`'s centroid table alone.

#![forbid(unsafe_code)]

pub mod acled;
mod centroids;
pub mod countries;
pub mod geojson;
pub mod ids;
mod time;

pub use self::acled::{
    ACLED_COLUMNS, NEW_MEDIA, RECORD_ID_TAG, acled_actor, acled_civilian_targeting, acled_date,
    acled_disorder_type, acled_event, acled_fatalities, acled_geo_precision, acled_inter,
    acled_interaction, acled_row, acled_source_name, acled_source_scale, acled_sub_event,
    acled_time_precision, write_acled, write_acled_csv,
};
pub use self::geojson::{Placement, feature, feature_collection, placement};
