//! A client that gives up on a slow tile takes its query with it: PostgreSQL stops working on a
//! tile nobody will read, instead of holding a connection until `statement_timeout`.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bando_core::testing::shared_data;
use bando_e2e::RunningServer;
use bando_importers::ImportRequest;

/// Statements of the server's pool still running the tile query of `table`.
async fn running_tile_queries(server: &RunningServer, table: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%' \
           AND query LIKE '%ST_AsMVT%'",
    )
    .bind(table)
    .fetch_one(&server.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_client_that_leaves_cancels_its_tile_query() {
    let server = RunningServer::start_fresh().await;
    let request = ImportRequest {
        path: shared_data().join("hcmgis-vn2000/DiTich.shp"),
        layer: "slow_sites".into(),
        ..ImportRequest::default()
    };
    bando_importers::import(&server.db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
    // Make the layer slow to read: any query of it first waits 6 s.
    sqlx::raw_sql(
        "ALTER TABLE layers.slow_sites RENAME TO slow_sites_rows;
         CREATE VIEW layers.slow_sites AS
             SELECT * FROM layers.slow_sites_rows WHERE (SELECT pg_sleep(6)) IS NOT NULL;",
    )
    .execute(&server.db.pool)
    .await
    .unwrap();
    // Wait (bounded) until the server serves the layer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/tiles/slow_sites.json").await.status() != 200 {
        assert!(Instant::now() < deadline, "layer never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A z14 tile over District 1, abandoned after half a second.
    let url = format!("{}/tiles/slow_sites/14/13048/7697.mvt", server.base);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let request = tokio::spawn({
        let url = url.clone();
        async move { impatient.get(&url).send().await }
    });
    // The tile query runs while the client waits.
    let asked = Instant::now();
    while running_tile_queries(&server, "slow_sites").await == 0 {
        assert!(
            asked.elapsed() < Duration::from_millis(450),
            "no tile query seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(request.await.unwrap().is_err(), "the client gave up");

    // It stops well before it would have finished (6 s) or hit statement_timeout (10 s).
    let left = Instant::now();
    loop {
        if running_tile_queries(&server, "slow_sites").await == 0 {
            break;
        }
        assert!(
            left.elapsed() < Duration::from_secs(3),
            "the tile query kept running after its client left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The server is fine afterwards: the tile is served to a patient client.
    let response = server.get(&url).await;
    assert!(response.status().is_success(), "{}", response.status());
}
