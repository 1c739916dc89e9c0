//! Ward lookup: the in-memory R-tree answers exactly what PostGIS `ST_Covers` answers, and the
//! `/v1/wards` endpoint answers in the layout valid on the date asked.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use common::{get_json, get_raw};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::http::StatusCode;
use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::ImportRequest;
use tile_server::query::admin_lookup::AdminIndex;
use tile_server::{AppState, Config};

async fn import_boundaries(db: &TestDatabase) {
    let data = shared_data();
    for (path, layer, level, layout, from, to) in [
        (
            "hcmc-wards-2025/79_ho_chi_minh/wards",
            "wards_2025",
            "ward",
            "2025",
            "2025-07-01",
            None,
        ),
        (
            "hcmc-wards-2019-cityscope/Population_Ward_Level.shp",
            "wards_2019",
            "ward",
            "2019",
            "2019-01-01",
            Some("2025-07-01"),
        ),
        (
            "hcmc-wards-2019-cityscope/Population_District_Level.shp",
            "districts_2019",
            "district",
            "2019",
            "2019-01-01",
            Some("2025-07-01"),
        ),
    ] {
        let request = ImportRequest {
            path: data.join(path),
            layer: layer.to_owned(),
            admin_level: Some(level.to_owned()),
            layout: Some(layout.to_owned()),
            valid_from: Some(from.parse().unwrap()),
            valid_to: to.map(|t: &str| t.parse().unwrap()),
            ..ImportRequest::default()
        };
        bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
            .await
            .unwrap();
    }
}

/// A fresh database with the boundary layers, and a server state that has loaded them.
async fn serving_boundaries() -> (TestDatabase, AppState) {
    let db = fresh_database().await;
    import_boundaries(&db).await;
    let state = AppState::new(db.pool.clone(), Config::default());
    tile_server::publish_listener::refresh(&state).await;
    (db, state)
}

/// Deterministic pseudo-random numbers in [0, 1).
fn uniform(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*seed >> 11) as f64 / (1u64 << 53) as f64
}

#[tokio::test]
async fn rtree_agrees_with_st_covers_on_random_points_vertices_and_edges() {
    let db = fresh_database().await;
    import_boundaries(&db).await;
    let layers = bando_core::catalog::list_layers(&db.pool).await.unwrap();
    let index = AdminIndex::load(&db.pool, &layers).await.unwrap();

    for layer in ["wards_2025", "wards_2019"] {
        // Edges of the boundaries, as stored: one in 20 (a fixed choice), and every north-south
        // or east-west one (the pieces of a monotone subdivision meet along such lines). Each
        // gives its start vertex, its midpoint, and two points in line with it just beyond its
        // ends, usually outside the unit and on no edge at all.
        let edges: Vec<(f64, f64, f64, f64)> = sqlx::query_as(&format!(
            "SELECT ST_X(p1), ST_Y(p1), ST_X(p2), ST_Y(p2) FROM ( \
               SELECT (d).geom AS p1, \
                      lead((d).geom) OVER (PARTITION BY fid, (d).path[1], (d).path[2] ORDER BY (d).path[3]) AS p2, \
                      row_number() OVER (ORDER BY fid, (d).path) AS n \
               FROM (SELECT fid, ST_DumpPoints(ST_Multi(geom)) AS d FROM layers.{layer}) s) e \
             WHERE p2 IS NOT NULL AND (n % 20 = 0 OR ST_X(p1) = ST_X(p2) OR ST_Y(p1) = ST_Y(p2))"
        ))
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let mut points: Vec<(f64, f64)> = Vec::new();
        for (x1, y1, x2, y2) in &edges {
            let (dx, dy) = ((x2 - x1) / 2.0, (y2 - y1) / 2.0);
            points.push((*x1, *y1));
            points.push((x1 + dx, y1 + dy));
            points.push((x1 - dx, y1 - dy));
            points.push((x2 + dx, y2 + dy));
        }
        let mut seed = 42;
        while points.len() < 4 * edges.len() + 10_000 {
            points.push((
                106.55 + uniform(&mut seed) * 0.3,
                10.65 + uniform(&mut seed) * 0.25,
            ));
        }
        let (xs, ys): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
        let rows: Vec<(i64, Vec<String>)> = sqlx::query_as(&format!(
            "SELECT p.i, array_agg(w.code ORDER BY w.code) FROM unnest($1::float8[], $2::float8[]) \
             WITH ORDINALITY AS p(x, y, i) \
             JOIN (SELECT {}, geom FROM layers.{layer}) AS w(code, name, full_name, geom) \
               ON ST_Covers(w.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)) GROUP BY p.i",
            if layer == "wards_2025" {
                "code::text, name, fullname"
            } else {
                "com_id::text, com_name, com_name"
            }
        ))
        .bind(&xs)
        .bind(&ys)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let postgis: BTreeMap<i64, Vec<String>> = rows.into_iter().collect();
        let mut vertices_covered = 0;
        for (i, (x, y)) in points.iter().enumerate() {
            let expected = postgis.get(&(i as i64 + 1)).cloned().unwrap_or_default();
            let got: Vec<String> = index
                .covering(layer, *x, *y)
                .into_iter()
                .filter_map(|u| u.code.clone())
                .collect();
            assert_eq!(
                got.iter().collect::<BTreeSet<_>>(),
                expected.iter().collect::<BTreeSet<_>>(),
                "{layer}: point {i} ({x}, {y})"
            );
            // Points 0, 4, 8, ... are boundary vertices: ST_Covers counts them as inside.
            if i < 4 * edges.len() && i % 4 == 0 && !expected.is_empty() {
                vertices_covered += 1;
            }
        }
        assert!(points.len() >= 10_000);
        assert!(
            edges.len() > 5000,
            "{layer}: {} boundary edges sampled",
            edges.len()
        );
        assert_eq!(
            vertices_covered,
            edges.len(),
            "{layer}: every vertex is covered"
        );
    }
}

