//! Spatial questions on a layer, with geodesic distances in metres (nearest points from the
//! in-memory index of `nearest_index.rs` when there is one, else PostGIS):
//!
//! - `GET /v1/layers/{layer}/nearest?lon=&lat=[&k=5][&max_distance=m][&{field}=value]`:
//!   the `k` features nearest to a point, nearest first;
//! - `GET /v1/layers/{layer}/within?lon=&lat=&radius=m` or `?bbox=w,s,e,n`
//!   `[&limit=100][&next=cursor][&{field}=value]`: the features within a radius of a point or in
//!   a box, by id, paged.
//!
//! Coordinates are WGS84 lon/lat. Answers are GeoJSON FeatureCollections whose features carry
//! `distance_m` when a point was given. Any other parameter naming a field of the layer filters
//! on it (text equality).

use std::collections::BTreeMap;

use crate::routes::path::Path;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use bando_core::layer::{Layer, quote_ident};
use serde_json::{Value, json};

use bando_core::access::Viewer;

use super::coordinates::degrees;
use crate::access::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::query::NON_ATTRIBUTE_COLUMNS;
use crate::state::AppState;

/// Most features one nearest query returns.
pub const MAX_K: u32 = 100;
/// Largest radius or max distance, in metres.
pub const MAX_RADIUS_M: f64 = 100_000.0;
/// Largest page of a within query.
pub const MAX_LIMIT: u32 = 1000;

struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    fn parse(query: Option<&str>) -> Self {
        Self {
            values: url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                // The API key, read by the `Caller` extractor.
                .filter(|(k, _)| k != "key")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    fn number(&mut self, name: &'static str, min: f64, max: f64) -> ApiResult<Option<f64>> {
        let Some(text) = self.values.remove(name) else {
            return Ok(None);
        };
        let v: f64 = text
            .parse()
            .map_err(|_| ApiError::param(name, format!("{text:?} is not a number")))?;
        if !v.is_finite() || v < min || v > max {
            return Err(ApiError::param(
                name,
                format!("{text} is outside {min}..{max}"),
            ));
        }
        Ok(Some(v))
    }

    fn point(&mut self) -> ApiResult<Option<(f64, f64)>> {
        let lon = self.number("lon", -180.0, 180.0)?.map(degrees);
        let lat = self.number("lat", -90.0, 90.0)?.map(degrees);
        match (lon, lat) {
            (Some(lon), Some(lat)) => Ok(Some((lon, lat))),
            (None, None) => Ok(None),
            (None, _) => Err(ApiError::param("lon", "is required with lat")),
            (_, None) => Err(ApiError::param("lat", "is required with lon")),
        }
    }

    /// The remaining parameters must be fields of the layer: equality filters.
    fn filters(self, layer: &Layer) -> ApiResult<Vec<(String, String)>> {
        let mut filters = Vec::new();
        for (name, value) in self.values {
            if !layer.fields.iter().any(|f| f.name == name) {
                return Err(ApiError::param(
                    name,
                    "unknown parameter: not an option here nor a field of the layer",
                ));
            }
            filters.push((name, value));
        }
        Ok(filters)
    }
}

fn layer_of(state: &AppState, slug: &str, viewer: &Viewer) -> ApiResult<Layer> {
    state
        .catalog
        .layer(slug, viewer)
        .ok_or_else(|| ApiError::NotFound(format!("no layer {slug:?}")))
}

/// `WHERE` fragments for the filters, with parameters numbered from `first`.
fn filter_sql(filters: &[(String, String)], first: usize) -> String {
    filters
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!(" AND {}::text = ${}", quote_ident(name), first + i))
        .collect()
}

/// Metres to the centimetre, as answered.
fn rounded_distance(metres: f64) -> f64 {
    (metres * 100.0).round() / 100.0
}

/// A feature of an in-memory index as GeoJSON, borrowing its parts.
#[derive(serde::Serialize)]
struct IndexedFeature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: i64,
    properties: WithDistance<'a>,
    geometry: &'a Value,
}

#[derive(serde::Serialize)]
struct IndexedCollection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<IndexedFeature<'a>>,
}

/// A feature's properties followed by `distance_m`.
struct WithDistance<'a> {
    properties: &'a Value,
    distance_m: f64,
}

impl serde::Serialize for WithDistance<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let properties = self.properties.as_object();
        let mut map = serializer.serialize_map(Some(properties.map_or(0, |p| p.len()) + 1))?;
        for (key, value) in properties.into_iter().flatten() {
            if key != "distance_m" {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("distance_m", &self.distance_m)?;
        map.end()
    }
}

fn feature_collection(rows: Vec<(i64, Value, Value, Option<f64>)>, next: Option<String>) -> Value {
    let features: Vec<Value> = rows
        .into_iter()
        .map(|(fid, properties, geometry, distance)| {
            let mut properties = properties;
            if let (Some(d), Some(map)) = (distance, properties.as_object_mut()) {
                map.insert("distance_m".to_owned(), json!(rounded_distance(d)));
            }
            json!({ "type": "Feature", "id": fid, "properties": properties, "geometry": geometry })
        })
        .collect();
    let mut collection = json!({ "type": "FeatureCollection", "features": features });
    if let Some(next) = next {
        collection["next"] = json!(next);
    }
    collection
}

