//! The web viewer in a real browser: headless Chromium (software WebGL) opens the viewer served by
//! a running bando over real HCMC data, renders the base map with MapLibre GL JS, and the
//! screenshot is a drawn map — not blank, ward and street labels with Vietnamese diacritics
//! rendered, the dark style darker than the light one. Needs node, the viewer's npm packages and
//! Chromium (installed by `scripts/install-deps`).

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bando_core::testing::shared_data;
use bando_e2e::RunningServer;
use bando_importers::ImportRequest;

/// What the page reported after rendering.
#[derive(Debug, serde::Deserialize)]
struct Rendered {
    labels: Vec<String>,
    layers: Vec<String>,
    errors: Vec<String>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn import(server: &RunningServer, request: ImportRequest) {
    bando_importers::import(&server.db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

/// Runs the screenshot script on `url`; returns what rendered and the PNG's pixels (RGBA).
async fn screenshot(url: String, out: PathBuf) -> (Rendered, Vec<u8>) {
    let script = repo().join("tests/viewer/screenshot.mjs");
    let png_path = out.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(&url)
            .arg(&out)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "screenshot failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered: Rendered = serde_json::from_slice(&output.stdout).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    assert_eq!((info.width, info.height), (1024, 768));
    (rendered, pixels)
}

fn distinct_colours(rgb: &[u8], channels: usize) -> usize {
    rgb.chunks(channels)
        .map(|p| (p[0], p[1], p[2]))
        .collect::<HashSet<_>>()
        .len()
}

fn mean_brightness(rgb: &[u8], channels: usize) -> f64 {
    let pixels = rgb.len() / channels;
    rgb.chunks(channels)
        .map(|p| f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2]))
        .sum::<f64>()
        / (3.0 * pixels as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_renders_the_base_map_with_vietnamese_labels() {
    let server = RunningServer::start_fresh().await;
    let wards = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards");
    import(
        &server,
        ImportRequest {
            path: wards,
            layer: "wards_2025".to_owned(),
            ..ImportRequest::default()
        },
    )
    .await;
    bando_importers::osm::import_osm(
        &server.db.pool,
        &ImportRequest {
            path: repo().join("data/fixtures/ben-thanh.osm"),
            layer: "osm".to_owned(),
            ..ImportRequest::default()
        },
        Arc::new(|_, _| {}),
    )
    .await
    .unwrap();
    // Let the running server see the new layers (publishes are announced by NOTIFY).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let catalog: serde_json::Value = server.get("/catalog").await.json().await.unwrap();
        if catalog.as_array().unwrap().len() >= 9 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "catalog: {catalog}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let dir = tempfile_dir();
    // Bến Thành market at z16.
    let view = "#16/10.7725/106.6981";
    let (light, light_pixels) =
        screenshot(format!("{}/{view}", server.base), dir.join("light.png")).await;
    assert!(light.errors.is_empty(), "{:?}", light.errors);
    for label in ["Bến Thành", "Lê Lợi"] {
        assert!(
            light.labels.iter().any(|l| l == label),
            "{label} not drawn: {light:?}"
        );
    }
    for layer in [
        "boundary-ward",
        "water",
        "road-primary",
        "ward-label",
        "road-label",
        "poi-icon",
    ] {
        assert!(
            light.layers.iter().any(|l| l == layer),
            "{layer} not drawn: {light:?}"
        );
    }
    let channels = light_pixels.len() / (1024 * 768);
    assert!(
        distinct_colours(&light_pixels, channels) > 200,
        "a blank or flat picture"
    );

    let (dark, dark_pixels) = screenshot(
        format!("{}/?style=dark{view}", server.base),
        dir.join("dark.png"),
    )
    .await;
    assert!(dark.errors.is_empty(), "{:?}", dark.errors);
    assert!(dark.labels.iter().any(|l| l == "Bến Thành"));
    assert!(
        mean_brightness(&dark_pixels, channels) + 60.0 < mean_brightness(&light_pixels, channels),
        "the dark style is not darker"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bando-viewer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
