//! `GET /v1/changes?since=&limit=`: the changed tiles of every publish and edit, for CDN purge
//! jobs and offline packs. Versioned tile URLs never change; this says which tiles of the
//! unversioned (or next-versioned) URLs did, so a cache can drop exactly those.
//!
//! Each change lists, per tileset drawing the layer (its own and the configured composites), the
//! zooms it serves and per zoom the column and row ranges the change touches (tiles draw a
//! margin beyond their edges, so neighbours on a boundary are included); `tiles: null` means the
//! whole tileset. The cursor is a transaction id below every transaction still running when the
//! page was read, so a change that commits late is never skipped: pass `next` back as `since`.
//! The price: a change is listed only once every transaction that began before it has ended (a
//! long import delays the feed by its duration; servers hear of changes by notification at once).
//! Only changes of layers the caller may see now are listed.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bando_core::tile::{MAX_ZOOM, lonlat_to_tile_fraction};
use serde::Serialize;

use crate::access::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::tiles::change_log::ChangeRow;

/// Default and largest page.
const DEFAULT_LIMIT: i64 = 100;
/// Largest page.
pub const MAX_LIMIT: i64 = 1000;
/// Above this many boxes a change's ranges are given for their union (the page stays small).
const MAX_BOXES_LISTED: usize = 16;

/// A page of the feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangePage {
    /// Changes, oldest first.
    pub changes: Vec<TileChange>,
    /// Cursor for the next page (pass as `since`).
    pub next: i64,
    /// Whether more changes are waiting (ask again at once with `next`).
    pub more: bool,
}

/// One change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TileChange {
    /// Change id.
    pub seq: i64,
    /// Layer changed.
    pub layer: String,
    /// Its revision after the change (the `v` of its versioned tile URLs).
    pub revision: i64,
    /// When.
    pub changed_at: String,
    /// WGS84 `[west, south, east, north]` boxes changed; `null`: anywhere.
    pub areas: Option<Vec<[f64; 4]>>,
    /// Tiles to drop, per tileset.
    pub tilesets: Vec<TilesetChange>,
}

/// The tiles of one tileset a change touches.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TilesetChange {
    /// Tileset id as in `/tiles/{tileset}/…`.
    pub tileset: String,
    /// Per zoom and box, the inclusive column and row ranges; `null`: every tile.
    pub tiles: Option<Vec<TileRange>>,
}

/// Inclusive ranges of tiles at one zoom.
#[derive(Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct TileRange {
    /// Zoom.
    pub z: u8,
    /// First and last column.
    pub x: [u32; 2],
    /// First and last row (from the north).
    pub y: [u32; 2],
}

/// The tile ranges at zooms `minzoom..=maxzoom` covering `boxes` (WGS84), with the margin tiles
/// draw beyond their edges.
pub fn tile_ranges(boxes: &[[f64; 4]], minzoom: u8, maxzoom: u8) -> Vec<TileRange> {
    let boxes: Vec<[f64; 4]> = if boxes.len() > MAX_BOXES_LISTED {
        let union = boxes.iter().fold(boxes[0], |a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        });
        vec![union]
    } else {
        boxes.to_vec()
    };
    let margin = 64.0 / 4096.0;
    let mut ranges = Vec::new();
    for z in minzoom..=maxzoom.min(MAX_ZOOM) {
        let last = f64::from((1u32 << z) - 1);
        // Tile indices are below 2^24: exact in f64 and in u32.
        let index = |v: f64| v.floor().clamp(0.0, last) as u32;
        for &[w, s, e, n] in &boxes {
            let (x0, y0) = lonlat_to_tile_fraction(w, n, z);
            let (x1, y1) = lonlat_to_tile_fraction(e, s, z);
            ranges.push(TileRange {
                z,
                x: [index(x0 - margin), index(x1 + margin)],
                y: [index(y0 - margin), index(y1 + margin)],
            });
        }
    }
    ranges
}

