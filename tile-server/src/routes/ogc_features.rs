//! OGC API – Features Part 1 (Core, GeoJSON) over the layers the caller may see, under `/ogc`:
//! landing page, `/conformance`, `/collections`, `/collections/{id}`,
//! `/collections/{id}/items` (bbox, limit, offset, property filters; `next` links) and
//! `/collections/{id}/items/{fid}`. GDAL's OAPIF driver and QGIS read it. Part 3: CQL2 text
//! `filter` on items (see [`crate::query::cql2`]) and `/collections/{id}/queryables`; `datetime` against
//! a layer's validity period (see [`crate::query::ogc_datetime`]).

use crate::routes::path::Path;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bando_core::layer::{Layer, quote_ident};
use serde_json::{Value, json};

use crate::query::NON_ATTRIBUTE_COLUMNS;
use bando_core::access::Viewer;
use sqlx::Arguments;
use sqlx::postgres::PgArguments;

use crate::query::cql2;
use crate::query::ogc_datetime::DateRange;

use super::{GEOJSON, base_url, geojson};
use crate::access::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Largest page of items.
pub const MAX_LIMIT: i64 = 10_000;
pub const DEFAULT_LIMIT: i64 = 10;
/// The names of CRS84 a client may give as `filter-crs`.
const CRS84: [&str; 2] = [
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "https://www.opengis.net/def/crs/OGC/1.3/CRS84",
];

/// Rejects query parameters other than `f=json` (OGC: unknown parameters are a 400).
pub(super) fn only_format(query: Option<&str>) -> ApiResult<()> {
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if name == "key" {
            continue;
        }
        if name != "f" || !matches!(value.as_ref(), "json" | "geojson") {
            return Err(ApiError::param(
                name.into_owned(),
                "unknown parameter or format",
            ));
        }
    }
    Ok(())
}