/// `GET /v1/layers/{layer}/nearest`.
#[utoipa::path(get, path = "/v1/layers/{layer}/nearest", tag = "queries",
    description = "The k features nearest a point, nearest first, with their geodesic `distance_m`. Other query parameters naming fields of the layer filter it by equality (`?category=hospital`); any other name is refused.",
    params(("layer" = String, Path), ("lon" = f64, Query, minimum = -180, maximum = 180), ("lat" = f64, Query, minimum = -90, maximum = 90),
           ("k" = Option<u32>, Query, description = "How many, default 5", minimum = 1, maximum = 100),
           ("max_distance" = Option<f64>, Query, description = "Metres", minimum = 0, maximum = 100000),
           ("engine" = Option<super::api_types::Engine>, Query, description = "index (default; point layers, from memory) or postgis")),
    responses((status = 200, description = "GeoJSON FeatureCollection with distance_m", content_type = "application/geo+json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer (or one the caller may not see), or nothing there", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn nearest(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let layer = layer_of(&state, &slug, &viewer)?;
    let mut params = Params::parse(query.as_deref());
    let (lon, lat) = params
        .point()?
        .ok_or_else(|| ApiError::param("lon", "lon and lat are required"))?;
    let k = params.number("k", 1.0, f64::from(MAX_K))?.unwrap_or(5.0) as i64;
    let max_distance = params.number("max_distance", 0.0, MAX_RADIUS_M)?;
    let postgis = match params.values.remove("engine").as_deref() {
        None | Some("index") => false,
        Some("postgis") => true,
        Some(other) => {
            return Err(ApiError::param(
                "engine",
                format!("{other:?} is not index or postgis"),
            ));
        }
    };
    let filters = params.filters(&layer)?;
    // Point layers without attribute filters: from memory (the same answer, see nearest_index).
    if let (false, true, Some(index)) = (postgis, filters.is_empty(), state.nearest.get(&layer))
        && let Some(found) = index.nearest(lon, lat, usize::try_from(k).unwrap_or(5), max_distance)
    {
        // Serialized straight from the index: no copy of any feature's properties.
        let features = found
            .into_iter()
            .map(|(f, d)| IndexedFeature {
                kind: "Feature",
                id: f.fid,
                properties: WithDistance {
                    properties: &f.properties,
                    distance_m: rounded_distance(d),
                },
                geometry: &f.geometry,
            })
            .collect();
        let collection = IndexedCollection {
            kind: "FeatureCollection",
            features,
        };
        return Ok(super::geojson(collection));
    }
    let table = layer.qualified_table();
    let filter = filter_sql(&filters, 5);
    // Index-ordered candidates (planar), then exact geodesic order: every feature nearer than
    // the farthest candidate is fetched (through the index, with a box in degrees wide enough
    // for that distance), so the answer is exact although degrees are not metres.
    // The point is written out (not taken from a CTE) so the KNN ORDER BY can walk the index.
    let pt = "ST_SetSRID(ST_MakePoint($1, $2), 4326)";
    let sql = format!(
        "WITH candidates AS MATERIALIZED (SELECT t.fid, t.geom FROM {table} t WHERE true{filter} \
                        ORDER BY t.geom <-> {pt} LIMIT $3), \
         reach AS (SELECT least(max(ST_Distance(c.geom::geography, {pt}::geography)), \
                               coalesce($4, 'Infinity')) + 0.001 AS m FROM candidates c) \
         SELECT t.fid, to_jsonb(t) - {NON_ATTRIBUTE_COLUMNS} - 'fid', ST_AsGeoJSON(t.geom, 7)::jsonb, \
                ST_Distance(t.geom::geography, {pt}::geography) AS d \
         FROM {table} t, reach \
         WHERE t.geom && ST_Expand({pt}, reach.m / (110000.0 * greatest(0.01, cos(radians($2))))) \
           AND ST_DWithin(t.geom::geography, {pt}::geography, reach.m){filter} \
         ORDER BY d, t.fid LIMIT $3"
    );
    let mut q = sqlx::query_as(&sql)
        .bind(lon)
        .bind(lat)
        .bind(k)
        .bind(max_distance);
    for (_, value) in &filters {
        q = q.bind(value);
    }
    let rows: Vec<(i64, Value, Value, Option<f64>)> = q.fetch_all(state.read_db()?).await?;
    Ok(super::geojson(feature_collection(rows, None)))
}

/// `GET /v1/layers/{layer}/within`.
#[utoipa::path(get, path = "/v1/layers/{layer}/within", tag = "queries",
    description = "Features within `radius` metres of (`lon`, `lat`) (geodesic), or within `bbox`: one of the two, not both. Other query parameters naming fields of the layer filter it by equality; any other name is refused.",
    params(("layer" = String, Path), ("lon" = Option<f64>, Query, minimum = -180, maximum = 180), ("lat" = Option<f64>, Query, minimum = -90, maximum = 90),
           ("radius" = Option<f64>, Query, description = "Metres, with lon and lat", exclusive_minimum = 0, maximum = 100000),
           ("bbox" = Option<String>, Query, description = "west,south,east,north in degrees, west < east, south < north", pattern = "^\\s*-?[0-9]+(\\.[0-9]+)?\\s*(,\\s*-?[0-9]+(\\.[0-9]+)?\\s*){3}$"),
           ("limit" = Option<u32>, Query, description = "Default 100", minimum = 1, maximum = 1000),
           ("next" = Option<i64>, Query, description = "Cursor from the previous page")),
    responses((status = 200, description = "GeoJSON FeatureCollection", content_type = "application/geo+json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer (or one the caller may not see), or nothing there", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn within(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let layer = layer_of(&state, &slug, &viewer)?;
    let mut params = Params::parse(query.as_deref());
    let point = params.point()?;
    let radius = params.number("radius", 0.0, MAX_RADIUS_M)?;
    if radius == Some(0.0) {
        return Err(ApiError::param("radius", "must be more than 0 metres"));
    }
    let bbox = params
        .values
        .remove("bbox")
        .map(|b| parse_bbox(&b))
        .transpose()?;
    let limit = params
        .number("limit", 1.0, f64::from(MAX_LIMIT))?
        .unwrap_or(100.0) as i64;
    let after: i64 = match params.values.remove("next") {
        Some(cursor) => cursor
            .parse()
            .map_err(|_| ApiError::param("next", "not a cursor returned by this endpoint"))?,
        None => i64::MIN,
    };
    let filters = params.filters(&layer)?;
    let (area, point) = match (point, radius, bbox) {
        (Some(p), Some(_), None) => (
            "ST_DWithin(t.geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $3)",
            Some(p),
        ),
        (None, None, Some(_)) => (
            "t.geom && ST_MakeEnvelope($4, $5, $6, $7, 4326) AND ST_Intersects(t.geom, ST_MakeEnvelope($4, $5, $6, $7, 4326))",
            None,
        ),
        (Some(_), None, _) => {
            return Err(ApiError::param("radius", "is required with lon and lat"));
        }
        (None, Some(_), _) => {
            return Err(ApiError::param(
                "lon",
                "lon and lat are required with radius",
            ));
        }
        _ => {
            return Err(ApiError::param(
                "bbox",
                "give either lon, lat and radius, or bbox",
            ));
        }
    };
    let table = layer.qualified_table();
    let filter = filter_sql(&filters, 10);
    let distance = if point.is_some() {
        "ST_Distance(t.geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography)"
    } else {
        "NULL::float8"
    };
    let sql = format!(
        "SELECT t.fid, to_jsonb(t) - {NON_ATTRIBUTE_COLUMNS} - 'fid', ST_AsGeoJSON(t.geom, 7)::jsonb, {distance} \
         FROM {table} t WHERE {area} AND t.fid > $8{filter} ORDER BY t.fid LIMIT $9"
    );
    let (lon, lat) = point.unwrap_or((0.0, 0.0));
    let [w, s, e, n] = bbox.unwrap_or([0.0; 4]);
    let mut q = sqlx::query_as(&sql)
        .bind(lon)
        .bind(lat)
        .bind(radius.unwrap_or(0.0))
        .bind(w)
        .bind(s)
        .bind(e)
        .bind(n)
        .bind(after)
        .bind(limit + 1);
    for (_, value) in &filters {
        q = q.bind(value);
    }
    let mut rows: Vec<(i64, Value, Value, Option<f64>)> = q.fetch_all(state.read_db()?).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last().map(|r| r.0.to_string())
    } else {
        None
    };
    Ok(super::geojson(feature_collection(rows, next)))
}

pub fn parse_bbox(text: &str) -> ApiResult<[f64; 4]> {
    let numbers: Vec<f64> = text
        .split(',')
        .map(|n| n.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::param("bbox", "expected west,south,east,north in degrees"))?;
    let [w, s, e, n] = <[f64; 4]>::try_from(numbers)
        .map_err(|_| ApiError::param("bbox", "expected four numbers: west,south,east,north"))?;
    let ok = [w, s, e, n].iter().all(|v| v.is_finite())
        && (-180.0..=180.0).contains(&w)
        && (-180.0..=180.0).contains(&e)
        && (-90.0..=90.0).contains(&s)
        && (-90.0..=90.0).contains(&n)
        && w < e
        && s < n;
    if !ok {
        return Err(ApiError::param(
            "bbox",
            "must be within -180..180, -90..90 with west < east and south < north",
        ));
    }
    Ok([w, s, e, n].map(degrees))
}
