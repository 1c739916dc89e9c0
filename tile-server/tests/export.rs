//! `export`: the base map of central HCMC written to a PMTiles archive holds the same tiles the
//! server serves, and the archive can itself be served as a tileset.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use bando_core::testing::{fresh_database, mvt, shared_data};
use bando_core::tile::TileCoord;
use bando_importers::ImportRequest;
use common::{get_json, get_raw};
use tile_server::tiles::export::{ExportRequest, export_pmtiles, tiles_in};
use tile_server::tiles::sources::{PmtilesFile, TileSource};
use tile_server::{AppState, Config};

#[tokio::test]
async fn exported_archive_serves_the_same_tiles() {
    let db = fresh_database().await;
    let request = ImportRequest {
        path: shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards"),
        layer: "wards_2025".to_owned(),
        ..ImportRequest::default()
    };
    bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("centre.pmtiles");
    let basemap = state
        .catalog
        .tileset("basemap", &bando_core::access::Viewer::ANONYMOUS)
        .unwrap();
    let calls = std::sync::atomic::AtomicU64::new(0);
    let request = ExportRequest {
        bbox: [106.66, 10.75, 106.72, 10.80],
        minzoom: 10,
        maxzoom: 14,
        concurrency: 4,
    };
    let summary = export_pmtiles(basemap.as_ref(), &request, &path, |_, _| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .await
    .unwrap();
    assert_eq!(
        calls.into_inner(),
        summary.tiles,
        "progress reported per tile"
    );
    assert_eq!(summary.tiles, tiles_in(&request).unwrap().len() as u64);
    // Wards cover the whole box: every tile has features.
    assert_eq!(summary.written, summary.tiles, "{summary:?}");

    let file = PmtilesFile::open(&path).await.unwrap();
    assert_eq!(file.id(), "centre");
    assert_eq!(file.zoom_range(), (10, 14));
    let market = TileCoord::containing(106.6981, 10.7725, 14).unwrap();
    let from_file = file.tile(market).await.unwrap();
    let from_server = basemap.tile(market).await.unwrap();
    assert_eq!(from_file, from_server);
    let names: Vec<String> = mvt::decode(&from_file)
        .into_iter()
        .find(|l| l.name == "boundary_label")
        .unwrap()
        .features
        .into_iter()
        .filter_map(|f| f.properties["name"].as_str().map(str::to_owned))
        .collect();
    assert!(names.contains(&"Bến Thành".to_owned()), "{names:?}");

    // Served as a tileset of its own, with TileJSON from the archive's metadata.
    state.catalog.add_file_tileset(Arc::new(file));
    let served = get_raw(&state, &format!("/tiles/centre/{market}.mvt"), &[]).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, from_server.to_vec());
    let (status, tilejson) = get_json(&state, "/tiles/centre.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        tilejson["vector_layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == "boundary")
    );
    // Outside the exported zooms: 404, not a guess.
    let (status, _) = get_json(&state, "/tiles/centre/15/26095/15396.mvt").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_export_requests_are_refused_and_leave_no_file() {
    let db = fresh_database().await;
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();
    let basemap = state
        .catalog
        .tileset("basemap", &bando_core::access::Viewer::ANONYMOUS)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pmtiles");
    for (bbox, minzoom, maxzoom) in [
        ([106.72, 10.75, 106.66, 10.80], 10, 12),
        ([106.66, 10.75, 106.72, 10.80], 12, 10),
        ([106.66, 10.75, 106.72, 10.80], 10, 20),
    ] {
        let request = ExportRequest {
            bbox,
            minzoom,
            maxzoom,
            concurrency: 1,
        };
        assert!(
            export_pmtiles(basemap.as_ref(), &request, &path, |_, _| {})
                .await
                .is_err()
        );
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}
