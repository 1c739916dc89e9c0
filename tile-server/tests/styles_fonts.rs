//! Styles and glyphs: the served MapLibre styles point at this server, use only MVT layers the base
//! map has and fonts the server can render; glyph ranges cover Vietnamese letters.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::collections::HashSet;

use axum::http::StatusCode;
use bando_core::testing::fresh_database;
use common::{get_json, get_raw};
use pbf_font_tools::prost::Message;
use tile_server::{AppState, Config};

async fn state() -> (bando_core::testing::TestDatabase, AppState) {
    let db = fresh_database().await;
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();
    (db, state)
}

#[tokio::test]
async fn styles_point_at_this_server_and_use_existing_layers_and_fonts() {
    let (_db, state) = state().await;
    let (_, fonts) = get_json(&state, "/fonts").await;
    let fonts: HashSet<String> = serde_json::from_value(fonts).unwrap();
    // The MVT layers the base map definition can produce.
    let basemap = tile_server::tiles::composite::CompositeConfig::builtin_basemap();
    let mvt_layers: HashSet<&str> = basemap.layers.iter().map(|l| l.name.as_str()).collect();
    for name in ["light", "dark"] {
        let response = get_raw(
            &state,
            &format!("/styles/{name}.json"),
            &[("host", "maps.example.vn")],
        )
        .await;
        assert_eq!(response.status, StatusCode::OK, "{name}");
        let text = String::from_utf8(response.body).unwrap();
        assert!(!text.contains("{public_url}"), "{name}: placeholder left");
        let style: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(style["version"], 8);
        assert!(
            style["glyphs"]
                .as_str()
                .unwrap()
                .starts_with("http://maps.example.vn/fonts/{fontstack}/{range}.pbf")
        );
        let sources = style["sources"].as_object().unwrap();
        for source in sources.values() {
            let url = source["url"].as_str().unwrap_or_default();
            assert!(url.starts_with("http://maps.example.vn/"), "{name}: {url}");
        }
        let layers = style["layers"].as_array().unwrap();
        let ids: HashSet<&str> = layers.iter().filter_map(|l| l["id"].as_str()).collect();
        assert_eq!(ids.len(), layers.len(), "{name}: repeated layer ids");
        for layer in layers {
            if let Some(source_layer) = layer["source-layer"].as_str() {
                assert!(
                    mvt_layers.contains(source_layer),
                    "{name}: {} draws missing MVT layer {source_layer}",
                    layer["id"]
                );
            }
            if let Some(stack) = layer["layout"]["text-font"].as_array() {
                for font in stack {
                    let font = font.as_str().unwrap();
                    assert!(fonts.contains(font), "{name}: font {font} not installed");
                }
            }
        }
    }
    let (status, problem) = get_json(&state, "/styles/../Cargo.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
}

#[tokio::test]
async fn glyph_ranges_cover_vietnamese_letters() {
    let (_db, state) = state().await;
    let response = get_raw(&state, "/fonts/Noto%20Sans%20Regular/7680-7935.pbf", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    let glyphs = pbf_font_tools::Glyphs::decode(&response.body[..]).unwrap();
    let stack = &glyphs.stacks[0];
    assert_eq!(stack.name, "Noto Sans Regular");
    // ế (U+1EBF) as in "Bến Thành", with a rendered bitmap.
    let e = stack.glyphs.iter().find(|g| g.id == 0x1EBF).unwrap();
    assert!(e.width > 0 && e.bitmap.as_ref().is_some_and(|b| !b.is_empty()));

    // A stack falls back to its second font for what the first lacks.
    let response = get_raw(
        &state,
        "/fonts/Noto%20Sans%20Bold,Noto%20Sans%20Regular/0-255.pbf",
        &[],
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);

    for (uri, status, param) in [
        (
            "/fonts/Noto%20Sans%20Regular/0-300.pbf",
            StatusCode::BAD_REQUEST,
            Some("range"),
        ),
        (
            "/fonts/Noto%20Sans%20Regular/0-255.png",
            StatusCode::BAD_REQUEST,
            Some("range"),
        ),
        (
            "/fonts/No%20Such%20Font/0-255.pbf",
            StatusCode::NOT_FOUND,
            None,
        ),
    ] {
        let (got, problem) = get_json(&state, uri).await;
        assert_eq!(got, status, "{uri}: {problem}");
        if let Some(param) = param {
            assert_eq!(problem["invalid-params"][0]["name"], param);
        }
    }
}

/// Colours (`#rgb…`, `rgb(…)`, `hsl(…)`) replaced by one placeholder, everything else kept.
fn without_colours(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if s.starts_with('#') || s.starts_with("rgb") || s.starts_with("hsl") => {
            Value::String("<colour>".to_owned())
        }
        Value::Array(items) => Value::Array(items.iter().map(without_colours).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), without_colours(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The two base-map styles are one design in two palettes: same sources, layers, filters, zooms,
/// categories and sizes, so an edit made to one and forgotten in the other shows here.
#[test]
fn light_and_dark_styles_differ_only_in_colours() {
    let styles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../styles");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(styles.join(name)).unwrap()).unwrap()
    };
    let (mut light, mut dark) = (read("light.json"), read("dark.json"));
    for style in [&mut light, &mut dark] {
        let fields = style.as_object_mut().unwrap();
        // Their own names and descriptions.
        fields.remove("name");
        fields.remove("metadata");
    }
    let (light, dark) = (without_colours(&light), without_colours(&dark));
    let ids = |style: &serde_json::Value| -> Vec<String> {
        style["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&light), ids(&dark), "same layers in the same order");
    for (l, d) in light["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(dark["layers"].as_array().unwrap())
    {
        assert_eq!(l, d, "layer {} differs beyond its colours", l["id"]);
    }
    assert_eq!(light, dark, "sources, glyphs, sprite, centre and zoom");
}

/// MapLibre's own validator (`gl-style-validate` from @maplibre/maplibre-gl-style-spec, installed
/// with the viewer's packages) accepts both styles: an expression MapLibre would refuse at load
/// (and leave the map blank) fails here.
#[test]
fn maplibre_accepts_both_styles() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let validator = root
        .join("viewer/node_modules/@maplibre/maplibre-gl-style-spec/dist/gl-style-validate.mjs");
    let output = std::process::Command::new("node")
        .arg(&validator)
        .arg(root.join("styles/light.json"))
        .arg(root.join("styles/dark.json"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
