//! `GET /api`: the OpenAPI 3 document of every route, generated from the handlers' annotations.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use utoipa::OpenApi;

use super::{api_types, base_url};
use crate::access::Caller;
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
        super::changes::changes,
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
        super::retirement::retire_layer,
        super::retirement::list,
        super::retirement::restore,
        super::retirement::purge,
        super::uploads::upload,
        super::uploads::job,
        super::health::health,
        super::health::ready,
        super::health::metrics,
    ),
    components(schemas(Problem, InvalidParam, api_types::Engine, api_types::OgcFormat,
        api_types::FilterLang, api_types::FilterCrs, api_types::Visibility, api_types::UploadMode,
        api_types::OnInvalid, api_types::AdminLevel, api_types::Scope, api_types::TileMatrixSetId,
        api_types::NewAgencyBody, api_types::NewKeyBody, api_types::LayerChangeBody,
        api_types::UploadBody, super::changes::ChangePage, super::changes::TileChange,
        super::changes::TilesetChange, super::changes::TileRange)),
    modifiers(&ApiKeys, &KeyErrors, &GlyphRanges, &Links, &UploadInputs, &NoNul, &NonEmptyChange),
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

/// Routes that read no API key (fonts, sprites, health): every other route may answer 401 (a key
/// unknown, revoked or expired: never a silent downgrade) and 429 (too many such keys from one
/// address).
const KEYLESS: [&str; 7] = [
    "/fonts",
    "/fonts/{fontstack}/{range}.pbf",
    "/sprites",
    "/sprites/{file}",
    "/health",
    "/ready",
    "/metrics",
];

struct KeyErrors;

impl utoipa::Modify for KeyErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if KEYLESS.contains(&path.as_str()) {
                continue;
            }
            for operation in operations(item) {
                let responses = &mut operation.responses.responses;
                responses.entry("401".to_owned()).or_insert_with(|| {
                    problem("The API key is unknown, revoked or expired").into()
                });
                responses.entry("429".to_owned()).or_insert_with(|| {
                    problem("Too many invalid API keys from this address; retry after `Retry-After` seconds").into()
                });
            }
        }
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// An upload's CRS and the names of the source's layer and columns take the forms the importer
/// accepts (`bando_importers::crs_definition`): its own patterns, so the document and the
/// server never differ.
struct UploadInputs;

impl utoipa::Modify for UploadInputs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use bando_importers::crs_definition::{CRS_PATTERN, MAX_LENGTH, NAME_PATTERN};
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let Some(upload) = openapi
            .paths
            .paths
            .get_mut("/v1/agencies/{agency}/layers/{layer}/uploads")
            .and_then(|item| item.post.as_mut())
        else {
            return;
        };
        for parameter in upload.parameters.iter_mut().flatten() {
            let (pattern, max_length) = match parameter.name.as_str() {
                "source_crs" => (CRS_PATTERN, MAX_LENGTH),
                "source_layer" | "lon_column" | "lat_column" | "wkt_column" => (NAME_PATTERN, 1020),
                _ => continue,
            };
            if let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut() {
                object.pattern = Some(pattern.to_owned());
                object.max_length = Some(max_length);
            }
        }
    }
}

/// No parameter or request-body text may hold a NUL character (`%00` or `\u0000`; the server
/// refuses it, see `routes::refuse_nul` and `access::json_body`): string parameters and string
/// properties of request bodies without a pattern of their own say so with one.
struct NoNul;

impl NoNul {
    const PATTERN: &'static str = "^[^\\u0000]*$";

    fn mark(object: &mut utoipa::openapi::schema::Object) {
        use utoipa::openapi::schema::{SchemaType, Type};
        if matches!(&object.schema_type, SchemaType::Type(Type::String))
            && object.pattern.is_none()
            && object.enum_values.is_none()
            && object.format.is_none()
        {
            object.pattern = Some(Self::PATTERN.to_owned());
        }
    }
}

impl utoipa::Modify for NoNul {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let mut bodies = Vec::new();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut() {
                        Self::mark(object);
                    }
                }
                let contents = operation
                    .request_body
                    .iter()
                    .flat_map(|b| b.content.values());
                for schema in contents.filter_map(|c| c.schema.as_ref()) {
                    if let RefOr::Ref(reference) = schema {
                        bodies.push(
                            reference
                                .ref_location
                                .rsplit('/')
                                .next()
                                .unwrap_or_default()
                                .to_owned(),
                        );
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in bodies {
            if let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut(&name) {
                for property in body.properties.values_mut() {
                    if let RefOr::T(Schema::Object(object)) = property {
                        Self::mark(object);
                    }
                }
            }
        }
    }
}

