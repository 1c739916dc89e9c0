//! `GET /tiles/{layer}.json`: TileJSON 3.0.0 with absolute, versioned tile URLs.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;

use bando_core::layer::{FieldKind, Layer};

use super::base_url;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

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
    /// Semver of the data: the catalog version as major.
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
    /// The TileJSON of one layer.
    pub fn for_layer(layer: &Layer, base: &str) -> Self {
        let clamp = |z: i16| u8::try_from(z.clamp(0, 24)).unwrap_or(0);
        let (minzoom, maxzoom) = (clamp(layer.minzoom), clamp(layer.maxzoom));
        let bounds = layer
            .bounds
            .as_deref()
            .and_then(|b| <[f64; 4]>::try_from(b).ok())
            .unwrap_or([-180.0, -85.051_128_779_806_59, 180.0, 85.051_128_779_806_59]);
        let center_zoom = 10u8.clamp(minzoom, maxzoom);
        Self {
            tilejson: "3.0.0",
            tiles: vec![format!(
                "{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt?v={}",
                layer.slug, layer.version
            )],
            vector_layers: vec![VectorLayer {
                id: layer.slug.clone(),
                fields: layer
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), f.kind))
                    .collect(),
                description: layer.description.clone(),
                minzoom,
                maxzoom,
            }],
            name: layer.title.clone(),
            description: layer.description.clone(),
            version: format!("{}.0.0", layer.version),
            attribution: layer.attribution.clone(),
            scheme: "xyz",
            minzoom,
            maxzoom,
            center: [
                (bounds[0] + bounds[2]) / 2.0,
                (bounds[1] + bounds[3]) / 2.0,
                f64::from(center_zoom),
            ],
            bounds,
        }
    }
}

/// `GET /tiles/{layer}.json`.
#[utoipa::path(get, path = "/tiles/{layer}.json", tag = "tiles", params(("layer" = String, Path)),
    responses((status = 200, description = "TileJSON 3.0.0", content_type = "application/json"), (status = 404, description = "No such layer, or nothing there", body = Problem, content_type = "application/problem+json")))]
pub async fn tilejson(
    State(state): State<AppState>,
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
        .get(slug)
        .ok_or_else(|| ApiError::NotFound(format!("no layer {slug:?}")))?;
    Ok(Json(TileJson::for_layer(
        source.layer(),
        &base_url(&state, &headers),
    )))
}
