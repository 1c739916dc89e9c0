//! The tile cache under concurrency and content negotiation: simultaneous requests for one uncached
//! tile run its query once; brotli and gzip bodies decode to the same tile.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::io::Read;

use axum::http::StatusCode;
use bando_core::tile::TileCoord;
use common::get_raw;
use tile_server::AppState;

async fn wards_state() -> (bando_core::testing::TestDatabase, AppState) {
    common::serving_shared("hcmc-wards-2025/79_ho_chi_minh/wards", "wards_2025").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_tile_run_one_query() {
    let (_db, state) = wards_state().await;
    let t = TileCoord::containing(106.6981, 10.7725, 12).unwrap();
    let uri = format!("/tiles/basemap/{t}.mvt");
    let requests = (0..24).map(|_| {
        let state = state.clone();
        let uri = uri.clone();
        tokio::spawn(async move { get_raw(&state, &uri, &[]).await })
    });
    let responses = futures::future::join_all(requests).await;
    let mut misses = 0;
    let first = &responses[0].as_ref().unwrap().body;
    for response in &responses {
        let response = response.as_ref().unwrap();
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(&response.body, first);
        if response.header("x-tile-cache") == "miss" {
            misses += 1;
        }
    }
    assert_eq!(misses, 1, "the tile was built {misses} times");
}

#[tokio::test]
async fn brotli_and_gzip_carry_the_same_tile() {
    let (_db, state) = wards_state().await;
    let t = TileCoord::containing(106.6981, 10.7725, 14).unwrap();
    let uri = format!("/tiles/wards_2025/{t}.mvt");
    let raw = get_raw(&state, &uri, &[]).await;
    assert_eq!(raw.header("content-encoding"), "");

    let br = get_raw(&state, &uri, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(br.header("content-encoding"), "br");
    let mut decoded = Vec::new();
    brotli::BrotliDecompress(&mut &br.body[..], &mut decoded).unwrap();
    assert_eq!(decoded, raw.body);
    assert!(br.body.len() < raw.body.len());

    let gzip = get_raw(&state, &uri, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gzip.header("content-encoding"), "gzip");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gzip.body[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, raw.body);
    assert_eq!(br.header("etag"), gzip.header("etag"));
}
