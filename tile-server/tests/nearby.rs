//! Nearest and within on the real bus stops: the same stops, distances and pages as a brute-force
//! PostGIS geography query over the whole layer.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use common::get_json;
use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::StatusCode;
use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::ImportRequest;
use bando_importers::convert::Converter;
use tile_server::{AppState, Config};

const MARKET: (f64, f64) = (106.6981, 10.7725);

async fn bus_stops() -> (TestDatabase, AppState) {
    let db = fresh_database().await;
    let request = ImportRequest {
        path: shared_data().join("hcmc-bus/stops.json"),
        layer: "bus_stops".to_owned(),
        convert: Some(Converter::HcmcBusStops),
        ..ImportRequest::default()
    };
    bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();
    // As the server's listener does after every catalog load.
    state
        .nearest
        .sync(&db.pool, &state.catalog.all_layers())
        .await;
    (db, state)
}

#[tokio::test]
async fn nearest_stops_to_the_market_match_postgis_geography() {
    let (db, state) = bus_stops().await;
    let (status, answer) = get_json(
        &state,
        &format!(
            "/v1/layers/bus_stops/nearest?lon={}&lat={}&k=5",
            MARKET.0, MARKET.1
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let got: Vec<(i64, f64)> = answer["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_i64().unwrap(),
                f["properties"]["distance_m"].as_f64().unwrap(),
            )
        })
        .collect();
    // Brute force over every stop, on the spheroid.
    let expected: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT fid, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) d \
         FROM layers.bus_stops ORDER BY d, fid LIMIT 5",
    )
    .bind(MARKET.0)
    .bind(MARKET.1)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(got.len(), 5);
    for ((id, d), (eid, ed)) in got.iter().zip(&expected) {
        assert_eq!(id, eid);
        assert!((d - ed).abs() < 0.01, "{d} vs {ed}");
    }
    assert!(
        got[0].1 < 400.0,
        "a real stop within a few hundred metres of the market"
    );
    assert!(answer["features"][0]["properties"]["name"].is_string());

    // A filter on a field and a maximum distance.
    let (_, shelters) = get_json(
        &state,
        &format!(
            "/v1/layers/bus_stops/nearest?lon={}&lat={}&k=3&max_distance=150&stop_type=Nh%C3%A0%20ch%E1%BB%9D",
            MARKET.0, MARKET.1
        ),
    )
    .await;
    for f in shelters["features"].as_array().unwrap() {
        assert_eq!(f["properties"]["stop_type"], "Nhà chờ");
        assert!(f["properties"]["distance_m"].as_f64().unwrap() <= 150.0);
    }
}

