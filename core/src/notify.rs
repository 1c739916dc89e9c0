//! Publish notifications: the importers `NOTIFY` on [`PUBLISH_CHANNEL`] after a layer's new version
//! is live; the server `LISTEN`s to refresh its catalog and drop the affected cached tiles.

use serde::{Deserialize, Serialize};

/// PostgreSQL channel of publish notifications.
pub const PUBLISH_CHANNEL: &str = "bando_publish";

/// Payload of a publish notification (JSON, well under PostgreSQL's 8000-byte limit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishNotice {
    /// Catalog id of the layer.
    #[serde(default)]
    pub id: i64,
    /// Slug of the layer that changed.
    pub layer: String,
    /// Its catalog version after the change.
    pub version: i32,
    /// WGS84 `[west, south, east, north]` of what changed; `None` means "anything may have".
    pub bounds: Option<[f64; 4]>,
    /// When not empty, the change lies within these boxes (all inside `bounds`): an edit of a few
    /// features far apart (an OSM change file) stales the tiles around each, not all between.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub areas: Vec<[f64; 4]>,
    /// The content did not change at all (a republish of identical data): no tile is stale.
    #[serde(default)]
    pub unchanged: bool,
    /// The layer's revision after the change (set by the database when it records the change;
    /// see [`announce`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// The change's row in the change log (`bando.changes.seq`), set by the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

/// Records `notice` in the change log and notifies it on [`PUBLISH_CHANNEL`], in the caller's
/// transaction (so both happen exactly when the change commits). Returns the change's seq.
pub async fn announce(
    connection: &mut sqlx::PgConnection,
    notice: &PublishNotice,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT bando.announce($1)")
        .bind(sqlx::types::Json(notice))
        .fetch_one(connection)
        .await
}

/// Most boxes a notice lists: keeps the payload far below PostgreSQL's 8000-byte limit.
pub const MAX_NOTICE_AREAS: usize = 64;

/// Groups WGS84 boxes into at most `max` boxes covering them all: boxes are grouped by the Web
/// Mercator tile their centre falls in, at the finest zoom (from 16 down) with at most `max`
/// groups, and each group becomes the union of its boxes. Nothing is lost (every input lies in
/// an output box) and nearby edits share a box.
pub fn group_areas(boxes: &[[f64; 4]], max: usize) -> Vec<[f64; 4]> {
    use std::collections::BTreeMap;
    if boxes.is_empty() || max == 0 {
        return Vec::new();
    }
    for zoom in (0..=16u8).rev() {
        let mut groups: BTreeMap<(i64, i64), [f64; 4]> = BTreeMap::new();
        for b in boxes {
            let (fx, fy) = crate::tile::lonlat_to_tile_fraction(
                (b[0] + b[2]) / 2.0,
                (b[1] + b[3]) / 2.0,
                zoom,
            );
            // Cell indices only group boxes; any rounding of far-off values is harmless.
            let cell = (fx.floor() as i64, fy.floor() as i64);
            groups
                .entry(cell)
                .and_modify(|g| {
                    g[0] = g[0].min(b[0]);
                    g[1] = g[1].min(b[1]);
                    g[2] = g[2].max(b[2]);
                    g[3] = g[3].max(b[3]);
                })
                .or_insert(*b);
        }
        if groups.len() <= max || zoom == 0 {
            return groups.into_values().collect();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_apart_edits_keep_their_own_boxes_and_many_are_grouped() {
        let a = [106.70, 10.77, 106.701, 10.771];
        let b = [106.80, 10.85, 106.801, 10.851];
        assert_eq!(group_areas(&[a, b], 64), vec![a, b]);
        let many: Vec<[f64; 4]> = (0..500)
            .map(|i| {
                let x = 106.6 + f64::from(i) * 0.0005;
                [x, 10.7, x + 0.0001, 10.7001]
            })
            .collect();
        let grouped = group_areas(&many, 64);
        assert!(grouped.len() <= 64, "{}", grouped.len());
        for m in &many {
            assert!(
                grouped
                    .iter()
                    .any(|g| g[0] <= m[0] && g[1] <= m[1] && g[2] >= m[2] && g[3] >= m[3])
            );
        }
    }
}
