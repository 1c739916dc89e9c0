//! The web viewer in a real browser: headless Chromium (software WebGL) opens the viewer served by
//! a running bando over the real city (2025 wards, the OpenStreetMap extract), renders the base
//! map with MapLibre GL JS at fixed views, light and dark, and each view draws what a citizen
//! expects there (checked from the rendered features, not pixels): the river and main roads at
//! z11, named arterials at z13, street names, one-way arrows, buildings and POIs at z15–16,
//! Vietnamese labels with their diacritics. The screenshots stay in `target/screenshots/`. Needs
//! node, the viewer's npm packages and Chromium (installed by `scripts/install-deps`).

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use bando_e2e::{RunningServer, import_osm_extract, import_shared, repo, screenshot_dir};
use bando_importers::ImportRequest;

/// What the page reported after rendering one view.
#[derive(Debug, serde::Deserialize)]
struct Rendered {
    labels: Vec<String>,
    layers: Vec<String>,
    /// Names drawn, by style layer.
    named: HashMap<String, Vec<String>>,
    errors: Vec<String>,
}

impl Rendered {
    fn drew(&self, layer: &str) -> bool {
        self.layers.iter().any(|l| l == layer)
    }

    /// Whether a style layer whose id starts with `prefix` drew a feature named `name`.
    fn drew_named(&self, prefix: &str, name: &str) -> bool {
        self.named
            .iter()
            .any(|(layer, names)| layer.starts_with(prefix) && names.iter().any(|n| n == name))
    }
}

/// A rendered view: what it drew and its pixels (RGBA or RGB).
struct Shot {
    rendered: Rendered,
    pixels: Vec<u8>,
    channels: usize,
}

/// Renders `views` (`(url, png path)`) in one browser; returns what each drew and its pixels.
async fn screenshots(views: Vec<(String, PathBuf)>) -> Vec<Shot> {
    let script = repo().join("tests/viewer/screenshot.mjs");
    let args: Vec<String> = views
        .iter()
        .flat_map(|(url, out)| [url.clone(), out.display().to_string()])
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .args(args)
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
    let lines: Vec<Rendered> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), views.len());
    lines
        .into_iter()
        .zip(views)
        .map(|(rendered, (_, png_path))| {
            let decoder = png::Decoder::new(std::io::BufReader::new(
                std::fs::File::open(png_path).unwrap(),
            ));
            let mut reader = decoder.read_info().unwrap();
            let mut pixels = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut pixels).unwrap();
            pixels.truncate(info.buffer_size());
            assert_eq!((info.width, info.height), (1024, 768));
            let channels = pixels.len() / (1024 * 768);
            Shot {
                rendered,
                pixels,
                channels,
            }
        })
        .collect()
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

/// The fixed views of the city the base map must draw well, and what each must show.
const VIEWS: [(&str, &str); 5] = [
    ("centre-z11", "#11/10.78/106.70"),
    ("centre-z13", "#13/10.78/106.70"),
    ("ben-thanh-z15", "#15/10.7725/106.6981"),
    ("thu-thiem-z14", "#14/10.775/106.72"),
    ("phu-my-hung-z16", "#16/10.728/106.718"),
];

fn check_view(view: &str, r: &Rendered) {
    assert!(r.errors.is_empty(), "{view}: {:?}", r.errors);
    let need = |ok: bool, what: &str| assert!(ok, "{view}: {what} not drawn: {:?}", r.layers);
    match view {
        "centre-z11" => {
            // The Saigon river and the main roads.
            need(
                r.drew_named("water", "Sông Sài Gòn") || r.drew_named("waterway", "Sông Sài Gòn"),
                "the Saigon river",
            );
            for layer in [
                "road-motorway",
                "road-trunk",
                "road-primary",
                "boundary-city",
            ] {
                need(r.drew(layer), layer);
            }
        }
        "centre-z13" => {
            // The arterial network with its names, canals and parks.
            for name in ["Điện Biên Phủ", "Võ Văn Kiệt"] {
                need(r.drew_named("road-label-arterial", name), name);
            }
            need(r.drew_named("waterway-river", "Kênh Tàu Hủ"), "Kênh Tàu Hủ");
            need(r.drew("landuse-park"), "parks");
            need(r.drew("ward-label"), "ward names");
        }
        "ben-thanh-z15" => {
            // Every street with its name, one-way arrows, buildings, POI icons, the ward.
            for name in ["Lê Lợi", "Pasteur", "Nguyễn Huệ"] {
                need(r.labels.iter().any(|l| l.starts_with(name)), name);
            }
            for layer in ["road-oneway", "building", "poi-icon", "road-label-minor"] {
                need(r.drew(layer), layer);
            }
            need(r.drew_named("ward-label", "Bến Thành"), "Bến Thành ward");
        }
        "thu-thiem-z14" => {
            need(
                r.drew_named("road-label-arterial", "Mai Chí Thọ"),
                "Mai Chí Thọ",
            );
            need(
                r.drew_named("waterway-label", "Sông Sài Gòn"),
                "the river's name",
            );
            need(
                r.drew_named("bridge-", "Cầu Thủ Thiêm"),
                "Cầu Thủ Thiêm bridge",
            );
        }
        _ => {
            need(
                r.labels.iter().any(|l| l == "Nguyễn Văn Linh"),
                "Nguyễn Văn Linh",
            );
            need(
                r.drew_named("water-label", "Hồ Bán Nguyệt"),
                "Hồ Bán Nguyệt",
            );
            for layer in ["building", "poi-icon", "road-oneway"] {
                need(r.drew(layer), layer);
            }
        }
    }
}

/// Screenshots are kept in `target/screenshots/` (CI's artefacts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_map_draws_the_real_city_at_every_zoom_in_both_styles() {
    let server = RunningServer::start_fresh().await;
    for (layer, path) in [
        ("wards_2025", "hcmc-wards-2025/79_ho_chi_minh/wards"),
        (
            "city_2025",
            "hcmc-wards-2025/79_ho_chi_minh/79_ho_chi_minh.geojson",
        ),
    ] {
        let request = ImportRequest {
            layer: layer.to_owned(),
            ..ImportRequest::default()
        };
        import_shared(&server.db.pool, path, request).await;
    }
    import_osm_extract(&server.db.pool).await;
    // Let the running server see the new layers (publishes are announced by NOTIFY).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let catalog: serde_json::Value = server.get("/catalog").await.json().await.unwrap();
        if catalog.as_array().unwrap().len() >= 10 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "catalog: {catalog}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let dir = screenshot_dir("");
    let mut views = Vec::new();
    for style in ["light", "dark"] {
        for (name, hash) in VIEWS {
            let query = if style == "dark" { "?style=dark" } else { "" };
            views.push((
                format!("{}/{query}{hash}", server.base),
                dir.join(format!("basemap-{name}-{style}.png")),
            ));
        }
    }
    let shots = screenshots(views).await;
    let (light, dark) = shots.split_at(VIEWS.len());
    for ((name, _), (l, d)) in VIEWS.iter().zip(light.iter().zip(dark)) {
        check_view(name, &l.rendered);
        check_view(name, &d.rendered);
        assert!(
            distinct_colours(&l.pixels, l.channels) > 200,
            "{name}: a blank or flat picture"
        );
        assert!(
            mean_brightness(&d.pixels, d.channels) + 60.0 < mean_brightness(&l.pixels, l.channels),
            "{name}: the dark style is not darker"
        );
    }
}
