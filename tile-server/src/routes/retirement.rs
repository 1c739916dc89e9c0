//! Retiring layers without losing them (`bando_importers::retire`):
//!
//! - `DELETE /v1/layers/{layer}` — the layer leaves every surface at once, on every server;
//!   restorable for `retired_keep_days`;
//! - `GET /v1/retired-layers` — retired layers still kept (an agency's own; admins: all);
//! - `POST /v1/retired-layers/{layer}/restore` — live again, as it was (grants included);
//! - `DELETE /v1/retired-layers/{layer}` — purged for good.
//!
//! The owner's publish key or an admin key; another agency's retired layer is a 404, as a layer
//! it may not see is everywhere. Each change is in the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bando_importers::ImportError;
use bando_importers::retire::{self, RestoreOutcome, RetiredLayer};

use crate::access::Authorized;
use crate::error::{ApiError, ApiResult, Problem};
use crate::publish_listener;
use crate::routes::path::Path;
use crate::state::AppState;

fn retire_error(e: ImportError) -> ApiError {
    match e {
        ImportError::NoSuchLayer(what) => ApiError::NotFound(what),
        ImportError::Conflict(why) => ApiError::Conflict(why),
        ImportError::Core(bando_core::CoreError::InvalidLayerName { .. }) => {
            ApiError::NotFound(e.to_string())
        }
        ImportError::Database(e) => e.into(),
        other => ApiError::Internal(other.to_string()),
    }
}

/// The latest retirement of `slug`, if the caller may manage it (404 when not its agency's).
async fn managed_retired(
    state: &AppState,
    caller: &Authorized,
    slug: &str,
) -> ApiResult<RetiredLayer> {
    let retired = retire::find_retired(state.db()?, slug)
        .await
        .map_err(retire_error)?
        .filter(|r| caller.viewer.is_admin() || &*caller.agent.agency == r.agency.as_str())
        .ok_or_else(|| ApiError::NotFound(format!("no retired layer {slug:?}")))?;
    caller.require_manager_of(&retired.agency)?;
    Ok(retired)
}

/// `DELETE /v1/layers/{layer}`.
#[utoipa::path(delete, path = "/v1/layers/{layer}", tag = "sharing", params(("layer" = String, Path, description = "Layer slug")),
    responses((status = 200, description = "Retired: gone from every surface, restorable until `purge_after`", content_type = "application/json"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not a publish key of the layer's agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn retire_layer(
    State(state): State<AppState>,
    caller: Authorized,
    Path(slug): Path<String>,
) -> ApiResult<Json<RetiredLayer>> {
    let layer = state
        .catalog
        .layer(&slug, &caller.viewer)
        .ok_or_else(|| ApiError::NotFound(format!("no layer {slug:?}")))?;
    caller.require_manager_of(&layer.agency)?;
    let retired = retire::retire(
        state.db()?,
        &layer.slug,
        state.config.retired_keep_days,
        &caller.actor,
    )
    .await
    .map_err(retire_error)?;
    // This server first, so the caller's next request no longer finds it.
    publish_listener::refresh(&state).await;
    Ok(Json(retired))
}

/// `GET /v1/retired-layers`.
#[utoipa::path(get, path = "/v1/retired-layers", tag = "sharing", operation_id = "list_retired_layers",
    responses((status = 200, description = "Retired layers still restorable, newest first (admins: every agency's)", content_type = "application/json"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Authorized,
) -> ApiResult<Json<Vec<RetiredLayer>>> {
    let agency = (!caller.viewer.is_admin()).then(|| caller.agent.agency.to_string());
    Ok(Json(
        retire::list_retired(state.db()?, agency.as_deref())
            .await
            .map_err(retire_error)?,
    ))
}

/// `POST /v1/retired-layers/{layer}/restore`.
#[utoipa::path(post, path = "/v1/retired-layers/{layer}/restore", tag = "sharing", operation_id = "restore_retired_layer", params(("layer" = String, Path, description = "Slug of the retired layer")),
    responses((status = 200, description = "Live again, as it was when retired", content_type = "application/json"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not a publish key of the layer's agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such retired layer", body = Problem, content_type = "application/problem+json"), (status = 409, description = "A live layer has taken the name since", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn restore(
    State(state): State<AppState>,
    caller: Authorized,
    Path(slug): Path<String>,
) -> ApiResult<Json<RestoreOutcome>> {
    let retired = managed_retired(&state, &caller, &slug).await?;
    let outcome = retire::restore(state.db()?, &retired.layer, &caller.actor)
        .await
        .map_err(retire_error)?;
    publish_listener::refresh(&state).await;
    Ok(Json(outcome))
}

/// `DELETE /v1/retired-layers/{layer}`.
#[utoipa::path(delete, path = "/v1/retired-layers/{layer}", tag = "sharing", operation_id = "purge_retired_layer", params(("layer" = String, Path, description = "Slug of the retired layer")),
    responses((status = 204, description = "Purged for good"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not a publish key of the layer's agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such retired layer", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn purge(
    State(state): State<AppState>,
    caller: Authorized,
    Path(slug): Path<String>,
) -> ApiResult<StatusCode> {
    let retired = managed_retired(&state, &caller, &slug).await?;
    retire::purge(state.db()?, &retired.layer, &caller.actor)
        .await
        .map_err(retire_error)?;
    Ok(StatusCode::NO_CONTENT)
}
