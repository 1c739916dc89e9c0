//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /health`: the process is up (says nothing about the database).
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: the database answers within a second.
pub async fn ready(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    match tokio::time::timeout(Duration::from_secs(1), bando_core::db::ping(&state.pool)).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready", "database": "ok" }))),
        Ok(Err(e)) => Err(ApiError::Unavailable(e.to_string())),
        Err(_) => Err(ApiError::Unavailable("database ping timed out".to_owned())),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let metrics = &state.metrics;
    metrics.set_pool(state.pool.size(), state.pool.num_idle());
    metrics
        .cache_bytes
        .set(i64::try_from(state.cache.weighted_size()).unwrap_or(i64::MAX));
    metrics
        .cache_entries
        .set(i64::try_from(state.cache.entry_count()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}
