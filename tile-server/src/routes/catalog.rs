//! `GET /catalog`: the layers served, with links to their TileJSON.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use bando_core::layer::{FieldDef, Layer, Visibility};

use super::base_url;
use crate::access::{Caller, key_query};
use crate::error::Problem;
use crate::state::AppState;

/// One catalog entry as clients see it.
#[derive(Debug, Serialize)]
pub struct CatalogEntry {
    /// Slug, as in tile URLs.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// OGC geometry type.
    pub geometry_type: String,
    /// WGS84 bounds.
    pub bounds: Option<Vec<f64>>,
    /// Zoom range.
    pub minzoom: i16,
    /// Zoom range.
    pub maxzoom: i16,
    /// Attribution.
    pub attribution: String,
    /// Owning agency.
    pub agency: String,
    /// `public`, `restricted` or `private`.
    pub visibility: Visibility,
    /// Data version.
    pub version: i32,
    /// Features.
    pub feature_count: i64,
    /// Attributes.
    pub fields: Vec<FieldDef>,
    /// Last publish (RFC 3339).
    pub updated_at: String,
    /// TileJSON URL.
    pub tilejson: String,
}

impl CatalogEntry {
    fn new(layer: Layer, base: &str, key_query: Option<&str>) -> Self {
        Self {
            tilejson: format!(
                "{base}/tiles/{}.json{}",
                layer.slug,
                key_query.map(|k| format!("?{k}")).unwrap_or_default()
            ),
            visibility: layer.visibility,
            id: layer.slug,
            title: layer.title,
            description: layer.description,
            geometry_type: layer.geometry_type,
            bounds: layer.bounds,
            minzoom: layer.minzoom,
            maxzoom: layer.maxzoom,
            attribution: layer.attribution,
            agency: layer.agency,
            version: layer.version,
            feature_count: layer.feature_count,
            fields: layer.fields,
            updated_at: layer.updated_at.to_rfc3339(),
        }
    }
}

/// `GET /catalog`.
#[utoipa::path(get, path = "/catalog", tag = "catalog",
    responses((status = 200, description = "The layers the caller may see (public ones without a key)", content_type = "application/json"),
              (status = 401, description = "The API key is not valid", body = Problem, content_type = "application/problem+json")))]
pub async fn catalog(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
) -> Json<Vec<CatalogEntry>> {
    let base = base_url(&state, &headers);
    let key = key_query(&viewer);
    Json(
        state
            .catalog
            .layers(&viewer)
            .into_iter()
            .map(|l| CatalogEntry::new(l, &base, key.as_deref()))
            .collect(),
    )
}
