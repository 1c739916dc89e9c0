//! Sprites: the sheets decode as PNG, every index entry lies inside its sheet and shows a drawn
//! icon, `@2x` is the same set at twice the size, the styles only ask for icons the sheet has, a
//! broken SVG is left out without taking its set down, and bad names get 4xx problems.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::collections::{BTreeMap, HashSet};

use axum::http::StatusCode;
use bando_core::testing::fresh_database;
use common::{get_json, get_raw};
use tile_server::{AppState, Config};

#[derive(Debug, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Entry {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    pixel_ratio: u8,
}

/// Width, height and RGBA pixels of a PNG.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    assert_eq!(info.color_type, png::ColorType::Rgba, "expanded to RGBA");
    (info.width, info.height, pixels)
}

/// Share of opaque pixels (alpha > 128) in one icon's rectangle.
fn opaque_share(width: u32, pixels: &[u8], entry: &Entry) -> f64 {
    let mut opaque = 0;
    for y in entry.y..entry.y + entry.height {
        for x in entry.x..entry.x + entry.width {
            if pixels[((y * width + x) * 4 + 3) as usize] > 128 {
                opaque += 1;
            }
        }
    }
    f64::from(opaque) / f64::from(entry.width * entry.height)
}

async fn sheet(state: &AppState, name: &str) -> (BTreeMap<String, Entry>, (u32, u32, Vec<u8>)) {
    let index = get_raw(state, &format!("/sprites/{name}.json"), &[]).await;
    assert_eq!(index.status, StatusCode::OK, "{name}.json");
    let image = get_raw(state, &format!("/sprites/{name}.png"), &[]).await;
    assert_eq!(image.status, StatusCode::OK, "{name}.png");
    assert_eq!(image.headers["content-type"], "image/png");
    (
        serde_json::from_slice(&index.body).unwrap(),
        decode_png(&image.body),
    )
}

/// Every icon name a style layer may ask for: the string outputs of its `icon-image` expression.
fn icon_names(expression: &serde_json::Value, names: &mut HashSet<String>) {
    match expression {
        serde_json::Value::String(name) => {
            names.insert(name.clone());
        }
        serde_json::Value::Array(items)
            if items.first().and_then(|v| v.as_str()) == Some("match") =>
        {
            // ["match", input, labels, output, labels, output, ..., fallback]
            let outputs = &items[2..];
            for (i, item) in outputs.iter().enumerate() {
                if i % 2 == 1 || i == outputs.len() - 1 {
                    icon_names(item, names);
                }
            }
        }
        other => panic!("unexpected icon-image expression {other}"),
    }
}

