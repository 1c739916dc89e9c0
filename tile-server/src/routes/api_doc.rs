//! `GET /api`: the OpenAPI 3 document of every route, generated from the handlers' annotations.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use utoipa::OpenApi;

use super::base_url;
use crate::error::{InvalidParam, Problem};
use crate::state::AppState;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "bando",
        description = "Ho Chi Minh City's shared digital base map: vector tiles, spatial queries and OGC API – Features. Coordinates are WGS84 longitude/latitude; distances are geodesic metres."
    ),
    paths(
        super::tiles::tile,
        super::tilejson::tilejson,
        super::catalog::catalog,
        super::styles::style,
        super::fonts::font_list,
        super::fonts::glyphs,
        super::wards::ward_at,
        super::nearby::nearest,
        super::nearby::within,
        super::search::search,
        super::ogc_features::landing,
        super::ogc_features::conformance,
        super::ogc_features::collections,
        super::ogc_features::collection_one,
        super::ogc_features::items,
        super::ogc_features::item,
        super::ogc_tiles::tilesets,
        super::ogc_tiles::tileset_metadata,
        super::ogc_tiles::tile,
        super::ogc_tiles::matrix_sets,
        super::ogc_tiles::matrix_set,
        super::health::health,
        super::health::ready,
        super::health::metrics,
    ),
    components(schemas(Problem, InvalidParam)),
    tags(
        (name = "tiles", description = "Vector tiles and TileJSON"),
        (name = "catalog", description = "The layer catalog"),
        (name = "styles", description = "MapLibre styles of the base map"),
        (name = "queries", description = "Ward lookup, nearest, within, search"),
        (name = "ogc-features", description = "OGC API – Features Part 1"),
        (name = "ogc-tiles", description = "OGC API – Tiles (vector)"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// `GET /api`.
pub async fn openapi(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![utoipa::openapi::Server::new(base_url(
        &state, &headers,
    ))]);
    Json(doc)
}
