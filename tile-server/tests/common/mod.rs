//! Helpers shared by the test files: router requests, shared data served, a server process.

#[allow(dead_code, reason = "only the files that run server processes use it")]
pub mod server_process;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tile_server::{AppState, app};
use tower::ServiceExt;

/// GET `uri` through the router; the status and the JSON body.
#[allow(dead_code, reason = "not every test file reads JSON")]
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

/// A raw answer: status, headers and the (still encoded) body.
#[allow(dead_code, reason = "not every test file reads raw answers")]
pub struct RawResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: axum::http::HeaderMap,
    /// Body bytes as sent.
    pub body: Vec<u8>,
}

#[allow(dead_code, reason = "not every test file reads raw answers")]
impl RawResponse {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// GET `uri` through the router with extra `headers`.
#[allow(dead_code, reason = "not every test file reads raw answers")]
pub async fn get_raw(state: &AppState, uri: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app(state.clone())
        .oneshot(request.body(Body::empty()).expect("a valid request"))
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a readable body")
        .to_bytes()
        .to_vec();
    RawResponse {
        status,
        headers,
        body,
    }
}

/// A fresh database with `../shared/data/<relative>` imported as `layer`, and a server state
/// over it with its catalog loaded.
#[allow(dead_code, reason = "not every test file imports shared data this way")]
pub async fn serving_shared(
    relative: &str,
    layer: &str,
) -> (bando_core::testing::TestDatabase, AppState) {
    let db = bando_core::testing::fresh_database().await;
    let request = bando_importers::ImportRequest {
        path: bando_core::testing::shared_data().join(relative),
        layer: layer.to_owned(),
        ..bando_importers::ImportRequest::default()
    };
    bando_importers::import(&db.pool, &request, std::sync::Arc::new(|_, _| {}))
        .await
        .expect("the shared data imports");
    let state = AppState::new(db.pool.clone(), tile_server::Config::default());
    state.catalog.refresh().await.expect("the catalog loads");
    (db, state)
}
