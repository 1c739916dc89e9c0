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
        super::sprites::sprite_list,
        super::sprites::sprite,
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
        super::ogc_queryables::queryables,
        super::ogc_tiles::tilesets,
        super::ogc_tiles::tileset_metadata,
        super::ogc_tiles::tile,
        super::ogc_tiles::matrix_sets,
        super::ogc_tiles::matrix_set,
        super::agencies::list,
        super::agencies::create,
        super::agencies::keys,
        super::agencies::create_key,
        super::agencies::revoke_key,
        super::agencies::audit,
        super::sharing::update,
        super::sharing::grants,
        super::sharing::grant,
        super::sharing::revoke_grant,
        super::sharing::rollback,
        super::uploads::upload,
        super::uploads::job,
        super::health::health,
        super::health::ready,
        super::health::metrics,
    ),
    components(schemas(Problem, InvalidParam)),
    modifiers(&ApiKeys),
    tags(
        (name = "tiles", description = "Vector tiles and TileJSON"),
        (name = "catalog", description = "The layer catalog"),
        (name = "styles", description = "MapLibre styles of the base map"),
        (name = "queries", description = "Ward lookup, nearest, within, search"),
        (name = "ogc-features", description = "OGC API – Features Part 1"),
        (name = "ogc-tiles", description = "OGC API – Tiles (vector)"),
        (name = "agencies", description = "Agencies, API keys and the audit log"),
        (name = "sharing", description = "Visibility, grants and rollback of an agency's layers"),
        (name = "publishing", description = "Uploads into an agency's namespace, as import jobs"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// API keys: optional on reading endpoints (without one, public layers only), required to
/// change anything.
struct ApiKeys;

impl utoipa::Modify for ApiKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "key",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("key"))),
        );
        openapi.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("key", Vec::<String>::new()),
        ]);
    }
}

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