/// `GET /v1/changes`.
#[utoipa::path(get, path = "/v1/changes", tag = "tiles",
    params(("since" = Option<i64>, Query, description = "Cursor from the previous page's `next`; 0 or absent: from the oldest change kept (7 days)", minimum = 0),
           ("limit" = Option<i64>, Query, description = "Most changes per page (default 100)", minimum = 1, maximum = 1000)),
    responses((status = 200, description = "Changed tiles since the cursor", body = ChangePage, content_type = "application/json"),
              (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "The API key is unknown, revoked or expired", body = Problem, content_type = "application/problem+json"),
              (status = 410, description = "Changes after `since` were pruned: drop every cached tile and start again from 0", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn changes(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let mut since = 0_i64;
    let mut limit = DEFAULT_LIMIT;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "since" => {
                since = value.parse().ok().filter(|s| *s >= 0).ok_or_else(|| {
                    ApiError::param("since", "must be a cursor from `next` (an integer ≥ 0)")
                })?;
            }
            "limit" => {
                limit = super::page_limit(&value, MAX_LIMIT)?;
            }
            _ => {}
        }
    }
    let pool = state.db()?;
    let mut connection = pool.acquire().await?;
    let pruned: Option<i64> =
        sqlx::query_scalar("SELECT revision FROM bando.change_floors WHERE layer = '*'")
            .fetch_optional(&mut *connection)
            .await?;
    if since > 0 && pruned.is_some_and(|below| since < below) {
        return Err(ApiError::Gone(
            "changes after this cursor were pruned; drop every cached tile and start again with since=0"
                .to_owned(),
        ));
    }
    let horizon: i64 = sqlx::query_scalar(include_str!("../tiles/sql/change_horizon.sql"))
        .fetch_one(&mut *connection)
        .await?;
    // One more than asked: says whether more wait, and where the next page starts.
    let mut rows: Vec<ChangeRow> = sqlx::query_as(include_str!("../tiles/sql/changes_page.sql"))
        .bind(since)
        .bind(horizon)
        .bind(limit + 1)
        .fetch_all(&mut *connection)
        .await?;
    drop(connection);
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let next = if more {
        // Pages end between transactions, so a cursor never splits one.
        let cut = rows[rows.len() - 1].xid;
        if rows.iter().any(|r| r.xid != cut) {
            rows.retain(|r| r.xid != cut);
            cut
        } else {
            cut + 1
        }
    } else {
        horizon
    };
    let changes = rows
        .into_iter()
        .filter_map(|row| describe(&state, &viewer, row))
        .collect();
    let mut response = Json(ChangePage {
        changes,
        next,
        more,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A row as the feed shows it, if the caller may see its layer.
fn describe(
    state: &AppState,
    viewer: &bando_core::access::Viewer,
    row: ChangeRow,
) -> Option<TileChange> {
    let layer = state.catalog.layer(&row.layer, viewer)?;
    let areas = row.areas.map(|a| a.0);
    let mut ids = vec![row.layer.clone()];
    // Composites drawn for the public draw public layers only.
    if layer.visibility == bando_core::layer::Visibility::Public {
        ids.extend(state.catalog.composites_drawing(&row.layer));
    }
    let tilesets = ids
        .into_iter()
        .filter_map(|id| {
            let source = state.catalog.tileset(&id, viewer).ok()?;
            let (minzoom, maxzoom) = source.zoom_range();
            Some(TilesetChange {
                tileset: id,
                tiles: areas
                    .as_ref()
                    .map(|boxes| tile_ranges(boxes, minzoom, maxzoom)),
            })
        })
        .collect();
    Some(TileChange {
        seq: row.seq,
        layer: row.layer,
        revision: row.revision,
        changed_at: row.changed_at.to_rfc3339(),
        areas,
        tilesets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_box_and_the_margin_neighbours() {
        // Bến Thành market: one z14 tile, and its neighbour when the box reaches the edge.
        let market = [106.6980, 10.7724, 106.6982, 10.7726];
        let ranges = tile_ranges(&[market], 14, 15);
        assert_eq!(
            ranges[0],
            TileRange {
                z: 14,
                x: [13047, 13047],
                y: [7698, 7698]
            }
        );
        assert_eq!(ranges.len(), 2);
        // Many boxes are given as their union.
        let many: Vec<[f64; 4]> = (0..20)
            .map(|i| {
                let lon = 106.6 + f64::from(i) * 0.01;
                [lon, 10.7, lon + 0.001, 10.701]
            })
            .collect();
        assert_eq!(tile_ranges(&many, 10, 10).len(), 1);
    }
}
