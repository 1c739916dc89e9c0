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
    /// The content did not change at all (a republish of identical data): no tile is stale.
    #[serde(default)]
    pub unchanged: bool,
}
