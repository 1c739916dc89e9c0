//! The real OpenStreetMap extract of urban HCMC (`../shared/data/hcmc-osm-2018`) becomes every
//! base-map theme: checked against GDAL's own OSM reader, an independent implementation.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::osm::{THEMES, import_osm};
use bando_importers::{ImportError, ImportRequest};
use gdal::vector::LayerAccess;

fn extract() -> PathBuf {
    shared_data().join("hcmc-osm-2018/hcm_2018.osm.pbf")
}

async fn import(
    db: &TestDatabase,
    path: PathBuf,
) -> Result<Vec<bando_importers::osm::ThemeOutcome>, ImportError> {
    let request = ImportRequest {
        path,
        layer: "osm".to_owned(),
        ..ImportRequest::default()
    };
    import_osm(&db.pool, &request, Arc::new(|_, _| {})).await
}

async fn scalar<T>(db: &TestDatabase, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

/// Roads as GDAL's OSM driver reads them: `(osm_id, WKT)` of every way with a drawable highway.
fn gdal_roads() -> Vec<(i64, String)> {
    // GDAL warns about the extract's unclosed rings (on polygons, not read here): keep quiet.
    gdal::config::set_error_handler(|_, _, _| {});
    let dataset = gdal::Dataset::open(extract()).unwrap();
    let mut lines = dataset.layer_by_name("lines").unwrap();
    lines
        .set_attribute_filter(
            "highway IS NOT NULL AND highway NOT IN ('proposed', 'abandoned', 'razed', \
             'platform', 'bus_stop', 'elevator', 'services', 'rest_area')",
        )
        .unwrap();
    lines
        .features()
        .filter_map(|f| {
            let index = f.field_index("osm_id").ok()?;
            let id = f.field_as_string(index).ok()??.parse().ok()?;
            Some((id, f.geometry()?.wkt().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn the_real_extract_becomes_every_theme_as_gdal_reads_it() {
    let db = fresh_database().await;
    let outcomes = import(&db, extract()).await.unwrap();
    assert_eq!(outcomes.len(), THEMES.len());
    for theme in &outcomes {
        let outcome = theme
            .outcome
            .as_ref()
            .unwrap_or_else(|| panic!("{theme:?}"));
        assert_eq!(outcome.version, Some(1), "{}", outcome.layer);
        assert!(outcome.written > 0, "{}", outcome.layer);
    }

    // Every road GDAL reads is there, with the same line, vertex for vertex.
    let roads = gdal_roads();
    assert!(roads.len() > 30_000, "{}", roads.len());
    let ours: i64 = scalar(
        &db,
        "SELECT count(*) FROM layers.osm_roads WHERE osm_type = 'w' AND class NOT IN ('runway', 'taxiway')",
    )
    .await;
    assert_eq!(ours, roads.len() as i64);
    let (ids, wkts): (Vec<i64>, Vec<String>) = roads.into_iter().unzip();
    let different: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::bigint[], $2::text[]) AS g(id, wkt) \
         LEFT JOIN layers.osm_roads r ON r.osm_type = 'w' AND r.osm_id = g.id \
         WHERE r.fid IS NULL OR NOT ST_OrderingEquals(r.geom, ST_GeomFromText(g.wkt, 4326))",
    )
    .bind(&ids)
    .bind(&wkts)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(different, 0, "roads whose line differs from GDAL's");

    // The city a citizen knows: its arterials by name and class, its rivers and canals.
    for (name, classes) in [
        ("Điện Biên Phủ", &["primary", "trunk"][..]),
        ("Võ Văn Kiệt", &["trunk", "primary"]),
        ("Nguyễn Văn Linh", &["trunk", "primary"]),
        ("Xa lộ Hà Nội", &["trunk", "motorway"]),
    ] {
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT class FROM layers.osm_roads WHERE bando.fold(name) = bando.fold($1)",
        )
        .bind(name)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert!(
            found.iter().any(|c| classes.contains(&c.as_str())),
            "{name}: {found:?}"
        );
    }
    let river_km: f64 = scalar(
        &db,
        "SELECT coalesce(sum(ST_Area(geom::geography)), 0) / 1e6 FROM layers.osm_water \
         WHERE name ILIKE 'Sông Sài Gòn%'",
    )
    .await;
    assert!(river_km > 1.0, "Saigon river area {river_km} km²");
    let canals: i64 = scalar(
        &db,
        // Mapped as waterway=river in 2018, like most of the city's canals.
        "SELECT count(DISTINCT name) FROM layers.osm_waterways \
         WHERE class IN ('river', 'canal') AND name IN ('Kênh Tàu Hủ', 'Kênh Đôi', 'Kênh Tẻ')",
    )
    .await;
    assert_eq!(canals, 3);

    // Hospitals mapped as buildings are POIs too, at a point inside them.
    let hospital_areas: i64 = scalar(
        &db,
        "SELECT count(*) FROM layers.osm_pois p JOIN layers.osm_buildings b USING (fid) \
         WHERE p.subclass = 'hospital' AND ST_Contains(b.geom, p.geom)",
    )
    .await;
    assert!(hospital_areas > 0);

    // A multipolygon cut by the extract's edge is reported by id, with the reason.
    let water = outcomes.iter().find(|o| o.theme == "water").unwrap();
    let report = water.outcome.as_ref().unwrap();
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.reason == "incomplete_multipolygon" && p.feature.starts_with('r')),
        "{:?}",
        report.problems
    );
    let recorded: serde_json::Value =
        sqlx::query_scalar("SELECT report FROM bando.import_jobs WHERE id = $1")
            .bind(report.job_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        recorded["skipped"]["incomplete_multipolygon"].as_u64(),
        Some(
            report
                .skipped
                .get("incomplete_multipolygon")
                .copied()
                .unwrap_or(0)
        ),
    );

    // The objects are kept for change files, outside the `layers` schema.
    let nodes: i64 = scalar(&db, "SELECT count(*) FROM osm_middle.osm_nodes").await;
    assert!(nodes > 300_000, "{nodes}");
    assert_eq!(common::staging_tables(&db).await, 0);
    let data_timestamp: String = scalar(
        &db,
        "SELECT data_timestamp::date::text FROM bando.osm_sources WHERE prefix = 'osm'",
    )
    .await;
    assert!(
        data_timestamp.starts_with("2017-12") || data_timestamp.starts_with("2018-01"),
        "{data_timestamp}"
    );

    // The same file again is recognised and skipped.
    let again = import(&db, extract()).await.unwrap();
    assert!(again.iter().all(|t| {
        t.outcome
            .as_ref()
            .is_some_and(|o| o.status == bando_importers::job::JobStatus::Skipped)
    }));
}

#[tokio::test]
async fn a_truncated_extract_fails_and_leaves_the_live_themes_as_they_were() {
    let db = fresh_database().await;
    import(&db, extract()).await.unwrap();
    let before: Vec<(String, i32, i64)> =
        sqlx::query_as("SELECT slug, version, feature_count FROM bando.layers ORDER BY slug")
            .fetch_all(&db.pool)
            .await
            .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("cut.osm.pbf");
    let bytes = std::fs::read(extract()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let error = import(&db, truncated).await.unwrap_err();
    assert!(matches!(error, ImportError::Unreadable { .. }), "{error}");
    assert!(error.to_string().contains("cut.osm.pbf"), "{error}");

    let after: Vec<(String, i32, i64)> =
        sqlx::query_as("SELECT slug, version, feature_count FROM bando.layers ORDER BY slug")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(before, after);
    let failed: i64 = scalar(
        &db,
        "SELECT count(*) FROM bando.import_jobs WHERE status = 'failed' AND error LIKE '%cut.osm.pbf%'",
    )
    .await;
    assert_eq!(failed, THEMES.len() as i64, "every theme's job says why");
    assert_eq!(common::staging_tables(&db).await, 0);
    let middle_staging: i64 = scalar(
        &db,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'osm_middle' AND tablename LIKE '\\_stg%'",
    )
    .await;
    assert_eq!(middle_staging, 0);
}
