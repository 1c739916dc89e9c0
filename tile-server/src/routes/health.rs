//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// `GET /health`: the process is up (says nothing about the database).
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Up")))]
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// How long `/ready` waits for the database's answer when it is not known to be down.
const READY_PATIENCE: Duration = Duration::from_secs(5);

/// `GET /ready`: the database answers (within [`READY_PATIENCE`]). While it is known to be down (the
/// circuit breaker is open) the answer is an immediate 503, so a load balancer polling this
/// learns it at once; a failed ping makes the breaker check.
#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "Ready"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn ready(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    // Down is answered at once (the breaker); a slow database is waited for, as requests do.
    match tokio::time::timeout(READY_PATIENCE, bando_core::db::ping(state.db()?)).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready", "database": "ok" }))),
        Ok(Err(e)) => Err(ApiError::Unreachable(e.to_string())),
        Err(_) => Err(ApiError::Unreachable("database ping timed out".to_owned())),
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
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
