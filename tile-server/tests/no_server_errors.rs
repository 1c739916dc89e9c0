//! Whatever a client sends in a query string, the answer is never a 5xx (a property test over
//! every query endpoint, on real data).

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use bando_core::testing::{fresh_database, shared_data};
use bando_importers::ImportRequest;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tile_server::{AppState, Config, app};
use tower::ServiceExt;

const ENDPOINTS: [&str; 7] = [
    "/v1/wards",
    "/v1/search",
    "/v1/layers/wards/nearest",
    "/v1/layers/wards/within",
    "/ogc/collections/wards/items",
    "/tiles/wards/14/13047/7698.mvt",
    "/tiles/wards.json",
];

const NAMES: [&str; 16] = [
    "lon",
    "lat",
    "as_of",
    "engine",
    "q",
    "limit",
    "k",
    "radius",
    "bbox",
    "next",
    "max_distance",
    "offset",
    "layers",
    "code",
    "v",
    "name",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        (-200.0..200.0f64).prop_map(|f| f.to_string()),
        Just("NaN".to_owned()),
        Just("inf".to_owned()),
        Just("".to_owned()),
        Just("106.7,10.7,106.8,10.8".to_owned()),
        Just("2025-07-01".to_owned()),
        "[\\PC]{0,12}",
        "[a-z%'\";,]{0,10}",
    ]
}

#[tokio::test]
async fn random_query_strings_never_cause_a_server_error() {
    let db = fresh_database().await;
    let request = ImportRequest {
        path: shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards/26743_ben_thanh.geojson"),
        layer: "wards".to_owned(),
        admin_level: Some("ward".to_owned()),
        layout: Some("2025".to_owned()),
        ..ImportRequest::default()
    };
    bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
    let state = AppState::new(db.pool.clone(), Config::default());
    tile_server::publish_listener::refresh(&state).await;

    let strategy = (
        0..ENDPOINTS.len(),
        proptest::collection::vec((0..NAMES.len(), value()), 0..5),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 400,
        ..ProptestConfig::default()
    });
    let mut cases = Vec::new();
    for _ in 0..400 {
        cases.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    for (endpoint, params) in cases {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &params {
            query.append_pair(NAMES[*name], value);
        }
        let uri = format!("{}?{}", ENDPOINTS[endpoint], query.finish());
        let response = app(state.clone())
            .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(
            !response.status().is_server_error(),
            "{uri} answered {}",
            response.status()
        );
    }
}