#[tokio::test]
async fn ward_endpoint_answers_in_the_layout_of_the_date() {
    let (_db, state) = serving_boundaries().await;

    let (status, market) = get_json(
        &state,
        "/v1/wards?lon=106.6981&lat=10.7725&as_of=2025-08-01",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(market["ward"]["full_name"], "Phường Bến Thành");
    assert_eq!(market["ward"]["code"], "26743");
    assert!(
        market["district"].is_null(),
        "the 2025 layout has no districts"
    );

    // Notre-Dame cathedral: Sài Gòn since July 2025, Bến Nghé (District 1) before; same code.
    let cathedral = "/v1/wards?lon=106.6990&lat=10.7798";
    let (_, now) = get_json(&state, &format!("{cathedral}&as_of=2026-01-01")).await;
    assert_eq!(
        (
            now["ward"]["full_name"].as_str(),
            now["ward"]["code"].as_str()
        ),
        (Some("Phường Sài Gòn"), Some("26740"))
    );
    for engine in ["index", "postgis"] {
        let (_, then) = get_json(
            &state,
            &format!("{cathedral}&as_of=2020-06-01&engine={engine}"),
        )
        .await;
        assert_eq!(then["ward"]["name"], "Ben Nghe", "{engine}");
        assert_eq!(then["ward"]["code"], "26740", "{engine}");
        assert_eq!(then["district"]["name"], "District 1", "{engine}");
        assert_eq!(then["ward"]["layout"], "2019", "{engine}");
    }

    for (uri, status, param) in [
        ("/v1/wards?lon=106.7", StatusCode::BAD_REQUEST, Some("lat")),
        (
            "/v1/wards?lon=NaN&lat=10",
            StatusCode::BAD_REQUEST,
            Some("lon"),
        ),
        (
            "/v1/wards?lon=106.7&lat=91",
            StatusCode::BAD_REQUEST,
            Some("lat"),
        ),
        (
            "/v1/wards?lon=106.7&lat=10.7&as_of=2020-02-30",
            StatusCode::BAD_REQUEST,
            Some("as_of"),
        ),
        (
            "/v1/wards?lon=106.7&lat=10.7&engine=magic",
            StatusCode::BAD_REQUEST,
            Some("engine"),
        ),
        (
            "/v1/wards?lon=105.85&lat=21.03",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/v1/wards?lon=106.7&lat=10.7&as_of=1990-01-01",
            StatusCode::NOT_FOUND,
            None,
        ),
    ] {
        let (got, problem) = get_json(&state, uri).await;
        assert_eq!(got, status, "{uri}: {problem}");
        if let Some(param) = param {
            assert_eq!(problem["invalid-params"][0]["name"], param, "{uri}");
        }
    }
}

#[tokio::test]
async fn query_answers_are_gzipped_only_when_worth_it() {
    let (_db, state) = serving_boundaries().await;
    let gzip = [("accept-encoding", "gzip")];

    // A ward answer (~200 bytes) goes as it is: compressing it would cost more than it saves.
    let ward = get_raw(&state, "/v1/wards?lon=106.6981&lat=10.7725", &gzip).await;
    assert_eq!(ward.status, StatusCode::OK);
    assert_eq!(ward.header("content-encoding"), "");
    let answer: serde_json::Value = serde_json::from_slice(&ward.body).unwrap();
    assert_eq!(answer["ward"]["code"], "26743");

    // Fifty search results are several KB: gzipped, and the same JSON once decompressed.
    let uri = "/v1/search?q=phuong&limit=50";
    let plain = get_raw(&state, uri, &[]).await;
    let zipped = get_raw(&state, uri, &gzip).await;
    assert_eq!(zipped.status, StatusCode::OK);
    assert!(plain.body.len() > 1024, "{} bytes", plain.body.len());
    assert_eq!(zipped.header("content-encoding"), "gzip");
    assert!(zipped.body.len() < plain.body.len());
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(zipped.body.as_slice()),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain.body);
}

