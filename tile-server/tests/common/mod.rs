//! Helpers shared by the router-level test files.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tile_server::{AppState, app};
use tower::ServiceExt;

/// GET `uri` through the router; the status and the JSON body.
pub async fn get_json(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let response = app(state.clone())
        .oneshot(
            Request::get(uri)
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await
        .expect("the router answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a readable body")
        .to_bytes();
    (status, serde_json::from_slice(&body).expect("a JSON body"))
}