#[tokio::test]
async fn within_a_radius_pages_through_exactly_the_stops_postgis_finds() {
    let (db, state) = bus_stops().await;
    let expected: BTreeSet<i64> = sqlx::query_scalar(
        "SELECT fid FROM layers.bus_stops \
         WHERE ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, 1500)",
    )
    .bind(MARKET.0)
    .bind(MARKET.1)
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert!(expected.len() > 40, "{} stops", expected.len());
    let mut seen = BTreeSet::new();
    let mut uri = format!(
        "/v1/layers/bus_stops/within?lon={}&lat={}&radius=1500&limit=20",
        MARKET.0, MARKET.1
    );
    let mut pages = 0;
    loop {
        let (status, page) = get_json(&state, &uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for f in page["features"].as_array().unwrap() {
            assert!(seen.insert(f["id"].as_i64().unwrap()), "no feature twice");
            assert!(f["properties"]["distance_m"].as_f64().unwrap() <= 1500.0);
        }
        pages += 1;
        match page["next"].as_str() {
            Some(next) => {
                uri = format!(
                    "/v1/layers/bus_stops/within?lon={}&lat={}&radius=1500&limit=20&next={next}",
                    MARKET.0, MARKET.1
                )
            }
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert!(pages > 2);

    let (_, boxed) = get_json(
        &state,
        "/v1/layers/bus_stops/within?bbox=106.69,10.77,106.70,10.78&limit=1000",
    )
    .await;
    let in_box: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM layers.bus_stops WHERE ST_Intersects(geom, ST_MakeEnvelope(106.69, 10.77, 106.70, 10.78, 4326))",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(boxed["features"].as_array().unwrap().len() as i64, in_box);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let (_db, state) = bus_stops().await;
    for (uri, param) in [
        (
            "/v1/layers/bus_stops/nearest?lon=106.7&lat=10.7&k=1000",
            "k",
        ),
        ("/v1/layers/bus_stops/nearest?lon=106.7&lat=10.7&k=0", "k"),
        ("/v1/layers/bus_stops/nearest?lon=NaN&lat=10.7", "lon"),
        ("/v1/layers/bus_stops/nearest?lon=106.7&lat=95", "lat"),
        (
            "/v1/layers/bus_stops/nearest?lon=106.7&lat=10.7&max_distance=-1",
            "max_distance",
        ),
        (
            "/v1/layers/bus_stops/nearest?lon=106.7&lat=10.7&colour=red",
            "colour",
        ),
        (
            "/v1/layers/bus_stops/within?lon=106.7&lat=10.7&radius=0",
            "radius",
        ),
        (
            "/v1/layers/bus_stops/within?lon=106.7&lat=10.7&radius=1e12",
            "radius",
        ),
        ("/v1/layers/bus_stops/within?lon=106.7&lat=10.7", "radius"),
        (
            "/v1/layers/bus_stops/within?bbox=106.8,10.7,106.7,10.8",
            "bbox",
        ),
        ("/v1/layers/bus_stops/within?bbox=a,b,c,d", "bbox"),
        (
            "/v1/layers/bus_stops/within?bbox=106.6,10.7,106.8,10.8&next=zzz",
            "next",
        ),
        (
            "/v1/layers/bus_stops/within?bbox=106.6,10.7,106.8,10.8&limit=5000",
            "limit",
        ),
    ] {
        let (status, problem) = get_json(&state, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {problem}");
        assert_eq!(problem["invalid-params"][0]["name"], param, "{uri}");
    }
    let (status, _) = get_json(&state, "/v1/layers/nope/nearest?lon=106.7&lat=10.7").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn coordinates_next_to_zero_are_answered_not_a_server_error() {
    // Valid degrees whose arithmetic would underflow in PostgreSQL (`radians(5e-324)`).
    let (_db, state) = bus_stops().await;
    for uri in [
        "/v1/layers/bus_stops/nearest?lon=5e-324&lat=5e-324&engine=postgis",
        "/v1/layers/bus_stops/nearest?lon=-1e-200&lat=1e-200&max_distance=1e-320&engine=postgis",
        "/v1/layers/bus_stops/within?lon=5e-324&lat=5e-324&radius=5e-324",
        "/v1/layers/bus_stops/within?bbox=-5e-324,-5e-324,5e-324,5e-324",
    ] {
        let (status, body) = get_json(&state, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(body["features"].is_array(), "{uri}: {body}");
    }
}

#[tokio::test]
async fn in_memory_nearest_agrees_with_postgis_everywhere() {
    let (_db, state) = bus_stops().await;
    let layer = state
        .catalog
        .layer("bus_stops", &bando_core::access::Viewer::ANONYMOUS)
        .unwrap();
    assert!(state.nearest.get(&layer).is_some(), "index not built");
    // Deterministic pseudo-random points over the city and beyond its edge.
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..300 {
        let (lon, lat) = (106.3 + next() * 0.9, 10.3 + next() * 1.0);
        let k = 1 + i % 9;
        let max = if i % 4 == 0 { "&max_distance=800" } else { "" };
        let query = format!("lon={lon:.6}&lat={lat:.6}&k={k}{max}");
        let answer = |engine: &'static str| {
            let state = state.clone();
            let uri = format!("/v1/layers/bus_stops/nearest?{query}&engine={engine}");
            async move {
                let (status, body) = get_json(&state, &uri).await;
                assert_eq!(status, StatusCode::OK, "{uri}: {body}");
                body["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| {
                        (
                            f["id"].as_i64().unwrap(),
                            f["properties"]["distance_m"].as_f64().unwrap(),
                            f["properties"]["name"].clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        let (memory, postgis) = (answer("index").await, answer("postgis").await);
        assert_eq!(memory.len(), postgis.len(), "{query}");
        for (m, p) in memory.iter().zip(&postgis) {
            assert_eq!((m.0, &m.2), (p.0, &p.2), "{query}");
            assert!((m.1 - p.1).abs() <= 0.011, "{query}: {} vs {}", m.1, p.1);
        }
    }
}
