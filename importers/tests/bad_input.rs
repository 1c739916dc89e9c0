//! Bad input: each case fails with a clear reason or is repaired with a report, and the live
//! layer, the catalog and the database are left exactly as they were.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use bando_core::audit::Actor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::reader::ValidationPolicy;
use bando_importers::text_encoding::TextEncoding;
use bando_importers::{ImportError, ImportOutcome, ImportRequest, import};
use common::staging_tables;

fn request(path: &Path, layer: &str) -> ImportRequest {
    ImportRequest {
        path: path.to_path_buf(),
        layer: layer.to_owned(),
        ..ImportRequest::default()
    }
}

async fn run(db: &TestDatabase, request: &ImportRequest) -> Result<ImportOutcome, ImportError> {
    import(&db.pool, request, Arc::new(|_, _| {})).await
}

/// Version, feature count and a fingerprint of the rows of the live layer.
async fn live_state(db: &TestDatabase, layer: &str) -> (i32, i64, String) {
    let (version, count): (i32, i64) =
        sqlx::query_as("SELECT version, feature_count FROM bando.layers WHERE slug = $1")
            .bind(layer)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let fingerprint: String = sqlx::query_scalar(&format!(
        "SELECT md5(string_agg(fid::text || ST_AsText(geom), ',' ORDER BY fid)) FROM layers.{layer}"
    ))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    (version, count, fingerprint)
}

/// A copy of the HCMGIS historic sites Shapefile with `drop` sidecars removed.
fn ditich_copy(dir: &Path, drop: &[&str]) -> PathBuf {
    let source = shared_data().join("hcmgis-vn2000");
    for ext in ["shp", "shx", "dbf", "prj", "CPG"] {
        if !drop.contains(&ext) {
            std::fs::copy(
                source.join(format!("DiTich.{ext}")),
                dir.join(format!("DiTich.{ext}")),
            )
            .unwrap();
        }
    }
    dir.join("DiTich.shp")
}

#[tokio::test]
async fn bad_files_fail_clearly_and_leave_the_live_layer_alone() {
    let db = fresh_database().await;
    let good = shared_data().join("hcmgis-vn2000/DiTich.shp");
    run(&db, &request(&good, "sites")).await.unwrap();
    let before = live_state(&db, "sites").await;

    let tmp = tempfile::tempdir().unwrap();
    let case = |name: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let truncated = ditich_copy(&case("truncated"), &[]);
    let full = std::fs::metadata(&truncated).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(full / 2)
        .unwrap();
    let no_shx = ditich_copy(&case("no_shx"), &["shx"]);
    let no_dbf = ditich_copy(&case("no_dbf"), &["dbf"]);
    let metres_without_crs = ditich_copy(&case("no_prj"), &["prj"]);
    let broken_json = case("json").join("broken.geojson");
    std::fs::write(
        &broken_json,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","#,
    )
    .unwrap();
    let empty = case("empty").join("empty.geojson");
    std::fs::write(&empty, "").unwrap();

    for (path, expected) in [
        (&truncated, "truncated or corrupt"),
        (&no_shx, ".shx file (its index) is missing"),
        (&no_dbf, ".dbf file (its attribute table) is missing"),
        (&metres_without_crs, "pass --source-crs"),
        (&broken_json, "Failed to read GeoJSON"),
        (&empty, "the file is empty"),
    ] {
        let error = run(&db, &request(path, "sites"))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{}: {error}", path.display());
        assert!(!error.contains('\n'), "one line: {error}");
        assert_eq!(live_state(&db, "sites").await, before, "{}", path.display());
    }
    assert_eq!(staging_tables(&db).await, 0, "no staging table left behind");
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bando.import_jobs WHERE status = 'failed'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(failed, 6, "every failed import is a failed job");

    // With the right CRS named, the .prj-less file imports.
    let fixed = ImportRequest {
        source: bando_importers::source::SourceOptions {
            source_crs: Some("EPSG:9210".to_owned()),
            ..Default::default()
        },
        ..request(&metres_without_crs, "sites_9210")
    };
    assert_eq!(run(&db, &fixed).await.unwrap().written, 167);
}

#[tokio::test]
async fn csv_rows_with_shifted_columns_are_skipped_and_reported() {
    let db = fresh_database().await;
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("stops.csv");
    std::fs::write(
        &csv,
        "name,lon,lat\nBến Thành,106.6981,10.7725\nChợ, Lớn,106.65,10.75\nNhà thờ Đức Bà,106.6990,10.7798\n",
    )
    .unwrap();
    let outcome = run(&db, &request(&csv, "stops")).await.unwrap();
    assert_eq!(outcome.written, 2);
    assert_eq!(outcome.skipped.get("null_geometry"), Some(&1));
    assert_eq!(outcome.problems[0].feature, "stops.csv#2");
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("EPSG:4326 assumed"))
    );
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM layers.stops ORDER BY fid")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(names, ["Bến Thành", "Nhà thờ Đức Bà"]);

    let strict = ImportRequest {
        policy: ValidationPolicy::Fail,
        force: true,
        ..request(&csv, "stops")
    };
    let error = run(&db, &strict).await.unwrap_err().to_string();
    assert!(
        error.contains("stops.csv#2") && error.contains("null_geometry"),
        "{error}"
    );
}

