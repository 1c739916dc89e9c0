//! `GET /fonts` (installed font names) and `GET /fonts/{fontstack}/{range}.pbf` (MapLibre glyphs).

use crate::routes::path::Path;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::assets::glyphs::GlyphError;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// `GET /fonts`.
#[utoipa::path(get, path = "/fonts", tag = "styles",
    responses((status = 200, description = "Names usable in fontstacks", content_type = "application/json")))]
pub async fn font_list(State(state): State<AppState>) -> Json<Vec<String>> {
    Json(state.glyphs.font_names().await)
}

/// `GET /fonts/{fontstack}/{range}.pbf`.
#[utoipa::path(get, path = "/fonts/{fontstack}/{range}.pbf", tag = "styles",
    params(("fontstack" = String, Path, description = "1 to 8 comma-separated font names, e.g. `Noto Sans Regular`", example = "Noto Sans Regular", pattern = "^[^,\\u0000]*[^\\s,\\u0000][^,\\u0000]*(,[^,\\u0000]*[^\\s,\\u0000][^,\\u0000]*){0,7}$"),
           ("range" = String, Path, description = "256 code points starting at a multiple of 256, e.g. `7680-7935` (Vietnamese letters)", example = "7680-7935")),
    responses((status = 200, description = "Glyph PBF", content_type = "application/x-protobuf"),
              (status = 400, description = "Malformed range or fontstack", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "Font not installed", body = Problem, content_type = "application/problem+json")))]
pub async fn glyphs(
    State(state): State<AppState>,
    Path((fontstack, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let range = file
        .strip_suffix(".pbf")
        .ok_or_else(|| ApiError::param("range", format!("{file:?} must end in .pbf")))?;
    let bytes = state
        .glyphs
        .glyphs(&fontstack, range)
        .await
        .map_err(|e| match e {
            GlyphError::UnknownFont(_) => ApiError::NotFound(e.to_string()),
            GlyphError::BadRange(_) => ApiError::param("range", e.to_string()),
            GlyphError::BadStack => ApiError::param("fontstack", e.to_string()),
            GlyphError::Render(detail) => ApiError::Internal(detail),
        })?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(response)
}
