//! Geographic helpers of the domain: bounding boxes (the query filters
//! and the scope engine test a report's point against one).

use truce_proto::v1::BoundingBox;

/// Whether a point is inside a box (boxes with west > east cross the
/// antimeridian).
pub fn in_bbox(b: &BoundingBox, lat: f64, lon: f64) -> bool {
    let lon_ok = if b.west <= b.east {
        (b.west..=b.east).contains(&lon)
    } else {
        lon >= b.west || lon <= b.east
    };
    (b.south..=b.north).contains(&lat) && lon_ok
}
