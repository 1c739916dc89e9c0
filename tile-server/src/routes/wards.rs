//! `GET /v1/wards?lon=&lat=[&as_of=YYYY-MM-DD]`: the ward (and district, where the layout has
//! districts) containing a WGS84 point, in the admin layout valid on `as_of` (default today).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Serialize;

use crate::access::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::query::admin_lookup::{AdminUnit, unit_columns};
use crate::state::AppState;
use bando_core::access::Viewer;

/// Answer of a ward lookup (borrowing the units from the index: nothing is copied per request).
#[derive(Debug, Serialize)]
pub struct WardAnswer<'a> {
    /// The day whose layout answered.
    pub as_of: NaiveDate,
    /// The ward.
    pub ward: &'a AdminUnit,
    /// Its district, when that layout has districts.
    pub district: Option<&'a AdminUnit>,
}

/// Parsed query.
#[derive(Debug)]
pub struct WardQuery {
    lon: f64,
    lat: f64,
    as_of: NaiveDate,
    postgis: bool,
}

fn parse(query: Option<&str>) -> ApiResult<WardQuery> {
    let mut lon = None;
    let mut lat = None;
    let mut as_of = None;
    let mut postgis = false;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "lon" => lon = Some(super::coordinates::coordinate("lon", &value, 180.0)?),
            "lat" => lat = Some(super::coordinates::coordinate("lat", &value, 90.0)?),
            "as_of" => {
                as_of = Some(NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| {
                    ApiError::param("as_of", format!("{value:?} is not a date YYYY-MM-DD"))
                })?);
            }
            // Answer from PostGIS instead of the index: for comparison and benchmarks.
            "engine" => match value.as_ref() {
                "index" => postgis = false,
                "postgis" => postgis = true,
                other => {
                    return Err(ApiError::param(
                        "engine",
                        format!("{other:?} is not index or postgis"),
                    ));
                }
            },
            _ => {}
        }
    }
    Ok(WardQuery {
        lon: lon.ok_or_else(|| ApiError::param("lon", "is required"))?,
        lat: lat.ok_or_else(|| ApiError::param("lat", "is required"))?,
        as_of: as_of.unwrap_or_else(|| chrono::Utc::now().date_naive()),
        postgis,
    })
}

/// `GET /v1/wards`.
#[utoipa::path(get, path = "/v1/wards", tag = "queries",
    params(("lon" = f64, Query, description = "Longitude, WGS84", example = 106.698, minimum = -180, maximum = 180),
           ("lat" = f64, Query, description = "Latitude, WGS84", example = 10.772, minimum = -90, maximum = 90),
           ("as_of" = Option<String>, Query, format = Date, description = "Date choosing the admin layout (default today)"),
           ("engine" = Option<super::api_types::Engine>, Query, description = "index (default) or postgis")),
    responses((status = 200, description = "Ward and district", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No boundary layer valid on the date, or no unit at the point", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn ward_at(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q = parse(query.as_deref())?;
    let index = state
        .admin
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    // Boundary layers the caller may not see are not consulted. Several layers of a level may
    // be valid on the day (the city's and a neighbour's): asked in rank order, the first unit
    // covering the point answers (see admin_lookup).
    let visible = |slug: &str| state.catalog.get(slug, &viewer).is_some();
    let ward_layers = index.layers_for("ward", q.as_of, &visible);
    if ward_layers.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no ward layer is valid on {}",
            q.as_of
        )));
    }
    let district_layers = index.layers_for("district", q.as_of, &visible);
    let answer = |ward: Option<&AdminUnit>, district: Option<&AdminUnit>| {
        let ward = ward.ok_or_else(|| {
            ApiError::NotFound(format!("no ward at {}, {} on {}", q.lon, q.lat, q.as_of))
        })?;
        Ok(Json(WardAnswer {
            as_of: q.as_of,
            ward,
            district,
        })
        .into_response())
    };
    if q.postgis {
        let ward = postgis_lookup(&state, &viewer, &ward_layers, q.lon, q.lat).await?;
        let district = postgis_lookup(&state, &viewer, &district_layers, q.lon, q.lat).await?;
        answer(ward.as_ref(), district.as_ref())
    } else {
        answer(
            index.unit_at(&ward_layers, q.lon, q.lat),
            index.unit_at(&district_layers, q.lon, q.lat),
        )
    }
}

/// The same lookup done by PostGIS (`ST_Covers` on the GiST index): the first of `layers` with a
/// unit covering the point, its lowest code.
async fn postgis_lookup(
    state: &AppState,
    viewer: &Viewer,
    layers: &[&str],
    lon: f64,
    lat: f64,
) -> ApiResult<Option<AdminUnit>> {
    for layer in layers {
        let Some(source) = state.catalog.get(layer, viewer) else {
            continue;
        };
        let layer = source.layer();
        let found: Option<(Option<String>, Option<String>, Option<String>)> =
            sqlx::query_as(&format!(
                "SELECT {} FROM {} WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) \
                 ORDER BY 1 LIMIT 1",
                unit_columns(layer),
                layer.qualified_table()
            ))
            .bind(lon)
            .bind(lat)
            .fetch_optional(state.read_db()?)
            .await?;
        if let Some((code, name, full_name)) = found {
            return Ok(Some(AdminUnit {
                layer: layer.slug.clone(),
                layout: layer.layout.clone(),
                code,
                name,
                full_name,
            }));
        }
    }
    Ok(None)
}
