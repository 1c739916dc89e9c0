//! `GET /styles/{name}.json`: the MapLibre styles of `styles/`, with every `{public_url}` in them
//! replaced by the server's public base URL, so one style file works behind any host name.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::base_url;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// `GET /styles/{name}.json`.
#[utoipa::path(get, path = "/styles/{name}.json", tag = "styles", params(("name" = String, Path, description = "Style name, e.g. `light` or `dark`")),
    responses((status = 200, description = "MapLibre style", content_type = "application/json"),
              (status = 404, description = "No such style", body = Problem, content_type = "application/problem+json")))]
pub async fn style(
    State(state): State<AppState>,
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
    let body = text.replace("{public_url}", &base_url(&state, &headers));
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}
