//! `GET /sprites` (the sprite sets) and `GET /sprites/{set}[@2x].{png,json}` (MapLibre sprite
//! sheets: a style's `"sprite": "…/sprites/basemap"` makes MapLibre fetch these four files).

use crate::routes::path::Path;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::assets::sprites::{SpriteError, parse_file_name};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// `GET /sprites`.
#[utoipa::path(get, path = "/sprites", tag = "styles",
    responses((status = 200, description = "Names of the sprite sets", content_type = "application/json")))]
pub async fn sprite_list(State(state): State<AppState>) -> Json<Vec<String>> {
    Json(state.sprites.set_names().await)
}

/// `GET /sprites/{file}`: `{set}.png`, `{set}.json`, `{set}@2x.png`, `{set}@2x.json`.
#[utoipa::path(get, path = "/sprites/{file}", tag = "styles",
    params(("file" = String, Path, description = "`{set}.png`, `{set}.json`, `{set}@2x.png` or `{set}@2x.json`, e.g. `basemap@2x.png`", example = "basemap.json", pattern = "^[^@\\u0000]+(@[12]x)?\\.(png|json)$")),
    responses((status = 200, description = "Sprite sheet (PNG) or its index (JSON)", content(("image/png"), ("application/json"))),
              (status = 404, description = "No such sprite set", body = Problem, content_type = "application/problem+json")))]
pub async fn sprite(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let (set, ratio, json) = parse_file_name(&file)
        .ok_or_else(|| ApiError::NotFound(format!("no sprite file {file:?} (.png or .json)")))?
        .map_err(|e| ApiError::param("file", e.to_string()))?;
    let sheet = state.sprites.sheet(set, ratio).await.map_err(|e| match e {
        SpriteError::UnknownSet(_) => ApiError::NotFound(e.to_string()),
        SpriteError::BadRatio(_) => ApiError::param("file", e.to_string()),
        SpriteError::Build { .. } => ApiError::Internal(e.to_string()),
    })?;
    let (body, content_type) = if json {
        (sheet.index.clone(), "application/json")
    } else {
        (sheet.png.clone(), "image/png")
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(response)
}
