//! HTTP routes, one file per area.

pub mod agencies;
pub mod api_doc;
pub mod catalog;
pub mod fonts;
pub mod health;
pub mod nearby;
pub mod ogc_features;
pub mod ogc_queryables;
pub mod ogc_tiles;
pub mod path;
pub mod search;
pub mod sharing;
pub mod sprites;
pub mod styles;
pub mod tilejson;
pub mod tiles;
pub mod uploads;
pub mod wards;

use axum::http::{HeaderMap, header};

use crate::error::ApiError;
use crate::state::AppState;

/// Columns of a layer table that are not attributes (removed from properties in answers).
pub const NON_ATTRIBUTE_COLUMNS: &str =
    "ARRAY['geom', 'geom_3857', 'geom_z5', 'geom_z8', 'geom_z10']";

/// The public base URL for absolute links: the configured one, else the request's
/// `X-Forwarded-Proto`/`X-Forwarded-Host` or `Host`.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let proto = header("x-forwarded-proto")
        .filter(|p| matches!(*p, "http" | "https"))
        .unwrap_or("http");
    let host = header("x-forwarded-host")
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
        .filter(|h| is_plausible_host(h))
        .map_or_else(|| state.config.listen.to_string(), str::to_owned);
    format!("{proto}://{host}")
}

/// A host[:port] without characters that could break out of a URL.
fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Fallback for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such resource".to_owned())
}

/// Fallback for known paths called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::param("method", "this method is not supported here")
}