/// A layer change names at least one value. Set here because utoipa-gen 5.5 writes a container's
/// `min_properties` as `maxProperties` (its `Feature::MinProperties` arm calls `max_properties`).
struct NonEmptyChange;

impl utoipa::Modify for NonEmptyChange {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        if let Some(components) = openapi.components.as_mut()
            && let Some(RefOr::T(Schema::Object(object))) =
                components.schemas.get_mut("LayerChangeBody")
        {
            object.min_properties = Some(1);
            object.max_properties = None;
        }
    }
}

/// The glyph route's `range`: the 256 ranges of 256 code points, `0-255` … `65280-65535`.
struct GlyphRanges;

impl utoipa::Modify for GlyphRanges {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ObjectBuilder, Type};
        let ranges: Vec<String> = (0..256u32)
            .map(|i| format!("{}-{}", i * 256, i * 256 + 255))
            .collect();
        let Some(get) = openapi
            .paths
            .paths
            .get_mut("/fonts/{fontstack}/{range}.pbf")
            .and_then(|item| item.get.as_mut())
        else {
            return;
        };
        for parameter in get.parameters.iter_mut().flatten() {
            if parameter.name == "range" {
                parameter.schema = Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(ranges.clone()))
                        .into(),
                );
            }
        }
    }
}

/// OpenAPI links from what a response creates to the operations that use it (a new agency's
/// keys, a new key's revocation, an upload's job, a catalog entry's TileJSON and collection, a
/// page's first feature, a grant's revocation):
/// what lets a client, or a stateful test, follow the API from one answer to the next.
struct Links;

impl utoipa::Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        type Link = (&'static str, &'static str, &'static str, &'static str);
        let links: [(Link, &[(&str, &str)]); 13] = [
            (
                ("/v1/agencies", "post", "201", "keys"),
                &[("agency", "$response.body#/slug")],
            ),
            (
                ("/v1/agencies", "post", "201", "create_key"),
                &[("agency", "$response.body#/slug")],
            ),
            (
                ("/v1/agencies/{agency}/keys", "post", "201", "revoke_key"),
                &[("id", "$response.body#/id")],
            ),
            (
                (
                    "/v1/agencies/{agency}/layers/{layer}/uploads",
                    "post",
                    "202",
                    "job",
                ),
                &[("id", "$response.body#/job")],
            ),
            (
                ("/catalog", "get", "200", "tilejson"),
                &[("layer", "$response.body#/0/id")],
            ),
            (
                ("/catalog", "get", "200", "collection_one"),
                &[("id", "$response.body#/0/id")],
            ),
            (
                ("/catalog", "get", "200", "queryables"),
                &[("id", "$response.body#/0/id")],
            ),
            (
                ("/ogc/collections/{id}/items", "get", "200", "item"),
                &[
                    ("id", "$request.path.id"),
                    ("fid", "$response.body#/features/0/id"),
                ],
            ),
            (
                ("/v1/layers/{layer}/grants", "get", "200", "revoke_grant"),
                &[
                    ("layer", "$request.path.layer"),
                    ("agency", "$response.body#/0/agency"),
                ],
            ),
            (
                (
                    "/v1/layers/{layer}",
                    "delete",
                    "200",
                    "restore_retired_layer",
                ),
                &[("layer", "$response.body#/layer")],
            ),
            (
                ("/v1/retired-layers", "get", "200", "restore_retired_layer"),
                &[("layer", "$response.body#/0/layer")],
            ),
            (
                ("/v1/retired-layers", "get", "200", "purge_retired_layer"),
                &[("layer", "$response.body#/0/layer")],
            ),
            (
                (
                    "/v1/layers/{layer}/grants/{agency}",
                    "put",
                    "204",
                    "revoke_grant",
                ),
                &[
                    ("layer", "$request.path.layer"),
                    ("agency", "$request.path.agency"),
                ],
            ),
        ];
        for ((path, method, status, target), parameters) in links {
            let Some(item) = openapi.paths.paths.get_mut(path) else {
                continue;
            };
            let operation = match method {
                "post" => item.post.as_mut(),
                "put" => item.put.as_mut(),
                _ => item.get.as_mut(),
            };
            let Some(utoipa::openapi::RefOr::T(response)) =
                operation.and_then(|o| o.responses.responses.get_mut(status))
            else {
                continue;
            };
            let link = parameters.iter().fold(
                LinkBuilder::new().operation_id(target),
                |link, (name, value)| link.parameter(*name, *value),
            );
            response
                .links
                .insert(target.to_owned(), link.build().into());
        }
    }
}