/// TCVN3 bytes of Vietnamese text, for the fixture (ABC table: the letters used below).
fn tcvn3(text: &str) -> String {
    const TABLE: [(char, u8); 10] = [
        ('ư', 0xAD),
        ('ờ', 0xEA),
        ('ế', 0xD5),
        ('à', 0xB5),
        ('ậ', 0xCB),
        ('ợ', 0xEE),
        ('ơ', 0xAC),
        ('ề', 0xD2),
        ('ộ', 0xE9),
        ('ớ', 0xED),
    ];
    // GDAL writes the file as ISO-8859-1: one char per byte.
    text.chars()
        .map(|c| {
            TABLE
                .iter()
                .find(|(t, _)| *t == c)
                .map_or(c, |(_, b)| char::from(*b))
        })
        .collect()
}

fn write_legacy_shapefile(path: &Path, names: &[&str]) {
    use gdal::vector::{
        Feature, FieldDefn, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType,
    };
    let driver = gdal::DriverManager::get_driver_by_name("ESRI Shapefile").unwrap();
    let mut dataset = driver.create_vector_only(path).unwrap();
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(4326).unwrap();
    let layer = dataset
        .create_layer(LayerOptions {
            name: "legacy",
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbPoint,
            options: Some(&["ENCODING=ISO-8859-1"]),
        })
        .unwrap();
    FieldDefn::new("ten", OGRFieldType::OFTString)
        .unwrap()
        .add_to_layer(&layer)
        .unwrap();
    for (i, name) in names.iter().enumerate() {
        let mut feature = Feature::new(layer.defn()).unwrap();
        feature.set_field_string(0, &tcvn3(name)).unwrap();
        let lon = 106.69 + f64::from(u32::try_from(i).unwrap()) * 0.001;
        feature
            .set_geometry(Geometry::from_wkt(&format!("POINT ({lon} 10.77)")).unwrap())
            .unwrap();
        feature.create(&layer).unwrap();
    }
}

#[tokio::test]
async fn tcvn3_text_in_a_dbf_without_cpg_is_detected_and_decoded() {
    let db = fresh_database().await;
    let tmp = tempfile::tempdir().unwrap();
    let shp = tmp.path().join("legacy.shp");
    let names = ["Phường Bến Thành", "Chợ Lớn", "Quận Một"];
    write_legacy_shapefile(&shp, &names);
    for ext in ["cpg", "CPG"] {
        let _ = std::fs::remove_file(shp.with_extension(ext));
    }
    let outcome = run(&db, &request(&shp, "legacy")).await.unwrap();
    assert!(
        outcome.warnings.iter().any(|w| w.contains("Tcvn3")),
        "{:?}",
        outcome.warnings
    );
    let decoded: Vec<String> = sqlx::query_scalar("SELECT ten FROM layers.legacy ORDER BY fid")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    // TCVN3 has no capitals with tone marks: "Một" keeps its ASCII capital M.
    assert_eq!(decoded, names);

    // Forcing Latin-1 shows what readers without detection get, and the mojibake check says so.
    let latin1 = ImportRequest {
        source: bando_importers::source::SourceOptions {
            encoding: Some(TextEncoding::Latin1),
            ..Default::default()
        },
        force: true,
        ..request(&shp, "legacy_latin1")
    };
    let outcome = run(&db, &latin1).await.unwrap();
    assert!(
        outcome.warnings.iter().any(|w| w.contains("mis-decoded")),
        "{:?}",
        outcome.warnings
    );
}

