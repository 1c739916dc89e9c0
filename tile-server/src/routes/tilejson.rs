//! `GET /tiles/{layer}.json`: TileJSON 3.0.0 with absolute, versioned tile URLs.

use std::collections::BTreeMap;

use crate::routes::path::Path;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use bando_core::layer::FieldKind;

use super::base_url;
use super::tiles::tileset_error;
use crate::access::{Caller, key_query};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::tiles::sources::TilesetInfo;

/// A TileJSON 3.0.0 document (<https://github.com/mapbox/tilejson-spec/tree/master/3.0.0>).
#[derive(Debug, Serialize)]
pub struct TileJson {
    /// Spec version, `3.0.0`.
    pub tilejson: &'static str,
    /// Tile URL templates.
    pub tiles: Vec<String>,
    /// MVT layers in the tiles.
    pub vector_layers: Vec<VectorLayer>,
    /// Tileset name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Semver of the data: the content revision as major.
    pub version: String,
    /// Attribution HTML.
    pub attribution: String,
    /// Always `xyz`.
    pub scheme: &'static str,
    /// Lowest zoom.
    pub minzoom: u8,
    /// Highest zoom.
    pub maxzoom: u8,
    /// WGS84 `[west, south, east, north]`.
    pub bounds: [f64; 4],
    /// `[lon, lat, zoom]` to open the map at.
    pub center: [f64; 3],
}

/// One entry of `vector_layers`.
#[derive(Debug, Serialize)]
pub struct VectorLayer {
    /// MVT layer name.
    pub id: String,
    /// Attribute names and types.
    pub fields: BTreeMap<String, FieldKind>,
    /// Description.
    pub description: String,
    /// Lowest zoom.
    pub minzoom: u8,
    /// Highest zoom.
    pub maxzoom: u8,
}

impl TileJson {
    /// The TileJSON of any tileset; `key_query` (`key=…`) is appended to the tile URLs of keyed
    /// callers.
    pub fn for_tileset(info: TilesetInfo, base: &str, key_query: Option<&str>) -> Self {
        let meta = info.meta;
        let bounds =
            info.bounds
                .unwrap_or([-180.0, -85.051_128_779_806_59, 180.0, 85.051_128_779_806_59]);
        let center_zoom = 12u8.clamp(meta.minzoom, meta.maxzoom);
        Self {
            tilejson: "3.0.0",
            tiles: vec![format!(
                "{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt?v={}{}",
                meta.id,
                info.revision,
                key_query.map(|k| format!("&{k}")).unwrap_or_default()
            )],
            vector_layers: info
                .vector_layers
                .into_iter()
                .map(|l| VectorLayer {
                    id: l.id,
                    fields: l.fields,
                    description: l.description,
                    minzoom: l.minzoom,
                    maxzoom: l.maxzoom,
                })
                .collect(),
            name: meta.title,
            description: meta.description,
            version: format!("{}.0.0", info.revision),
            attribution: meta.attribution,
            scheme: "xyz",
            minzoom: meta.minzoom,
            maxzoom: meta.maxzoom,
            center: [
                (bounds[0] + bounds[2]) / 2.0,
                (bounds[1] + bounds[3]) / 2.0,
                f64::from(center_zoom),
            ],
            bounds,
        }
    }
}

/// `GET /tiles/{tileset}.json`: a layer, a composite (`basemap`) or `a,b,…`.
#[utoipa::path(get, path = "/tiles/{layer}.json", tag = "tiles",
    params(("layer" = String, Path, description = "Layer slug, composite id (`basemap`) or up to 16 comma-separated layer slugs", pattern = "^[^,\\u0000]+(,[^,\\u0000]+){0,15}$")),
    responses((status = 200, description = "TileJSON 3.0.0", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer (or one the caller may not see), or nothing there", body = Problem, content_type = "application/problem+json")))]
pub async fn tilejson(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<TileJson>> {
    let Some(slug) = file.strip_suffix(".json") else {
        return Err(ApiError::NotFound(format!(
            "no resource {file:?}; TileJSON is at /tiles/{{layer}}.json"
        )));
    };
    let source = state
        .catalog
        .tileset(slug, &viewer)
        .map_err(tileset_error)?;
    Ok(Json(TileJson::for_tileset(
        source.info(),
        &base_url(&state, &headers),
        key_query(&viewer).as_deref(),
    )))
}
