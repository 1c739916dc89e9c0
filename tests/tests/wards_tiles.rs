//! The first path end to end on real data: import the 2025 wards (168 GeoJSON files, one layer)
//! and the 2019 wards (Shapefile in UTM 48N), serve them over real HTTP, and read the ward under
//! Bến Thành market out of decoded z14 tiles.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::sync::Arc;

use bando_core::testing::{mvt, shared_data};
use bando_core::tile::{TileCoord, lonlat_to_tile_fraction};
use bando_e2e::RunningServer;
use bando_importers::ImportRequest;

const MARKET: (f64, f64) = (106.6981, 10.7725);
/// ST_AsMVTGeom's clip buffer, in tile units.
const BUFFER: f64 = 64.0;

async fn import(server: &RunningServer, path: std::path::PathBuf, layer: &str) -> i32 {
    let request = ImportRequest {
        path,
        layer: layer.to_owned(),
        ..ImportRequest::default()
    };
    let outcome = bando_importers::import(&server.db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap_or_else(|e| panic!("importing {layer}: {e}"));
    outcome.version.expect("published")
}

/// Fetches the layer's TileJSON, checks the TileJSON 3.0.0 required fields, and returns the
/// decoded z14 tile over the market with the market's position inside it.
async fn market_tile(server: &RunningServer, layer: &str) -> (Vec<mvt::DecodedLayer>, f64, f64) {
    let response = server.get(&format!("/tiles/{layer}.json")).await;
    assert_eq!(response.status(), 200);
    let tilejson: serde_json::Value = response.json().await.unwrap();
    // Required by TileJSON 3.0.0: tilejson (semver), tiles (non-empty array of strings),
    // and vector_layers (each with an id and a fields object) for vector tilesets.
    assert_eq!(tilejson["tilejson"], "3.0.0");
    let template = tilejson["tiles"][0].as_str().expect("a tile URL template");
    assert!(
        template.starts_with(&server.base),
        "absolute URL: {template}"
    );
    let layers = tilejson["vector_layers"].as_array().expect("vector_layers");
    assert!(
        layers
            .iter()
            .all(|l| l["id"].is_string() && l["fields"].is_object())
    );
    assert!(tilejson["bounds"].as_array().is_some_and(|b| b.len() == 4));

    let tile = TileCoord::containing(MARKET.0, MARKET.1, 14).unwrap();
    let url = template
        .replace("{z}", &tile.z.to_string())
        .replace("{x}", &tile.x.to_string())
        .replace("{y}", &tile.y.to_string());
    let response = server.get(&url).await;
    assert_eq!(response.status(), 200, "{url}");
    let decoded = mvt::decode(&response.bytes().await.unwrap());
    let (fx, fy) = lonlat_to_tile_fraction(MARKET.0, MARKET.1, tile.z);
    let extent = f64::from(decoded[0].extent);
    (
        decoded,
        (fx - f64::from(tile.x)) * extent,
        (fy - f64::from(tile.y)) * extent,
    )
}

fn assert_inside_extent_plus_buffer(layer: &mvt::DecodedLayer) {
    use geo::CoordsIter;
    let extent = f64::from(layer.extent);
    for feature in &layer.features {
        for c in feature.geometry.coords_iter() {
            assert!(
                (-BUFFER..=extent + BUFFER).contains(&c.x)
                    && (-BUFFER..=extent + BUFFER).contains(&c.y),
                "coordinate {c:?} outside the tile extent plus buffer"
            );
        }
    }
}

#[tokio::test]
async fn ben_thanh_market_is_in_ben_thanh_ward_in_both_layouts() {
    let server = RunningServer::start_fresh().await;
    let data = shared_data();
    import(
        &server,
        data.join("hcmc-wards-2025/79_ho_chi_minh/wards"),
        "wards_2025",
    )
    .await;
    import(
        &server,
        data.join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp"),
        "wards_2019",
    )
    .await;
    // The server learns of both publishes by NOTIFY; it must list them.
    let catalog = wait_for_catalog(&server, &["wards_2019", "wards_2025"]).await;
    let wards_2025 = catalog.iter().find(|l| l["id"] == "wards_2025").unwrap();
    assert_eq!(
        wards_2025["feature_count"], 168,
        "one layer from the 168 files"
    );

    let (layers, x, y) = market_tile(&server, "wards_2025").await;
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].name, "wards_2025");
    assert_eq!(layers[0].version, 2, "MVT 2.x");
    let hits = layers[0].features_at(x, y);
    assert_eq!(hits.len(), 1, "exactly one 2025 ward at the market");
    assert_eq!(hits[0].properties["fullname"], "Phường Bến Thành");
    assert_eq!(hits[0].properties["code"], "26743");
    assert!(
        layers[0].features.len() > 1,
        "neighbouring wards are in the tile too"
    );
    assert_inside_extent_plus_buffer(&layers[0]);

    let (layers, x, y) = market_tile(&server, "wards_2019").await;
    let hits = layers[0].features_at(x, y);
    assert_eq!(hits.len(), 1, "exactly one 2019 ward at the market");
    assert_eq!(hits[0].properties["com_name"], "Ben Thanh");
    assert_eq!(hits[0].properties["dist_name"], "District 1");
    assert_inside_extent_plus_buffer(&layers[0]);
}

#[tokio::test]
async fn republishing_a_layer_reaches_the_running_server() {
    let server = RunningServer::start_fresh().await;
    let data = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards");
    let v1 = import(&server, data.join("26743_ben_thanh.geojson"), "wards").await;
    wait_for_catalog(&server, &["wards"]).await;
    let t = TileCoord::containing(MARKET.0, MARKET.1, 14).unwrap();
    let tile_path = format!("/tiles/wards/14/{}/{}.mvt", t.x, t.y);
    let before = mvt::decode(&server.get(&tile_path).await.bytes().await.unwrap());
    assert_eq!(before[0].features.len(), 1);
    let tilejson_v1: serde_json::Value =
        server.get("/tiles/wards.json").await.json().await.unwrap();

    // Publish the neighbouring ward too: a new version with two features.
    let dir = tempdir_with(&[
        data.join("26743_ben_thanh.geojson"),
        data.join("26740_sai_gon.geojson"),
    ]);
    let v2 = import(&server, dir.clone(), "wards").await;
    assert_eq!(v2, v1 + 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let tilejson: serde_json::Value =
            server.get("/tiles/wards.json").await.json().await.unwrap();
        // The new content has a new revision, which the tile URLs carry.
        if tilejson["tiles"] != tilejson_v1["tiles"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server never saw version {v2}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = mvt::decode(&server.get(&tile_path).await.bytes().await.unwrap());
    let names: Vec<_> = after[0]
        .features
        .iter()
        .map(|f| f.properties["name"].clone())
        .collect();
    assert_eq!(after[0].features.len(), 2, "{names:?}");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempdir_with(files: &[std::path::PathBuf]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bando-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
    }
    dir
}

/// The catalog once it lists every layer in `expected` (the server follows publishes by NOTIFY,
/// asynchronously; give it a bounded time).
async fn wait_for_catalog(server: &RunningServer, expected: &[&str]) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let catalog: Vec<serde_json::Value> = server.get("/catalog").await.json().await.unwrap();
        if expected
            .iter()
            .all(|id| catalog.iter().any(|l| l["id"] == *id))
        {
            return catalog;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "catalog never listed {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
