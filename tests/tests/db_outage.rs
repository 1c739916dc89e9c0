//! PostgreSQL stops under a running server (its own private cluster, stopped for real): requests
//! that need the database are refused at once — `503` with `Retry-After`, not after the pool's
//! acquire timeout — while cached tiles keep being served; `/ready` says so at once; the breaker
//! shows in `/metrics`; and when PostgreSQL is back the server recovers by itself.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bando_core::db::PoolSettings;
use bando_core::embedded::EmbeddedCluster;
use bando_core::testing::TestDatabase;
use bando_e2e::{RunningServer, import_shared};
use bando_importers::ImportRequest;
use reqwest::StatusCode;

/// A tile of Bến Thành, cached before the outage.
const CACHED: &str = "/tiles/wards_2025/14/13047/7698.mvt";
/// Tiles nobody asked for before the outage: they need the database.
const UNCACHED: [&str; 3] = [
    "/tiles/wards_2025/13/6523/3849.mvt",
    "/tiles/wards_2025/12/3261/1924.mvt",
    "/tiles/wards_2025/11/1630/962.mvt",
];

/// The value of metric `name` (no labels) in `/metrics`.
async fn metric(server: &RunningServer, name: &str) -> f64 {
    let text = server.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// Polls `/metrics` until the breaker is `open` (1) or closed (0).
async fn breaker_becomes(server: &RunningServer, open: f64) {
    let mut interval = tokio::time::interval(Duration::from_millis(50));
    for _ in 0..400 {
        interval.tick().await;
        if metric(server, "bando_db_breaker_open").await == open {
            return;
        }
    }
    panic!("the breaker never became {open}");
}

#[tokio::test]
async fn requests_fail_fast_while_postgres_is_down_and_recover_when_it_is_back() {
    let home = std::env::var_os("BANDO_HOME")
        .map_or_else(|| bando_e2e::repo().join(".bando"), PathBuf::from);
    let root = bando_core::embedded::cluster_root(&home, "outage-test-pg");
    let mut cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = EmbeddedCluster::new(root, 55470, false);
        cluster.ensure_running().map(|()| cluster)
    })
    .await
    .unwrap()
    .unwrap();
    let admin = sqlx::PgPool::connect(&cluster.url("postgres"))
        .await
        .unwrap();
    sqlx::query("DROP DATABASE IF EXISTS bando_outage WITH (FORCE)")
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let url = cluster.ensure_database("bando_outage").await.unwrap();
    // The server's pool as production has it: a 3 s acquire timeout.
    let pool = bando_core::db::connect(&url, &PoolSettings::default())
        .await
        .unwrap();
    bando_core::db::migrate(&pool).await.unwrap();
    import_shared(
        &pool,
        "hcmc-wards-2025/79_ho_chi_minh/wards",
        ImportRequest {
            layer: "wards_2025".to_owned(),
            admin_level: Some("ward".to_owned()),
            layout: Some("2025".to_owned()),
            valid_from: Some("2025-07-01".parse().unwrap()),
            ..ImportRequest::default()
        },
    )
    .await;
    let server = RunningServer::start(TestDatabase { url, pool }).await;
    assert_eq!(server.get(CACHED).await.status(), StatusCode::OK);
    assert_eq!(server.get("/ready").await.status(), StatusCode::OK);
    assert_eq!(metric(&server, "bando_db_breaker_open").await, 0.0);

    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap()
        .unwrap();
    // The listener's connection drops with the database: the breaker opens without any request
    // having to wait for the pool first.
    breaker_becomes(&server, 1.0).await;

    let mut latencies = Vec::new();
    for round in 0..10 {
        for path in UNCACHED
            .iter()
            .copied()
            .chain(["/ready", "/ogc/collections/wards_2025/items?limit=1"])
        {
            let started = Instant::now();
            let response = server.get(path).await;
            latencies.push(started.elapsed());
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{path} (round {round})"
            );
            assert_eq!(response.headers()["retry-after"], "1", "{path}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json",
                "{path}"
            );
        }
        // Cached tiles and the in-memory ward lookup do not need the database.
        assert_eq!(server.get(CACHED).await.status(), StatusCode::OK);
        let ward = server.get("/v1/wards?lon=106.698&lat=10.772").await;
        assert_eq!(ward.status(), StatusCode::OK);
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let slowest = latencies[latencies.len() - 1];
    // Without the breaker each of these waits out the 3 s acquire timeout.
    assert!(median < Duration::from_millis(100), "median {median:?}");
    assert!(slowest < Duration::from_secs(1), "slowest {slowest:?}");
    assert!(metric(&server, "bando_db_breaker_refused_total").await >= 50.0);
    assert_eq!(metric(&server, "bando_db_breaker_trips_total").await, 1.0);

    tokio::task::spawn_blocking(move || cluster.ensure_running())
        .await
        .unwrap()
        .unwrap();
    breaker_becomes(&server, 0.0).await;
    for path in UNCACHED.iter().copied().chain(["/ready"]) {
        assert_eq!(server.get(path).await.status(), StatusCode::OK, "{path}");
    }
}
