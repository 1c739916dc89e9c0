//! `GET /styles/{name}.json`: the MapLibre styles of `styles/`, with every `{public_url}` in them
//! replaced by the server's public base URL, so one style file works behind any host name. A keyed
//! caller gets its key on the URLs of the style's sources, so the map keeps its access.

use crate::routes::path::Path;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::base_url;
use crate::access::{Caller, key_query};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// `GET /styles/{name}.json`.
#[utoipa::path(get, path = "/styles/{name}.json", tag = "styles", params(("name" = String, Path, description = "Style name, e.g. `light` or `dark`", example = "light")),
    responses((status = 200, description = "MapLibre style", content_type = "application/json"),
              (status = 404, description = "No such style", body = Problem, content_type = "application/problem+json")))]
pub async fn style(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let name = file
        .strip_suffix(".json")
        .filter(|n| bando_core::layer::validate_slug(n).is_ok())
        .ok_or_else(|| ApiError::NotFound(format!("no style {file:?}")))?;
    let path = state.config.styles_dir.join(format!("{name}.json"));
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|_| ApiError::NotFound(format!("no style {name:?}")))?;
    let base = base_url(&state, &headers);
    let mut body = text.replace("{public_url}", &base);
    if let Some(key) = key_query(&viewer) {
        body = with_key_on_sources(&body, &base, &key)
            .map_err(|e| ApiError::Internal(format!("style {name:?} is not JSON: {e}")))?;
    }
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if viewer.token().is_some() {
            "private, max-age=60"
        } else {
            "public, max-age=60"
        }),
    );
    Ok(response)
}

/// Appends `key` to the `url` and `tiles` of every source served from `base`.
fn with_key_on_sources(style: &str, base: &str, key: &str) -> serde_json::Result<String> {
    let mut style: serde_json::Value = serde_json::from_str(style)?;
    let add = |url: &mut serde_json::Value| {
        if let Some(text) = url.as_str()
            && text.starts_with(base)
        {
            let separator = if text.contains('?') { '&' } else { '?' };
            *url = serde_json::Value::String(format!("{text}{separator}{key}"));
        }
    };
    if let Some(sources) = style.get_mut("sources").and_then(|s| s.as_object_mut()) {
        for source in sources.values_mut() {
            if let Some(url) = source.get_mut("url") {
                add(url);
            }
            if let Some(tiles) = source.get_mut("tiles").and_then(|t| t.as_array_mut()) {
                tiles.iter_mut().for_each(add);
            }
        }
    }
    serde_json::to_string(&style)
}