/// `GET /ogc`.
#[utoipa::path(get, path = "/ogc", tag = "ogc-features",
    params(("f" = Option<super::api_types::OgcFormat>, Query, description = "Response format: json (the only one)")),
    responses((status = 200, description = "Landing page", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn landing(
    State(state): State<AppState>,
    // A key presented here is checked like anywhere else: an invalid one is a 401.
    Caller(_viewer): Caller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    only_format(q.as_deref())?;
    let root = base_url(&state, &headers);
    let base = format!("{root}/ogc");
    Ok(Json(json!({
        "title": "bando — Ho Chi Minh City shared base map",
        "description": "Layers of the city's shared digital map as OGC API – Features",
        "links": [
            { "href": base, "rel": "self", "type": "application/json", "title": "This document" },
            { "href": format!("{root}/api"), "rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.1", "title": "The API definition (OpenAPI)" },
            { "href": format!("{base}/conformance"), "rel": "conformance", "type": "application/json", "title": "Conformance classes" },
            { "href": format!("{base}/collections"), "rel": "data", "type": "application/json", "title": "Collections" },
        ]
    })))
}

/// `GET /ogc/conformance`.
#[utoipa::path(get, path = "/ogc/conformance", tag = "ogc-features",
    params(("f" = Option<super::api_types::OgcFormat>, Query, description = "Response format: json (the only one)")),
    responses((status = 200, description = "Conformance classes", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn conformance(Caller(_viewer): Caller, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    only_format(q.as_deref())?;
    Ok(Json(json!({
        "conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
            "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
            "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
            "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
            "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
            "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
            "http://www.opengis.net/spec/cql2/1.0/conf/accent-insensitive-comparison",
            "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
            "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
            "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
            "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
        ]
    })))
}

fn collection(layer: &Layer, base: &str) -> Value {
    let bbox = layer
        .bounds
        .clone()
        .unwrap_or_else(|| vec![-180.0, -90.0, 180.0, 90.0]);
    let href = format!("{base}/collections/{}", layer.slug);
    let mut extent = json!({ "spatial": { "bbox": [bbox], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84" } });
    if layer.valid_from.is_some() || layer.valid_to.is_some() {
        // The validity period [from, to): the interval's end is the last valid day.
        let end = layer.valid_to.and_then(|to| to.pred_opt());
        extent["temporal"] = json!({
            "interval": [[layer.valid_from, end]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        });
    }
    json!({
        "id": layer.slug,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "extent": extent,
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "links": [
            { "href": href, "rel": "self", "type": "application/json" },
            { "href": format!("{href}/items"), "rel": "items", "type": GEOJSON, "title": "Features" },
            { "href": format!("{href}/queryables"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": "application/schema+json", "title": "Queryables" },
            { "href": format!("{href}/tiles"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "type": "application/json", "title": "Vector tiles" },
        ]
    })
}

/// `GET /ogc/collections`.
#[utoipa::path(get, path = "/ogc/collections", tag = "ogc-features",
    params(("f" = Option<super::api_types::OgcFormat>, Query, description = "Response format: json (the only one)")),
    responses((status = 200, description = "The collections the caller may see", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn collections(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    only_format(q.as_deref())?;
    let base = format!("{}/ogc", base_url(&state, &headers));
    let collections: Vec<Value> = state
        .catalog
        .layers(&viewer)
        .iter()
        .map(|l| collection(l, &base))
        .collect();
    Ok(Json(json!({
        "links": [{ "href": format!("{base}/collections"), "rel": "self", "type": "application/json" }],
        "collections": collections,
    })))
}

pub(super) fn layer_of(state: &AppState, id: &str, viewer: &Viewer) -> ApiResult<Layer> {
    state
        .catalog
        .layer(id, viewer)
        .ok_or_else(|| ApiError::NotFound(format!("no collection {id:?}")))
}

/// `GET /ogc/collections/{id}`.
#[utoipa::path(get, path = "/ogc/collections/{id}", tag = "ogc-features",
    params(("id" = String, Path), ("f" = Option<super::api_types::OgcFormat>, Query, description = "Response format: json (the only one)")),
    responses((status = 200, description = "One collection", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such collection (or one the caller may not see)", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn collection_one(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    only_format(q.as_deref())?;
    let layer = layer_of(&state, &id, &viewer)?;
    Ok(private_unless_public(
        &layer,
        Json(collection(
            &layer,
            &format!("{}/ogc", base_url(&state, &headers)),
        ))
        .into_response(),
    ))
}

/// Marks an answer about a layer that is not public `Cache-Control: private`: what one caller's
/// key may read, no shared cache keeps for the next.
pub(super) fn private_unless_public(layer: &Layer, mut response: Response) -> Response {
    if layer.visibility != bando_core::layer::Visibility::Public {
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("private"),
        );
    }
    response
}

/// `GET /ogc/collections/{id}/items`.
#[utoipa::path(get, path = "/ogc/collections/{id}/items", tag = "ogc-features",
    description = "Features of a collection, paged (`next` link). Other query parameters naming queryable properties filter by equality; any other name is refused.",
    params(("id" = String, Path),
           ("bbox" = Option<String>, Query, description = "west,south,east,north (CRS84), west < east, south < north", pattern = "^\\s*-?[0-9]+(\\.[0-9]+)?\\s*(,\\s*-?[0-9]+(\\.[0-9]+)?\\s*){3}$"),
           ("limit" = Option<i64>, Query, description = "Default 10", minimum = 1, maximum = 10000),
           ("offset" = Option<i64>, Query, description = "Default 0", minimum = 0),
           ("datetime" = Option<String>, Query, description = "RFC 3339 instant or interval (`a/b`, `../b`, `a/..`), matched against the layer's validity period"),
           ("filter" = Option<String>, Query, description = "CQL2 filter over the queryables, in the language of `filter-lang`"),
           ("filter-lang" = Option<super::api_types::FilterLang>, Query, description = "`cql2-text` (default) or `cql2-json`"),
           ("filter-crs" = Option<super::api_types::FilterCrs>, Query, description = "CRS84 (the only one)"),
           ("f" = Option<super::api_types::OgcFormat>, Query, description = "Response format: json (the only one)")),
    responses((status = 200, description = "GeoJSON FeatureCollection", content_type = "application/geo+json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such collection (or one the caller may not see)", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn items(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let layer = layer_of(&state, &id, &viewer)?;
    let mut limit = DEFAULT_LIMIT;
    let mut offset = 0_i64;
    let mut bbox: Option<[f64; 4]> = None;
    let mut filters: Vec<(String, String)> = Vec::new();
    let mut filter: Option<String> = None;
    let mut json_filter = false;
    let mut in_period = true;
    let mut passthrough: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()) {
        let (name, value) = (name.into_owned(), value.into_owned());
        match name.as_str() {
            "limit" => {
                limit = super::page_limit(&value, MAX_LIMIT)?;
            }
            "offset" => {
                offset = value
                    .parse()
                    .ok()
                    .filter(|o: &i64| *o >= 0)
                    .ok_or_else(|| ApiError::param("offset", "must be a non-negative integer"))?;
            }
            "bbox" => {
                bbox = Some(super::nearby::parse_bbox(&value)?);
                passthrough.push((name, value));
            }
            "f" if matches!(value.as_str(), "json" | "geojson") => {}
            "datetime" => {
                let range = DateRange::parse(&value).map_err(|e| ApiError::param("datetime", e))?;
                in_period = range.overlaps(layer.valid_from, layer.valid_to);
                passthrough.push((name, value));
            }
            "filter" => {
                filter = Some(value.clone());
                passthrough.push((name, value));
            }
            "filter-lang" if matches!(value.as_str(), "cql2-text" | "cql2-json") => {
                json_filter = value == "cql2-json";
                passthrough.push((name, value));
            }
            "filter-lang" => {
                return Err(ApiError::param(
                    "filter-lang",
                    "must be cql2-text (the default) or cql2-json",
                ));
            }
            "filter-crs" if CRS84.contains(&value.as_str()) => passthrough.push((name, value)),
            "filter-crs" => {
                return Err(ApiError::param(
                    "filter-crs",
                    "only CRS84 (http://www.opengis.net/def/crs/OGC/1.3/CRS84) is supported",
                ));
            }
            // The API key (always this name; a layer attribute called `key` cannot be filtered).
            "key" => passthrough.push((name, value)),
            field if layer.fields.iter().any(|f| f.name == field) => {
                filters.push((name.clone(), value.clone()));
                passthrough.push((name, value));
            }
            _ => return Err(ApiError::param(name, "unknown parameter")),
        }
    }
    // Parsed once every parameter is read: `filter-lang` may come after `filter`.
    let cql2 = filter
        .map(|text| {
            if json_filter {
                cql2::parse_json(&text)
            } else {
                cql2::parse_text(&text)
            }
        })
        .transpose()
        .map_err(|e| ApiError::param("filter", e.0))?;
    let table = layer.qualified_table();
    let mut conditions = String::from(if in_period { "true" } else { "false" });
    if bbox.is_some() {
        conditions.push_str(" AND t.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) AND ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))");
    }
    for (i, (name, _)) in filters.iter().enumerate() {
        conditions.push_str(&format!(" AND {}::text = ${}", quote_ident(name), 7 + i));
    }
    let cql2 = cql2
        .map(|expr| cql2::to_sql(&expr, &layer.fields, 7 + filters.len()))
        .transpose()
        .map_err(|e| ApiError::param("filter", e.0))?;
    if let Some(cql2) = &cql2 {
        conditions.push_str(" AND ");
        conditions.push_str(&cql2.sql);
    }
    let [w, s, e, n] = bbox.unwrap_or([0.0; 4]);
    // $1-$4 bbox, $5 limit, $6 offset, then the property filters, then the CQL2 values.
    let arguments = || -> Result<PgArguments, sqlx::Error> {
        let mut arguments = PgArguments::default();
        for v in [w, s, e, n] {
            arguments.add(v).map_err(sqlx::Error::Encode)?;
        }
        arguments.add(limit).map_err(sqlx::Error::Encode)?;
        arguments.add(offset).map_err(sqlx::Error::Encode)?;
        for (_, value) in &filters {
            arguments.add(value.as_str()).map_err(sqlx::Error::Encode)?;
        }
        for value in cql2.iter().flat_map(|c| &c.values) {
            value.add_to(&mut arguments)?;
        }
        Ok(arguments)
    };
    let count_sql = format!(
        "SELECT count(*) FROM {table} t WHERE {conditions} AND $5::bigint >= 0 AND $6::bigint >= 0"
    );
    let matched = sqlx::query_scalar_with::<_, i64, _>(&count_sql, arguments()?)
        .fetch_one(state.read_db()?)
        .await?;
    let items_sql = format!(
        "SELECT t.fid, to_jsonb(t) - {NON_ATTRIBUTE_COLUMNS} - 'fid', ST_AsGeoJSON(t.geom, 7)::jsonb \
         FROM {table} t WHERE {conditions} ORDER BY t.fid LIMIT $5 OFFSET $6"
    );
    let items_query =
        sqlx::query_as_with::<_, (i64, Value, Option<Value>), _>(&items_sql, arguments()?);
    let rows = items_query.fetch_all(state.read_db()?).await?;
    let returned = rows.len() as i64;
    let features: Vec<Value> = rows
        .into_iter()
        .map(|(fid, properties, geometry)| {
            json!({ "type": "Feature", "id": fid, "properties": properties, "geometry": geometry })
        })
        .collect();
    let base = format!(
        "{}/ogc/collections/{}/items",
        base_url(&state, &headers),
        layer.slug
    );
    let link = |offset: i64| {
        let mut params = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &passthrough {
            params.append_pair(k, v);
        }
        params.append_pair("limit", &limit.to_string());
        params.append_pair("offset", &offset.to_string());
        format!("{base}?{}", params.finish())
    };
    let mut links = vec![json!({ "href": link(offset), "rel": "self", "type": GEOJSON })];
    if offset + returned < matched {
        links.push(json!({ "href": link(offset + returned), "rel": "next", "type": GEOJSON }));
    }
    if offset > 0 {
        links
            .push(json!({ "href": link((offset - limit).max(0)), "rel": "prev", "type": GEOJSON }));
    }
    Ok(private_unless_public(
        &layer,
        geojson(json!({
            "type": "FeatureCollection",
            "timeStamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "numberMatched": matched,
            "numberReturned": returned,
            "features": features,
            "links": links,
        })),
    ))
}

/// `GET /ogc/collections/{id}/items/{fid}`.
#[utoipa::path(get, path = "/ogc/collections/{id}/items/{fid}", tag = "ogc-features",
    params(("id" = String, Path), ("fid" = i64, Path), ("f" = Option<super::api_types::OgcFormat>, Query, description = "Response format: json (the only one)")),
    responses((status = 200, description = "GeoJSON Feature", content_type = "application/geo+json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such collection or feature", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn item(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path((id, fid)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    only_format(q.as_deref())?;
    let layer = layer_of(&state, &id, &viewer)?;
    let fid: i64 = fid
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no feature {fid:?} in {id:?}")))?;
    let row: Option<(Value, Option<Value>)> = sqlx::query_as(&format!(
        "SELECT to_jsonb(t) - {NON_ATTRIBUTE_COLUMNS} - 'fid', ST_AsGeoJSON(t.geom, 7)::jsonb FROM {} t WHERE t.fid = $1",
        layer.qualified_table()
    ))
    .bind(fid)
    .fetch_optional(state.read_db()?)
    .await?;
    let (properties, geometry) =
        row.ok_or_else(|| ApiError::NotFound(format!("no feature {fid} in {id:?}")))?;
    let base = format!(
        "{}/ogc/collections/{}",
        base_url(&state, &headers),
        layer.slug
    );
    Ok(private_unless_public(
        &layer,
        geojson(json!({
            "type": "Feature",
            "id": fid,
            "properties": properties,
            "geometry": geometry,
            "links": [
                { "href": format!("{base}/items/{fid}"), "rel": "self", "type": GEOJSON },
                { "href": base, "rel": "collection", "type": "application/json" },
            ]
        })),
    ))
}
