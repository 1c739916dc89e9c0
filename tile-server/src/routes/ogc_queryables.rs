//! `GET /ogc/collections/{id}/queryables` (OGC API – Features Part 3): the properties a CQL2
//! `filter` or a `property=value` query parameter may use, as a JSON Schema.

use crate::routes::path::Path;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bando_core::layer::FieldKind;
use serde_json::{Map, Value, json};

use super::base_url;
use super::ogc_features::layer_of;
use crate::access::Caller;
use crate::error::{ApiResult, Problem};
use crate::state::AppState;

/// `GET /ogc/collections/{id}/queryables`.
#[utoipa::path(get, path = "/ogc/collections/{id}/queryables", tag = "ogc-features",
    params(("id" = String, Path), ("f" = Option<super::api_types::OgcFormat>, Query, description = "Response format: json (the only one)")),
    responses((status = 200, description = "JSON Schema of the queryable properties", content_type = "application/schema+json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such collection (or one the caller may not see)", body = Problem, content_type = "application/problem+json")))]
pub async fn queryables(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    super::ogc_features::only_format(q.as_deref())?;
    let layer = layer_of(&state, &id, &viewer)?;
    let mut properties = Map::new();
    properties.insert(
        "geometry".into(),
        json!({ "title": "Geometry", "format": geometry_format(&layer.geometry_type) }),
    );
    for field in &layer.fields {
        let kind = match field.kind {
            FieldKind::String => "string",
            FieldKind::Number => "number",
            FieldKind::Boolean => "boolean",
        };
        properties.insert(
            field.name.clone(),
            json!({ "title": field.source_name, "type": kind }),
        );
    }
    let href = format!(
        "{}/ogc/collections/{}/queryables",
        base_url(&state, &headers),
        layer.slug
    );
    let mut response = Json(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": href,
        "type": "object",
        "title": layer.title,
        "properties": Value::Object(properties),
        "additionalProperties": false,
    }))
    .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/schema+json"),
    );
    Ok(super::ogc_features::private_unless_public(&layer, response))
}

/// The Part 3 `format` keyword for a layer's OGC geometry type.
fn geometry_format(geometry_type: &str) -> &'static str {
    match geometry_type.to_ascii_lowercase().as_str() {
        "point" => "geometry-point",
        "multipoint" => "geometry-multipoint",
        "linestring" => "geometry-linestring",
        "multilinestring" => "geometry-multilinestring",
        "polygon" => "geometry-polygon",
        "multipolygon" => "geometry-multipolygon",
        _ => "geometry-any",
    }
}