#[tokio::test]
async fn features_outside_the_city_are_skipped_and_listed() {
    let db = fresh_database().await;
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("mixed.csv");
    std::fs::write(
        &csv,
        "name,lon,lat\nBến Thành,106.6981,10.7725\nHà Nội,105.8342,21.0278\n",
    )
    .unwrap();
    let outcome = run(
        &db,
        &ImportRequest {
            area: Some(bando_importers::reader::DEFAULT_AREA),
            ..request(&csv, "mixed")
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.written, 1);
    assert_eq!(outcome.skipped.get("out_of_area"), Some(&1));
    let report: serde_json::Value =
        sqlx::query_scalar("SELECT report FROM bando.import_jobs WHERE id = $1")
            .bind(outcome.job_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(report["skipped"]["out_of_area"], 1);
    assert_eq!(report["problems"][0]["feature"], "mixed.csv#2");
}

#[tokio::test]
async fn invalid_geometry_is_repaired_skipped_or_fatal_by_policy() {
    let db = fresh_database().await;
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("bowtie.geojson");
    // A self-intersecting "bow tie" and a valid square.
    std::fs::write(
        &json,
        r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","id":1,"properties":{"name":"nơ"},"geometry":{"type":"Polygon","coordinates":[[[106.70,10.77],[106.71,10.78],[106.71,10.77],[106.70,10.78],[106.70,10.77]]]}},
        {"type":"Feature","id":2,"properties":{"name":"vuông"},"geometry":{"type":"Polygon","coordinates":[[[106.72,10.77],[106.73,10.77],[106.73,10.78],[106.72,10.78],[106.72,10.77]]]}}]}"#,
    )
    .unwrap();
    let repaired = run(&db, &request(&json, "repaired")).await.unwrap();
    assert_eq!((repaired.written, repaired.repaired), (2, 1));
    let (valid, kind): (bool, String) = sqlx::query_as(
        "SELECT bool_and(ST_IsValid(geom)), string_agg(DISTINCT GeometryType(geom), ',') FROM layers.repaired",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(valid);
    assert_eq!(kind, "MULTIPOLYGON", "the repaired bow tie stays polygonal");

    let skipped = run(
        &db,
        &ImportRequest {
            policy: ValidationPolicy::Skip,
            ..request(&json, "skipped")
        },
    )
    .await
    .unwrap();
    assert_eq!(skipped.written, 1);
    assert_eq!(skipped.skipped.get("invalid_geometry"), Some(&1));

    let error = run(
        &db,
        &ImportRequest {
            policy: ValidationPolicy::Fail,
            ..request(&json, "failed")
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("#1") && error.contains("invalid_geometry"),
        "{error}"
    );
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('layers.failed') IS NOT NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!exists, "nothing published under policy fail");
}

#[tokio::test]
async fn rollback_restores_the_previous_version_and_unchanged_files_are_skipped() {
    let db = fresh_database().await;
    let dir = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards");
    run(&db, &request(&dir.join("26743_ben_thanh.geojson"), "w"))
        .await
        .unwrap();
    let v1 = live_state(&db, "w").await;
    let again = run(&db, &request(&dir.join("26743_ben_thanh.geojson"), "w"))
        .await
        .unwrap();
    assert_eq!(again.status, bando_importers::job::JobStatus::Skipped);
    assert_eq!(
        live_state(&db, "w").await,
        v1,
        "an unchanged file publishes nothing"
    );

    run(&db, &request(&dir.join("26740_sai_gon.geojson"), "w"))
        .await
        .unwrap();
    let v2 = live_state(&db, "w").await;
    assert_eq!(v2.0, 2);
    assert_ne!(v2.2, v1.2);

    let outcome = bando_importers::rollback::rollback(&db.pool, "w", &Actor::command_line())
        .await
        .unwrap();
    assert_eq!((outcome.version, outcome.restored_version), (3, 1));
    let v3 = live_state(&db, "w").await;
    assert_eq!(
        (v3.1, &v3.2),
        (v1.1, &v1.2),
        "version 1's data is live again"
    );
    let name: String = sqlx::query_scalar("SELECT name FROM layers.w")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(name, "Bến Thành");
    // And back again.
    bando_importers::rollback::rollback(&db.pool, "w", &Actor::command_line())
        .await
        .unwrap();
    assert_eq!(live_state(&db, "w").await.2, v2.2);

    let error = bando_importers::rollback::rollback(&db.pool, "nope", &Actor::command_line())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no layer"), "{error}");
}

/// A database that cannot project to Web Mercator (here: a `spatial_ref_sys` without EPSG:3857, as
/// trimmed installations have) fails the job at its first statement on the geometry, before any
/// row is loaded: the job records the server's reason, the live layer and the tables stay as they
/// were, and the same import succeeds once the definition is back.
#[tokio::test]
async fn a_database_without_web_mercator_fails_the_job_before_loading() {
    let db = fresh_database().await;
    let sites = shared_data().join("hcmgis-vn2000/DiTich.shp");
    let wards = shared_data().join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp");
    run(&db, &request(&sites, "sites")).await.unwrap();
    let before = live_state(&db, "sites").await;

    let removed: i64 = sqlx::query_scalar(
        "WITH gone AS (DELETE FROM spatial_ref_sys WHERE srid = 3857 RETURNING *) \
         SELECT count(*) FROM gone",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(removed, 1);
    let error = run(&db, &request(&wards, "sites")).await.unwrap_err();
    assert!(error.to_string().contains("3857"), "{error}");
    let (status, recorded): (String, Option<String>) = sqlx::query_as(
        "SELECT status::text, error FROM bando.import_jobs ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert!(recorded.is_some_and(|e| e.contains("3857")));
    assert_eq!(live_state(&db, "sites").await, before);
    assert_eq!(staging_tables(&db).await, 0);

    sqlx::query(
        "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text) \
         VALUES (3857, 'EPSG', 3857, '+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 \
         +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let outcome = run(&db, &request(&wards, "sites")).await.unwrap();
    assert_eq!((outcome.version, outcome.written), (Some(2), 322));
}
