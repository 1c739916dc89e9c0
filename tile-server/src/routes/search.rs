//! `GET /v1/search?q=&[limit=10][&lon=&lat=][&layers=a,b]`: features by name across layers,
//! insensitive to diacritics, tone placement ("hoà" = "hòa" = "hoa"), "đ"/"d", case; tolerant of
//! typos and partial words; ranked, optionally biased towards a point.

use axum::Json;
use axum::extract::{RawQuery, State};

use crate::access::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::query::search_index::{SearchHit, SearchQuery};
use crate::state::AppState;

/// Most results one search returns.
pub const MAX_LIMIT: i64 = 50;

/// `GET /v1/search`.
#[utoipa::path(get, path = "/v1/search", tag = "queries",
    params(("q" = String, Query, description = "Name, with or without diacritics", pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$", max_length = 200),
           ("limit" = Option<i64>, Query, description = "Default 10", minimum = 1, maximum = 50),
           ("lon" = Option<f64>, Query, description = "Bias point, with lat", minimum = -180, maximum = 180),
           ("lat" = Option<f64>, Query, description = "Bias point, with lon", minimum = -90, maximum = 90),
           ("layers" = Option<String>, Query, description = "Comma-separated layer slugs"),
           ("engine" = Option<super::api_types::Engine>, Query, description = "index (default; in memory) or postgis")),
    responses((status = 200, description = "Ranked matches", content_type = "application/json"), (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn search(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Vec<SearchHit>>> {
    let mut q = None;
    let mut limit = 10_i64;
    let mut lon = None;
    let mut lat = None;
    let mut layers: Option<Vec<String>> = None;
    let mut postgis = false;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "q" => q = Some(value.trim().to_owned()),
            "limit" => {
                limit = super::page_limit(&value, MAX_LIMIT)?;
            }
            "lon" | "lat" => {
                let limit = if name == "lon" { 180.0 } else { 90.0 };
                let v = super::coordinates::coordinate(&name, &value, limit)?;
                if name == "lon" {
                    lon = Some(v)
                } else {
                    lat = Some(v)
                }
            }
            "layers" => layers = Some(value.split(',').map(|s| s.trim().to_owned()).collect()),
            // Answer from PostgreSQL instead of the in-memory index: for comparison and benchmarks.
            "engine" => {
                postgis = match value.as_ref() {
                    "index" => false,
                    "postgis" => true,
                    other => {
                        return Err(ApiError::param(
                            "engine",
                            format!("{other:?} is not index or postgis"),
                        ));
                    }
                }
            }
            // The API key, read by the `Caller` extractor.
            "key" => {}
            other => return Err(ApiError::param(other.to_owned(), "unknown parameter")),
        }
    }
    let q = q
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::param("q", "is required"))?;
    if q.chars().count() > 200 {
        return Err(ApiError::param("q", "is longer than 200 characters"));
    }
    if lon.is_some() != lat.is_some() {
        return Err(ApiError::param(
            if lon.is_none() { "lon" } else { "lat" },
            "lon and lat go together",
        ));
    }
    // Layers asked for (all by default) that the caller may see.
    let served = state.catalog.snapshot();
    let accept = |slug: &str| {
        layers.as_ref().is_none_or(|l| l.iter().any(|s| s == slug))
            && served
                .layers
                .get(slug)
                .is_some_and(|t| viewer.can_see(t.layer()))
    };
    if !postgis && let Some(index) = state.current_search_index() {
        return Ok(Json(index.search(&SearchQuery {
            text: &q,
            limit: usize::try_from(limit).unwrap_or(10),
            near: lon.zip(lat),
            accept: &accept,
        })));
    }
    let searched: Vec<&str> = served
        .layers
        .keys()
        .map(String::as_str)
        .filter(|slug| accept(slug))
        .collect();
    let hits = sqlx::query_as(include_str!("../sql/search.sql"))
        .bind(&q)
        .bind(limit)
        .bind(lon)
        .bind(lat)
        .bind(searched)
        .fetch_all(state.read_db()?)
        .await?;
    Ok(Json(hits))
}