#[tokio::test]
async fn basemap_sprite_sheets_hold_every_icon_the_styles_use() {
    let db = fresh_database().await;
    let state = AppState::new(db.pool.clone(), Config::default());

    let (_, sets) = get_json(&state, "/sprites").await;
    assert!(
        sets.as_array().unwrap().iter().any(|s| s == "basemap"),
        "{sets}"
    );

    let (index, (width, height, pixels)) = sheet(&state, "basemap").await;
    let (index2, (width2, height2, pixels2)) = sheet(&state, "basemap@2x").await;
    assert!(index.len() >= 10, "{index:?}");
    assert_eq!(
        index.keys().collect::<Vec<_>>(),
        index2.keys().collect::<Vec<_>>()
    );
    for (name, entry) in &index {
        let entry2 = &index2[name];
        assert_eq!((entry.pixel_ratio, entry2.pixel_ratio), (1, 2), "{name}");
        assert_eq!(
            (entry2.width, entry2.height),
            (entry.width * 2, entry.height * 2),
            "{name}"
        );
        assert!(entry.x + entry.width <= width && entry.y + entry.height <= height);
        assert!(entry2.x + entry2.width <= width2 && entry2.y + entry2.height <= height2);
        // The badges are round: about π/4 of the square is drawn, at either ratio; the one-way
        // arrow is a thin line and its head.
        let expected = if name == "oneway" {
            0.1..0.5
        } else {
            0.5..0.95
        };
        for share in [
            opaque_share(width, &pixels, entry),
            opaque_share(width2, &pixels2, entry2),
        ] {
            assert!(expected.contains(&share), "{name}: {share}");
        }
    }

    for style in ["light", "dark"] {
        let (status, style_json) = get_json(&state, &format!("/styles/{style}.json")).await;
        assert_eq!(status, StatusCode::OK);
        let sprite = style_json["sprite"].as_str().unwrap();
        let path = sprite.split_once("://").unwrap().1;
        let path = &path[path.find('/').unwrap()..];
        assert_eq!(path, "/sprites/basemap", "{style}");
        let mut wanted = HashSet::new();
        for layer in style_json["layers"].as_array().unwrap() {
            if let Some(expression) = layer["layout"].get("icon-image") {
                icon_names(expression, &mut wanted);
            }
        }
        assert!(wanted.len() >= 10, "{style}: {wanted:?}");
        for name in wanted {
            assert!(
                index.contains_key(&name),
                "{style} asks for missing icon {name}"
            );
        }
    }

    for (uri, status, param) in [
        (
            "/sprites/basemap@3x.png",
            StatusCode::BAD_REQUEST,
            Some("file"),
        ),
        (
            "/sprites/basemap@x.json",
            StatusCode::BAD_REQUEST,
            Some("file"),
        ),
        ("/sprites/basemap.gif", StatusCode::NOT_FOUND, None),
        ("/sprites/nowhere.json", StatusCode::NOT_FOUND, None),
        ("/sprites/..%2Fbasemap.json", StatusCode::NOT_FOUND, None),
    ] {
        let (got, problem) = get_json(&state, uri).await;
        assert_eq!(got, status, "{uri}: {problem}");
        assert_eq!(
            problem["invalid-params"][0]["name"].as_str(),
            param,
            "{uri}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_broken_icon_is_left_out_and_the_rest_served() {
    let db = fresh_database().await;
    let styles = tempfile::tempdir().unwrap();
    let set = styles.path().join("sprites").join("agency");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(
        set.join("square.svg"),
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="12" height="8"><rect width="12" height="8" fill="#123456"/></svg>"##,
    )
    .unwrap();
    std::fs::write(set.join("broken.svg"), "<svg xmlns=").unwrap();
    std::fs::create_dir_all(styles.path().join("sprites").join("empty")).unwrap();
    let broken_only = styles.path().join("sprites").join("broken");
    std::fs::create_dir_all(&broken_only).unwrap();
    std::fs::write(broken_only.join("icon.svg"), "not an svg").unwrap();
    let config = Config {
        styles_dir: styles.path().to_path_buf(),
        ..Config::default()
    };
    let state = AppState::new(db.pool.clone(), config);

    let (index, (width, height, pixels)) = sheet(&state, "agency@2x").await;
    assert_eq!(index.keys().collect::<Vec<_>>(), ["square"]);
    let square = &index["square"];
    assert_eq!(
        (square.width, square.height, square.pixel_ratio),
        (24, 16, 2)
    );
    assert!(width >= 24 && height >= 16);
    assert!(opaque_share(width, &pixels, square) > 0.99);
    // The colour is drawn as given.
    let at = ((square.y * width + square.x) * 4) as usize;
    assert_eq!(&pixels[at..at + 4], [0x12, 0x34, 0x56, 0xff]);

    // A folder without icons is no sprite set.
    let (_, sets) = get_json(&state, "/sprites").await;
    assert_eq!(sets, serde_json::json!(["agency", "broken"]));
    let (status, problem) = get_json(&state, "/sprites/empty.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    // A set none of whose icons can be read is the server's problem, told without detail.
    let (status, problem) = get_json(&state, "/sprites/broken.png").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{problem}");
    assert!(!problem.to_string().contains("SVG"), "{problem}");
}
