//! OGC API – Tiles (vector tiles, WebMercatorQuad) for the same collections as OGC API –
//! Features: `/ogc/collections/{id}/tiles`, `/ogc/collections/{id}/tiles/WebMercatorQuad`
//! (tileset metadata), `/ogc/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}` (note the
//! OGC row-before-column order), and `/ogc/tileMatrixSets[/WebMercatorQuad]`.

use crate::routes::path::Path;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use bando_core::access::Viewer;

use super::base_url;
use super::tiles::{MVT_CONTENT_TYPE, parse_version, serve_tile};
use crate::access::{Caller, key_query};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

const WEB_MERCATOR_QUAD: &str = "WebMercatorQuad";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";

fn check_matrix_set(tms: &str) -> ApiResult<()> {
    if tms == WEB_MERCATOR_QUAD {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no tile matrix set {tms:?} (only {WEB_MERCATOR_QUAD})"
        )))
    }
}

fn tileset(state: &AppState, headers: &HeaderMap, id: &str, viewer: &Viewer) -> ApiResult<Value> {
    let source = state
        .catalog
        .get(id, viewer)
        .ok_or_else(|| ApiError::NotFound(format!("no collection {id:?}")))?;
    let layer = source.layer();
    let base = format!("{}/ogc", base_url(state, headers));
    let bbox = layer
        .bounds
        .clone()
        .unwrap_or_else(|| vec![-180.0, -85.0511, 180.0, 85.0511]);
    Ok(json!({
        "title": layer.title,
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "boundingBox": {
            "lowerLeft": [bbox[0], bbox[1]], "upperRight": [bbox[2], bbox[3]],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        },
        "tileMatrixSetLimits": [],
        "layers": [{
            "id": layer.slug, "dataType": "vector", "geometryDimension": null,
            "minTileMatrix": layer.minzoom.to_string(), "maxTileMatrix": layer.maxzoom.to_string(),
        }],
        "links": [
            { "rel": "self", "type": "application/json",
              "href": format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}") },
            { "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": "application/json",
              "href": format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}") },
            { "rel": "item", "type": MVT_CONTENT_TYPE, "templated": true,
              "href": format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}?v={}{}", layer.revision,
                  key_query(viewer).map(|k| format!("&{k}")).unwrap_or_default()) },
        ]
    }))
}

/// `GET /ogc/collections/{id}/tiles`.
#[utoipa::path(get, path = "/ogc/collections/{id}/tiles", tag = "ogc-tiles", operation_id = "ogc_tilesets",
    params(("id" = String, Path)),
    responses((status = 200, description = "OGC API – Tiles", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such collection (or one the caller may not see)", body = Problem, content_type = "application/problem+json")))]
pub async fn tilesets(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let one = tileset(&state, &headers, &id, &viewer)?;
    Ok(Json(json!({ "tilesets": [one] })))
}

/// `GET /ogc/collections/{id}/tiles/{tms}`.
#[utoipa::path(get, path = "/ogc/collections/{id}/tiles/{tileMatrixSetId}", tag = "ogc-tiles", operation_id = "ogc_tileset_metadata",
    params(("id" = String, Path), ("tileMatrixSetId" = super::api_types::TileMatrixSetId, Path)),
    responses((status = 200, description = "OGC API – Tiles", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such collection or tile matrix set", body = Problem, content_type = "application/problem+json")))]
pub async fn tileset_metadata(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path((id, tms)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    check_matrix_set(&tms)?;
    Ok(Json(tileset(&state, &headers, &id, &viewer)?))
}

/// `GET /ogc/collections/{id}/tiles/{tms}/{z}/{y}/{x}`.
#[utoipa::path(get, path = "/ogc/collections/{id}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}", tag = "ogc-tiles", operation_id = "ogc_tile",
    params(("id" = String, Path), ("tileMatrixSetId" = super::api_types::TileMatrixSetId, Path),
           ("tileMatrix" = u8, Path, description = "Zoom 0..=24", minimum = 0, maximum = 24),
           ("tileRow" = u32, Path, description = "Row from the north 0..2^z; beyond the zoom's grid, no tile (404)", minimum = 0, maximum = 16777215),
           ("tileCol" = u32, Path, description = "Column 0..2^z; beyond the zoom's grid, no tile (404)", minimum = 0, maximum = 16777215)),
    responses((status = 200, description = "Mapbox Vector Tile", content_type = "application/vnd.mapbox-vector-tile"),
              (status = 204, description = "No feature in this tile"), (status = 304, description = "Not modified (ETag)"),
              (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such collection or tile matrix set, or no such tile at this zoom", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn tile(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path((id, tms, z, y, x)): Path<(String, String, String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_matrix_set(&tms)?;
    let coord = super::tiles::tile_address(("tileMatrix", &z), ("tileCol", &x), ("tileRow", &y))?;
    serve_tile(
        &state,
        &viewer,
        &id,
        coord,
        parse_version(query.as_deref())?,
        &headers,
    )
    .await
}

/// `GET /ogc/tileMatrixSets`.
#[utoipa::path(get, path = "/ogc/tileMatrixSets", tag = "ogc-tiles", operation_id = "ogc_matrix_sets",
        responses((status = 200, description = "OGC API – Tiles", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json")))]
pub async fn matrix_sets(
    State(state): State<AppState>,
    Caller(_viewer): Caller,
    headers: HeaderMap,
) -> Json<Value> {
    let base = format!("{}/ogc", base_url(&state, &headers));
    Json(json!({ "tileMatrixSets": [{
        "id": WEB_MERCATOR_QUAD, "uri": TMS_URI,
        "links": [{ "rel": "self", "href": format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}") }]
    }]}))
}

/// `GET /ogc/tileMatrixSets/{tms}`: the OGC 2D TMS definition of WebMercatorQuad.
#[utoipa::path(get, path = "/ogc/tileMatrixSets/{tileMatrixSetId}", tag = "ogc-tiles", operation_id = "ogc_matrix_set",
    params(("tileMatrixSetId" = super::api_types::TileMatrixSetId, Path)),
    responses((status = 200, description = "OGC API – Tiles", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such tile matrix set", body = Problem, content_type = "application/problem+json")))]
pub async fn matrix_set(
    Caller(_viewer): Caller,
    Path(tms): Path<String>,
) -> ApiResult<Json<Value>> {
    check_matrix_set(&tms)?;
    let half = bando_core::tile::MERCATOR_HALF_SIZE;
    let matrices: Vec<Value> = (0..=bando_core::tile::MAX_ZOOM)
        .map(|z| {
            let n = 1u64 << z;
            let cell = 2.0 * half / (256.0 * n as f64);
            json!({
                "id": z.to_string(), "scaleDenominator": cell / 0.00028, "cellSize": cell,
                "cornerOfOrigin": "topLeft", "pointOfOrigin": [-half, half],
                "tileWidth": 256, "tileHeight": 256, "matrixWidth": n, "matrixHeight": n
            })
        })
        .collect();
    Ok(Json(json!({
        "id": WEB_MERCATOR_QUAD, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857", "orderedAxes": ["E", "N"],
        "tileMatrices": matrices
    })))
}