/// `GET /api`.
pub async fn openapi(
    State(state): State<AppState>,
    // A key presented here is checked like anywhere else: an invalid one is a 401.
    Caller(_viewer): Caller,
    headers: HeaderMap,
) -> Json<serde_json::Value> {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![utoipa::openapi::Server::new(base_url(
        &state, &headers,
    ))]);
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    camel_case_links(&mut value);
    ogc_limit_parameter(&mut value);
    Json(value)
}

/// OGC API – Features (/req/core/fc-limit-definition) has clients read the page size limits of
/// the items route from the `limit` parameter component (QGIS does, and otherwise pages by 100):
/// the items operation's `limit` becomes a reference to `components.parameters.limit`.
fn ogc_limit_parameter(doc: &mut serde_json::Value) {
    let limit = serde_json::json!({
        "name": "limit", "in": "query", "required": false, "style": "form", "explode": false,
        "description": "Features per page",
        "schema": { "type": "integer", "minimum": 1,
                    "maximum": super::ogc_features::MAX_LIMIT, "default": super::ogc_features::DEFAULT_LIMIT }
    });
    if let Some(components) = doc.get_mut("components").and_then(|c| c.as_object_mut()) {
        components.insert(
            "parameters".to_owned(),
            serde_json::json!({ "limit": limit }),
        );
    }
    let parameters = doc
        .pointer_mut("/paths/~1ogc~1collections~1{id}~1items/get/parameters")
        .and_then(|p| p.as_array_mut());
    for parameter in parameters.into_iter().flatten() {
        if parameter.get("name").and_then(|n| n.as_str()) == Some("limit") {
            *parameter = serde_json::json!({ "$ref": "#/components/parameters/limit" });
        }
    }
}

/// utoipa 5.5 writes the fields of a Link object in snake case (`operation_id`); OpenAPI spells
/// them `operationId`, `operationRef`, `requestBody`.
fn camel_case_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
    {
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(|r| r.as_object_mut())
        else {
            continue;
        };
        for links in responses
            .values_mut()
            .filter_map(|r| r.get_mut("links"))
            .filter_map(|l| l.as_object_mut())
        {
            for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
                for (snake, camel) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(value) = link.remove(snake) {
                        link.insert(camel.to_owned(), value);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the document says an upload's CRS and names may be is the importer's rule itself.
    #[test]
    fn upload_inputs_state_the_importers_rules() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("document serialises");
        let parameters =
            doc["paths"]["/v1/agencies/{agency}/layers/{layer}/uploads"]["post"]["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        let pattern = |name: &str| {
            parameters
                .iter()
                .find(|p| p["name"] == name)
                .and_then(|p| p["schema"]["pattern"].as_str())
                .map(str::to_owned)
        };
        assert_eq!(
            pattern("source_crs").as_deref(),
            Some(bando_importers::crs_definition::CRS_PATTERN)
        );
        for name in ["source_layer", "lon_column", "lat_column", "wkt_column"] {
            assert_eq!(
                pattern(name).as_deref(),
                Some(bando_importers::crs_definition::NAME_PATTERN),
                "{name}"
            );
        }
    }

    /// The server refuses NUL in any body text (`access::json_body`); a schema that allowed it
    /// would have clients send requests "valid by the schema" that are then refused.
    #[test]
    fn request_body_text_fields_forbid_nul() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("document serialises");
        let change = &doc["components"]["schemas"]["LayerChangeBody"]["properties"];
        for field in ["title", "description", "attribution", "layout"] {
            let pattern = change[field]["pattern"].as_str().unwrap_or_default();
            assert!(
                pattern.starts_with("^[^\\u0000]*") && pattern.ends_with("[^\\u0000]*$"),
                "{field} allows NUL: {pattern:?}"
            );
        }
    }
}
