//! Vietnamese name search over real layers: diacritics, tone placement, đ/Ð, typos, prefixes,
//! ranking and the bias towards a point.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use common::get_json;
use std::sync::Arc;

use axum::http::StatusCode;
use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::ImportRequest;
use bando_importers::convert::Converter;
use serde_json::Value;
use tile_server::{AppState, Config};

fn names(hits: &Value) -> Vec<(String, String)> {
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["layer"].as_str().unwrap().to_owned(),
                h["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Wards 2025 and 2019 and the bus stops, with the server's in-memory index built.
async fn searchable() -> (TestDatabase, AppState) {
    let db = fresh_database().await;
    let data = shared_data();
    for (path, layer, convert) in [
        ("hcmc-wards-2025/79_ho_chi_minh/wards", "wards_2025", None),
        (
            "hcmc-wards-2019-cityscope/Population_Ward_Level.shp",
            "wards_2019",
            None,
        ),
        (
            "hcmc-bus/stops.json",
            "bus_stops",
            Some(Converter::HcmcBusStops),
        ),
    ] {
        let request = ImportRequest {
            path: data.join(path),
            layer: layer.to_owned(),
            convert,
            ..ImportRequest::default()
        };
        bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
            .await
            .unwrap();
    }
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();
    state.sync_search_index().await;
    assert!(state.current_search_index().is_some());
    (db, state)
}

#[tokio::test]
async fn vietnamese_search_is_diacritic_tone_and_typo_tolerant_in_memory() {
    let (_db, state) = searchable().await;
    behaves(&state, "index").await;
}

#[tokio::test]
async fn vietnamese_search_is_diacritic_tone_and_typo_tolerant_in_postgresql() {
    let (_db, state) = searchable().await;
    behaves(&state, "postgis").await;
}

/// The search behaviours, through one engine.
async fn behaves(state: &AppState, engine: &str) {
    let get_json = |uri: &str| {
        let uri = if uri.contains('?') {
            format!("{uri}&engine={engine}")
        } else {
            format!("{uri}?engine={engine}")
        };
        async move { get_json(state, &uri).await }
    };
    let top = |hits: &Value| names(hits).into_iter().next().unwrap();

    let (status, hits) = get_json("/v1/search?q=ben%20nghe").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(top(&hits), ("wards_2019".to_owned(), "Ben Nghe".to_owned()));

    // "Bến Thành" without diacritics, with a typo, and as a prefix.
    for q in [
        "ben%20thanh",
        "B%E1%BA%BFn%20Th%C3%A0nh",
        "ben%20thnah",
        "ben%20tha",
    ] {
        let (_, hits) = get_json(&format!("/v1/search?q={q}&limit=5")).await;
        let (_, name) = top(&hits);
        assert!(
            name == "Bến Thành" || name == "Ben Thanh",
            "{q}: {:?}",
            names(&hits)
        );
    }

    // Tone placement: the 2025 layer writes "Hoà"; "hòa", "hoà" and "hoa" find the same.
    let (_, old_style) = get_json("/v1/search?q=ho%C3%A0%20b%C3%ACnh&layers=wards_2025").await;
    let (_, new_style) = get_json("/v1/search?q=h%C3%B2a%20b%C3%ACnh&layers=wards_2025").await;
    let (_, plain) = get_json("/v1/search?q=hoa%20binh&layers=wards_2025").await;
    assert_eq!(names(&old_style), names(&new_style));
    assert_eq!(names(&old_style), names(&plain));
    assert_eq!(top(&plain).1, "Hoà Bình");

    // đ and Ð (U+00D0, as some sources write it) are d.
    for q in [
        "thu%20duc",
        "Th%E1%BB%A7%20%C4%90%E1%BB%A9c",
        "Th%E1%BB%A7%20%C3%90%E1%BB%A9c",
    ] {
        let (_, hits) = get_json(&format!("/v1/search?q={q}&layers=wards_2025")).await;
        assert_eq!(top(&hits).1, "Thủ Đức", "{q}");
    }

    // Two stops share a name; the bias point decides which comes first.
    let (_, all) =
        get_json("/v1/search?q=b%E1%BB%87nh%20vi%E1%BB%87n%20115&layers=bus_stops&limit=10").await;
    let same: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["name"] == all[0]["name"])
        .collect();
    assert!(same.len() >= 2, "{all}");
    let far = same
        .iter()
        .max_by(|a, b| {
            a["lon"]
                .as_f64()
                .unwrap()
                .partial_cmp(&b["lon"].as_f64().unwrap())
                .unwrap()
        })
        .unwrap();
    let (_, biased) = get_json(&format!(
        "/v1/search?q=b%E1%BB%87nh%20vi%E1%BB%87n%20115&layers=bus_stops&lon={}&lat={}",
        far["lon"], far["lat"]
    ))
    .await;
    assert_eq!(
        biased[0]["fid"], far["fid"],
        "the stop at the bias point ranks first"
    );

    for (uri, param) in [
        ("/v1/search", "q"),
        ("/v1/search?q=%20", "q"),
        ("/v1/search?q=ben&limit=0", "limit"),
        ("/v1/search?q=ben&lon=106.7", "lat"),
        ("/v1/search?q=ben&lat=100&lon=106", "lat"),
        ("/v1/search?q=ben&colour=red", "colour"),
    ] {
        let (status, problem) = get_json(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(problem["invalid-params"][0]["name"], param, "{uri}");
    }
}

#[tokio::test]
async fn in_memory_search_ranks_like_postgresql() {
    let (db, state) = searchable().await;
    // Queries made from real names: folded, cut, with a letter dropped.
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT folded FROM bando.search_names ORDER BY md5(folded || fid::text) LIMIT 150",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut compared = 0;
    for (i, name) in names.iter().enumerate() {
        let chars: Vec<char> = name.chars().collect();
        let query: String = match i % 3 {
            0 => name.clone(),
            1 => chars[..chars.len().min(6)].iter().collect(),
            _ => chars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != 2)
                .map(|(_, c)| c)
                .collect(),
        };
        let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let state = &state;
        let top = |engine: &'static str| {
            let uri = format!("/v1/search?q={encoded}&limit=1&engine={engine}");
            async move {
                let (status, hits) = get_json(state, &uri).await;
                assert_eq!(status, StatusCode::OK, "{uri}");
                hits[0]["score"].as_f64().map(|s| (s * 1e6).round() / 1e6)
            }
        };
        let (memory, postgres) = (top("index").await, top("postgis").await);
        // The same best score (names may tie at it): the same ranking rule on the same data.
        assert_eq!(memory, postgres, "{query:?}");
        compared += 1;
    }
    assert_eq!(compared, 150);
}
