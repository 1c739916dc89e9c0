//! What an agency does with its own layers: visibility, grants and rollback.
//!
//! - `PATCH /v1/layers/{layer}` `{"visibility": "public" | "restricted" | "private", "title": …}`:
//!   visibility and catalog values (`bando_importers::metadata`);
//! - `GET /v1/layers/{layer}/grants`, `PUT` / `DELETE /v1/layers/{layer}/grants/{agency}`;
//! - `POST /v1/layers/{layer}/rollback`.
//!
//! The caller needs a publish key of the owning agency (or an admin key). A layer the caller may
//! not see is a 404, as everywhere; one it sees but does not own is a 403. Every change is
//! written to the audit log in its transaction, and reaches running servers at once.

use crate::routes::path::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use bando_core::audit::{self, AuditEntry};
use bando_core::layer::Layer;
use bando_importers::ImportError;
use bando_importers::metadata::{LayerMetadata, LayerUpdate, update_layer};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::access::{Authorized, json_body};
use crate::error::{ApiError, ApiResult, Problem};
use crate::publish_listener;
use crate::state::AppState;

/// One grant.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Grant {
    /// Agency the layer is shared with.
    pub agency: String,
    /// Since.
    pub granted_at: DateTime<Utc>,
}

/// The layer, if the caller may manage it (404 when it may not even see it).
fn managed_layer(state: &AppState, caller: &Authorized, slug: &str) -> ApiResult<Layer> {
    let layer = state
        .catalog
        .layer(slug, &caller.viewer)
        .ok_or_else(|| ApiError::NotFound(format!("no layer {slug:?}")))?;
    caller.require_manager_of(&layer.agency)?;
    Ok(layer)
}

/// Applies a catalog or access change to this server before answering, so the caller's next
/// request sees it (other servers follow through notifications).
async fn apply_now(state: &AppState) {
    publish_listener::refresh(state).await;
}

/// Records a change of `layer` in the audit log, commits it with the change and applies it.
async fn commit_change(
    state: &AppState,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    caller: &Authorized,
    layer: &Layer,
    action: &str,
    details: serde_json::Value,
) -> ApiResult<()> {
    let entry = AuditEntry {
        action,
        agency: Some(&layer.agency),
        target: &layer.slug,
        details,
    };
    audit::record(&mut *tx, &caller.actor, entry).await?;
    tx.commit().await?;
    apply_now(state).await;
    Ok(())
}

/// `PATCH /v1/layers/{layer}`.
#[utoipa::path(patch, path = "/v1/layers/{layer}", tag = "sharing", params(("layer" = String, Path, description = "Layer slug")),
    request_body(content = super::api_types::LayerChangeBody, content_type = "application/json"),
    responses((status = 200, description = "The layer's catalog values after the change", content_type = "application/json"),
              (status = 400, description = "Malformed body (RFC 9457 problem naming the field)", body = Problem, content_type = "application/problem+json"), (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not a publish key of the layer's agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<AppState>,
    caller: Authorized,
    Path(slug): Path<String>,
    body: Bytes,
) -> ApiResult<Json<LayerMetadata>> {
    let layer = managed_layer(&state, &caller, &slug)?;
    let change: LayerUpdate = json_body(&body)?;
    let updated = update_layer(state.db()?, &layer.slug, &change, &caller.actor)
        .await
        .map_err(|e| match e {
            ImportError::InvalidOption { field, reason } => ApiError::param(field, reason),
            ImportError::NoSuchLayer(what) => ApiError::NotFound(what),
            ImportError::Database(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        })?;
    apply_now(&state).await;
    Ok(Json(updated))
}

/// `GET /v1/layers/{layer}/grants`.
#[utoipa::path(get, path = "/v1/layers/{layer}/grants", tag = "sharing", params(("layer" = String, Path, description = "Layer slug")),
    responses((status = 200, description = "Agencies the layer is shared with", content_type = "application/json"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not a publish key of the layer's agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn grants(
    State(state): State<AppState>,
    caller: Authorized,
    Path(slug): Path<String>,
) -> ApiResult<Json<Vec<Grant>>> {
    let layer = managed_layer(&state, &caller, &slug)?;
    Ok(Json(
        sqlx::query_as(
            "SELECT agency, granted_at FROM bando.layer_grants WHERE layer_id = $1 ORDER BY agency",
        )
        .bind(layer.id)
        .fetch_all(state.db()?)
        .await?,
    ))
}

/// `PUT /v1/layers/{layer}/grants/{agency}`.
#[utoipa::path(put, path = "/v1/layers/{layer}/grants/{agency}", tag = "sharing", params(("layer" = String, Path, description = "Layer slug"), ("agency" = String, Path, description = "Agency slug")),
    responses((status = 204, description = "Granted"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not a publish key of the layer's agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer or agency", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn grant(
    State(state): State<AppState>,
    caller: Authorized,
    Path((slug, agency)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let layer = managed_layer(&state, &caller, &slug)?;
    let mut tx = state.db()?.begin().await?;
    if !bando_core::api_key::agency_exists(&mut *tx, &agency).await? {
        return Err(ApiError::NotFound(format!("no agency {agency:?}")));
    }
    let added = sqlx::query(
        "INSERT INTO bando.layer_grants (layer_id, agency) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(layer.id)
    .bind(&agency)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added == 1 {
        let details = serde_json::json!({ "to": agency });
        commit_change(&state, tx, &caller, &layer, "grant", details).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/layers/{layer}/grants/{agency}`.
#[utoipa::path(delete, path = "/v1/layers/{layer}/grants/{agency}", tag = "sharing", params(("layer" = String, Path, description = "Layer slug"), ("agency" = String, Path, description = "Agency slug")),
    responses((status = 204, description = "No longer granted (from the next request on)"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not a publish key of the layer's agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer or grant", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    caller: Authorized,
    Path((slug, agency)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let layer = managed_layer(&state, &caller, &slug)?;
    let mut tx = state.db()?.begin().await?;
    let removed = sqlx::query("DELETE FROM bando.layer_grants WHERE layer_id = $1 AND agency = $2")
        .bind(layer.id)
        .bind(&agency)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(ApiError::NotFound(format!(
            "layer {slug:?} is not granted to {agency:?}"
        )));
    }
    let details = serde_json::json!({ "from": agency });
    commit_change(&state, tx, &caller, &layer, "revoke_grant", details).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/layers/{layer}/rollback`.
#[utoipa::path(post, path = "/v1/layers/{layer}/rollback", tag = "sharing", params(("layer" = String, Path, description = "Layer slug")),
    responses((status = 200, description = "The previous version is live again", content_type = "application/json"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not a publish key of the layer's agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer", body = Problem, content_type = "application/problem+json"), (status = 409, description = "No previous version to roll back to", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Authorized,
    Path(slug): Path<String>,
) -> ApiResult<Json<bando_importers::rollback::RollbackOutcome>> {
    let layer = managed_layer(&state, &caller, &slug)?;
    let outcome = bando_importers::rollback::rollback(state.db()?, &layer.slug, &caller.actor)
        .await
        .map_err(|e| match e {
            ImportError::InvalidOption { reason, .. } => ApiError::Conflict(reason),
            other => ApiError::Internal(other.to_string()),
        })?;
    apply_now(&state).await;
    Ok(Json(outcome))
}