/// Writes the 2025 ward files whose code `keep` accepts as one GeoJSON collection.
fn wards_2025_where(
    dir: &std::path::Path,
    name: &str,
    keep: impl Fn(u32) -> bool,
) -> std::path::PathBuf {
    let folder = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards");
    let mut features = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let code: u32 = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('_').next())
            .and_then(|c| c.parse().ok())
            .unwrap();
        if !keep(code) {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        match value["type"].as_str() {
            Some("FeatureCollection") => {
                features.extend(value["features"].as_array().unwrap().clone())
            }
            _ => features.push(value),
        }
    }
    let out = dir.join(format!("{name}.geojson"));
    std::fs::write(
        &out,
        serde_json::json!({ "type": "FeatureCollection", "features": features }).to_string(),
    )
    .unwrap();
    out
}

async fn import_boundary(db: &TestDatabase, request: ImportRequest) {
    bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

fn boundary(
    path: std::path::PathBuf,
    layer: &str,
    level: &str,
    layout: &str,
    from: &str,
    to: Option<&str>,
) -> ImportRequest {
    ImportRequest {
        path,
        layer: layer.to_owned(),
        admin_level: Some(level.to_owned()),
        layout: Some(layout.to_owned()),
        valid_from: Some(from.parse().unwrap()),
        valid_to: to.map(|t| t.parse().unwrap()),
        ..ImportRequest::default()
    }
}

/// Several boundary layers valid on one day: the city's 2025 wards split into two layers (codes
/// even and odd) with the same layout and dates, plus the former Bình Dương wards as a layout of
/// their own, newer, whose area does not cover the centre; the 2019 districts split the same way.
/// Every point is answered by the unit covering it, whichever layer holds it, by the index and by
/// PostGIS alike, and the answer names the layer.
#[tokio::test]
async fn overlapping_boundary_layers_answer_the_unit_covering_the_point() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let from = "2025-07-01";
    import_boundary(
        &db,
        boundary(
            wards_2025_where(dir.path(), "even", |c| c % 2 == 0),
            "wards_even",
            "ward",
            "2025",
            from,
            None,
        ),
    )
    .await;
    import_boundary(
        &db,
        boundary(
            wards_2025_where(dir.path(), "odd", |c| c % 2 == 1),
            "wards_odd",
            "ward",
            "2025",
            from,
            None,
        ),
    )
    .await;
    // The former Bình Dương province (codes 25xxx), published later with a newer validity.
    import_boundary(
        &db,
        boundary(
            wards_2025_where(dir.path(), "binh_duong", |c| (25_000..26_000).contains(&c)),
            "wards_binh_duong",
            "ward",
            "binh-duong-2025",
            "2025-08-01",
            None,
        ),
    )
    .await;
    let districts = shared_data().join("hcmc-wards-2019-cityscope/Population_District_Level.shp");
    for (layer, parity) in [("districts_a", 0), ("districts_b", 1)] {
        let mut request = boundary(
            districts.clone(),
            layer,
            "district",
            "2019",
            "2019-01-01",
            Some("2025-07-01"),
        );
        request.source.sql = Some(format!(
            "SELECT * FROM Population_District_Level WHERE CAST(Dist_ID AS INTEGER) % 2 = {parity}"
        ));
        import_boundary(&db, request).await;
    }
    import_boundary(
        &db,
        boundary(
            shared_data().join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp"),
            "wards_2019",
            "ward",
            "2019",
            "2019-01-01",
            Some("2025-07-01"),
        ),
    )
    .await;
    let state = AppState::new(db.pool.clone(), Config::default());
    tile_server::publish_listener::refresh(&state).await;

    // Bến Thành market (code 26743, odd) and Thủ Dầu Một (25747, in both the odd half and the
    // Bình Dương layer, which ranks first: newer validity).
    for engine in ["index", "postgis"] {
        for as_of in ["2025-08-01", "2026-03-01"] {
            let (status, market) = get_json(
                &state,
                &format!("/v1/wards?lon=106.6981&lat=10.7725&as_of={as_of}&engine={engine}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{engine} {as_of}: {market}");
            assert_eq!(market["ward"]["code"], "26743", "{engine}");
            assert_eq!(market["ward"]["layer"], "wards_odd", "{engine}");
            assert_eq!(market["ward"]["layout"], "2025", "{engine}");
        }
        let (_, thu_dau_mot) = get_json(
            &state,
            &format!("/v1/wards?lon=106.6643&lat=10.9682&as_of=2025-09-01&engine={engine}"),
        )
        .await;
        assert_eq!(thu_dau_mot["ward"]["code"], "25747", "{engine}");
        assert_eq!(thu_dau_mot["ward"]["layer"], "wards_binh_duong", "{engine}");
        assert_eq!(thu_dau_mot["ward"]["layout"], "binh-duong-2025", "{engine}");
        // Before the Bình Dương layer is valid, the city's odd half answers.
        let (_, july) = get_json(
            &state,
            &format!("/v1/wards?lon=106.6643&lat=10.9682&as_of=2025-07-15&engine={engine}"),
        )
        .await;
        assert_eq!(july["ward"]["layer"], "wards_odd", "{engine}");
        // 2020: the 2019 ward with its district, from whichever half holds it.
        let (_, then) = get_json(
            &state,
            &format!("/v1/wards?lon=106.6990&lat=10.7798&as_of=2020-06-01&engine={engine}"),
        )
        .await;
        assert_eq!(then["district"]["name"], "District 1", "{engine}: {then}");
        assert!(
            ["districts_a", "districts_b"].contains(&then["district"]["layer"].as_str().unwrap()),
            "{then}"
        );
    }

    // The index and PostGIS agree on random points over the whole city, on both dates.
    let mut seed = 7;
    let mut answered = 0;
    for _ in 0..300 {
        let (lon, lat) = (
            106.40 + uniform(&mut seed) * 0.8,
            10.40 + uniform(&mut seed) * 0.8,
        );
        for as_of in ["2025-09-01", "2020-01-01"] {
            let uri = format!("/v1/wards?lon={lon}&lat={lat}&as_of={as_of}");
            let (status_i, index) = get_json(&state, &format!("{uri}&engine=index")).await;
            let (status_p, postgis) = get_json(&state, &format!("{uri}&engine=postgis")).await;
            assert_eq!((status_i, &index), (status_p, &postgis), "{uri}");
            if status_i == StatusCode::OK {
                answered += 1;
            }
        }
    }
    assert!(answered > 150, "{answered} points answered");
}
