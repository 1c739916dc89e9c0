//! GeoPackage (one layer or all), KML, FlatGeobuf and CSV-with-WKT sources, made from the real
//! data with GDAL's ogr2ogr, import with the same features and coordinates as the originals.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::source::SourceOptions;
use bando_importers::{ImportOutcome, ImportRequest, import};

fn ogr2ogr(args: &[&str]) {
    let status = Command::new("ogr2ogr").args(args).status().unwrap();
    assert!(status.success(), "ogr2ogr {args:?}");
}

async fn load(
    db: &TestDatabase,
    path: &Path,
    layer: &str,
    source_layer: Option<&str>,
) -> ImportOutcome {
    let request = ImportRequest {
        path: path.to_path_buf(),
        layer: layer.to_owned(),
        source: SourceOptions {
            source_layer: source_layer.map(str::to_owned),
            ..SourceOptions::default()
        },
        ..ImportRequest::default()
    };
    import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap_or_else(|e| panic!("{layer}: {e}"))
}

/// Largest distance in degrees between same-named points of two point layers.
async fn max_offset(db: &TestDatabase, a: &str, b: &str) -> f64 {
    sqlx::query_scalar(&format!(
        "SELECT max(ST_Distance(x.geom, y.geom)) FROM layers.{a} x JOIN layers.{b} y ON x.stt = y.stt"
    ))
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn geopackage_kml_flatgeobuf_and_wkt_csv() {
    let db = fresh_database().await;
    let data = shared_data();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sites = data.join("hcmgis-vn2000/DiTich.shp");
    let districts = data.join("hcmc-wards-2019-cityscope/Population_District_Level.shp");
    let wards = data.join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp");
    load(&db, &sites, "sites_shp", None).await;

    // GeoPackage with two layers, each keeping its source CRS (VN-2000 and UTM 48N).
    let gpkg = dir.join("city.gpkg");
    let gpkg_s = gpkg.to_str().unwrap();
    ogr2ogr(&[
        "-f",
        "GPKG",
        gpkg_s,
        sites.to_str().unwrap(),
        "-nln",
        "sites",
    ]);
    ogr2ogr(&[
        "-update",
        "-f",
        "GPKG",
        gpkg_s,
        districts.to_str().unwrap(),
        "-nln",
        "districts",
    ]);
    let one = load(&db, &gpkg, "gpkg_districts", Some("districts")).await;
    assert_eq!(one.written, 24);
    assert_eq!(one.source_crs, "EPSG:32648");
    let sites_gpkg = load(&db, &gpkg, "sites_gpkg", Some("sites")).await;
    assert_eq!(sites_gpkg.written, 167);
    assert!(
        max_offset(&db, "sites_shp", "sites_gpkg").await < 1e-7,
        "same VN-2000 shift"
    );

    // KML (GDAL writes it in WGS84).
    let kml = dir.join("sites.kml");
    ogr2ogr(&["-f", "KML", kml.to_str().unwrap(), sites.to_str().unwrap()]);
    let from_kml = load(&db, &kml, "sites_kml", None).await;
    assert_eq!(from_kml.written, 167);

    // FlatGeobuf keeps UTM 48N.
    let fgb = dir.join("wards.fgb");
    ogr2ogr(&[
        "-f",
        "FlatGeobuf",
        fgb.to_str().unwrap(),
        wards.to_str().unwrap(),
    ]);
    let from_fgb = load(&db, &fgb, "wards_fgb", None).await;
    assert_eq!(
        (from_fgb.written, from_fgb.source_crs.as_str()),
        (322, "EPSG:32648")
    );

    // CSV with a WKT column in lon/lat.
    let csv = dir.join("districts.csv");
    ogr2ogr(&[
        "-f",
        "CSV",
        csv.to_str().unwrap(),
        districts.to_str().unwrap(),
        "-t_srs",
        "EPSG:4326",
        "-lco",
        "GEOMETRY=AS_WKT",
    ]);
    let from_csv = load(&db, &csv, "districts_csv", None).await;
    assert_eq!(from_csv.written, 24);
    let same_area: bool = sqlx::query_scalar(
        "SELECT abs(sum(ST_Area(a.geom::geography)) / sum(ST_Area(b.geom::geography)) - 1) < 1e-6 \
         FROM layers.districts_csv a JOIN layers.gpkg_districts b ON a.dist_id::text = b.dist_id::text",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(same_area, "the WKT districts cover what the UTM ones do");
}
