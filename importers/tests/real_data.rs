//! Importing every dataset of the real HCMC data set, and the VN-2000 acceptance checks.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::convert::Converter;
use bando_importers::{ImportOutcome, ImportRequest, import};

async fn load(
    db: &TestDatabase,
    path: PathBuf,
    layer: &str,
    convert: Option<Converter>,
) -> ImportOutcome {
    let request = ImportRequest {
        path,
        layer: layer.to_owned(),
        convert,
        ..ImportRequest::default()
    };
    import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap_or_else(|e| panic!("{layer}: {e}"))
}

struct Expected {
    path: &'static str,
    layer: &'static str,
    convert: Option<Converter>,
    count: i64,
    crs: &'static str,
    geometry_type: &'static str,
    /// A value that must be found, exactly, in this column (diacritics intact).
    text: (&'static str, &'static str),
}

#[tokio::test]
async fn every_shared_dataset_imports_with_its_counts_crs_and_vietnamese_text() {
    let db = fresh_database().await;
    let data = shared_data();
    let cases = [
        Expected {
            path: "hcmc-wards-2025/79_ho_chi_minh/wards",
            layer: "wards_2025",
            convert: None,
            count: 168,
            crs: "EPSG:4326",
            geometry_type: "MultiPolygon",
            text: ("fullname", "Phường Bến Thành"),
        },
        Expected {
            path: "hcmc-wards-2025/79_ho_chi_minh/79_ho_chi_minh.geojson",
            layer: "city_2025",
            convert: None,
            count: 1,
            crs: "EPSG:4326",
            geometry_type: "MultiPolygon",
            text: ("name", "Hồ Chí Minh"),
        },
        Expected {
            path: "hcmc-wards-2019-cityscope/Population_Ward_Level.shp",
            layer: "wards_2019",
            convert: None,
            count: 322,
            crs: "EPSG:32648",
            geometry_type: "Polygon",
            text: ("com_name", "Ben Nghe"),
        },
        Expected {
            path: "hcmc-wards-2019-cityscope/Population_District_Level.shp",
            layer: "districts_2019",
            convert: None,
            count: 24,
            crs: "EPSG:32648",
            geometry_type: "Polygon",
            text: ("dist_name", "District 1"),
        },
        Expected {
            path: "vn-admin-dvhcvn/79.json",
            layer: "districts_2021",
            convert: Some(Converter::Dvhcvn),
            count: 22,
            crs: "EPSG:4326",
            geometry_type: "MultiPolygon",
            text: ("name", "Thành phố Thủ Đức"),
        },
        Expected {
            path: "hcmgis-vn2000/DiTich.shp",
            layer: "historic_sites",
            convert: None,
            count: 167,
            crs: "VN2000_HCM",
            geometry_type: "Point",
            text: ("phuong", "Phường Bến Nghé"),
        },
        Expected {
            path: "hcmgis-vn2000/Coso_Tongiao_07252017.shp",
            layer: "religious_sites",
            convert: None,
            count: 2698,
            crs: "VN2000_HCM",
            geometry_type: "Point",
            text: ("doi_tuong", "Miễu"),
        },
        // 1,107 LineStrings + 22 MultiLineStrings: promoted to multi.
        Expected {
            path: "hcmgis-vn2000/Cau.shp",
            layer: "bridges",
            convert: None,
            count: 1129,
            crs: "VN2000_HCM",
            geometry_type: "MultiLineString",
            text: ("tenduong", "Cầu Ông Lãnh"),
        },
        Expected {
            path: "hcmc-bus/stops.json",
            layer: "bus_stops",
            convert: Some(Converter::HcmcBusStops),
            count: 4397,
            crs: "EPSG:4326",
            geometry_type: "Point",
            text: ("name", "Bến xe buýt Sài Gòn"),
        },
        Expected {
            path: "hcmc-bus/paths.json",
            layer: "bus_routes",
            convert: Some(Converter::HcmcBusRoutes),
            count: 297,
            crs: "EPSG:4326",
            geometry_type: "LineString",
            text: ("route_no", "03"),
        },
        // Points and polygons mixed: kept as they are in a Geometry layer.
        Expected {
            path: "hcmc-osm-ohsome/ohsome_buildings.geojson",
            layer: "osm_places",
            convert: None,
            count: 3513,
            crs: "EPSG:4326",
            geometry_type: "Geometry",
            text: ("name", "Chợ Bình Tây"),
        },
        Expected {
            path: "hcmc-osm-ohsome/ohsome_shopsl_archive.geojson",
            layer: "osm_shops",
            convert: None,
            count: 5798,
            crs: "EPSG:4326",
            geometry_type: "Geometry",
            text: ("osmtype", "node"),
        },
        Expected {
            path: "saigon-peninsula-cityscope/roads/RoadNetwork_WGS84.shp",
            layer: "d7_roads",
            convert: None,
            count: 660,
            crs: "EPSG:4326",
            geometry_type: "LineString",
            text: ("type", "Road"),
        },
        Expected {
            path: "saigon-peninsula-cityscope/buildings/Building_full.shp",
            layer: "d7_buildings",
            convert: None,
            count: 5895,
            crs: "EPSG:4326",
            geometry_type: "MultiPolygon",
            text: ("landusetyp", "New Residential"),
        },
        Expected {
            path: "saigon-peninsula-cityscope/pois/Commercial_Services.shp",
            layer: "d7_commercial",
            convert: None,
            count: 1429,
            crs: "EPSG:4326",
            geometry_type: "Point",
            text: ("district", "District 7"),
        },
    ];
    for case in cases {
        let outcome = load(&db, data.join(case.path), case.layer, case.convert).await;
        assert_eq!(
            outcome.written,
            u64::try_from(case.count).unwrap(),
            "{}",
            case.layer
        );
        assert!(
            outcome.source_crs.starts_with(case.crs),
            "{}: {}",
            case.layer,
            outcome.source_crs
        );
        let (geometry_type, count, fields): (String, i64, serde_json::Value) = sqlx::query_as(
            "SELECT geometry_type, feature_count, fields FROM bando.layers WHERE slug = $1",
        )
        .bind(case.layer)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(geometry_type, case.geometry_type, "{}", case.layer);
        assert_eq!(count, case.count, "{}", case.layer);
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM layers.{}", case.layer))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(rows, case.count, "{}", case.layer);
        let (column, value) = case.text;
        assert!(
            fields
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["name"] == column),
            "{}: no column {column} in {fields}",
            case.layer
        );
        let found: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM layers.{} WHERE {column}::text LIKE '%' || $1 || '%')",
            case.layer
        ))
        .bind(value)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(found, "{}: {value:?} not found in {column}", case.layer);
    }
}

#[tokio::test]
async fn declared_numeric_widths_are_not_trusted() {
    // The 2019 ward DBF declares Shape_Area numeric(19,11) and holds larger values.
    let db = fresh_database().await;
    let path = shared_data().join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp");
    load(&db, path, "wards_2019", None).await;
    let largest: f64 = sqlx::query_scalar("SELECT max(shape_area) FROM layers.wards_2019")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        largest >= 1e8,
        "areas in m² of the biggest communes kept: {largest}"
    );
}

/// Haversine distance in metres.
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, la2) = (a.1.to_radians(), b.1.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.0 - a.0).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

#[tokio::test]
async fn vn2000_points_are_within_half_a_metre_of_proj_epsg_9210() {
    use gdal::vector::LayerAccess;

    let db = fresh_database().await;
    let path = shared_data().join("hcmgis-vn2000/DiTich.shp");
    load(&db, path.clone(), "historic_sites", None).await;

    // The reference: PROJ's own EPSG:9210 → EPSG:4326 operation on the file's raw coordinates.
    let reference = proj::Proj::new_known_crs("EPSG:9210", "EPSG:4326", None).unwrap();
    let dataset = gdal::Dataset::open(&path).unwrap();
    let mut layer = dataset.layer(0).unwrap();
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for feature in layer.features() {
        let fid = i64::try_from(feature.fid().unwrap()).unwrap();
        let (x, y, _) = feature.geometry().unwrap().get_point(0);
        let expected: (f64, f64) = reference.convert((x, y)).unwrap();
        let imported: (f64, f64) = sqlx::query_as(
            "SELECT ST_X(geom), ST_Y(geom) FROM layers.historic_sites WHERE fid = $1",
        )
        .bind(fid)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        worst = worst.max(metres(expected, imported));
        checked += 1;
    }
    assert_eq!(checked, 167);
    assert!(worst < 0.5, "worst offset from EPSG:9210 is {worst:.3} m");
}

#[tokio::test]
async fn historic_sites_fall_in_the_ward_they_name() {
    let db = fresh_database().await;
    let data = shared_data();
    load(
        &db,
        data.join("hcmgis-vn2000/DiTich.shp"),
        "historic_sites",
        None,
    )
    .await;
    load(
        &db,
        data.join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp"),
        "wards_2019",
        None,
    )
    .await;
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT trim(h.phuong), w.com_name FROM layers.historic_sites h \
         LEFT JOIN layers.wards_2019 w ON ST_Covers(w.geom, h.geom) WHERE h.phuong IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    // Sites whose `Phuong` names one ward ("Phường Bến Nghé", "Phường 11"); the 2019 layer
    // writes them without diacritics ("Ben Nghe", "Ward 11").
    let (mut testable, mut matching) = (0, 0);
    for (phuong, ward) in rows {
        let Some(name) = phuong.strip_prefix("Phường") else {
            continue;
        };
        if name.contains(',') || name.contains(" và ") {
            continue;
        }
        let folded = fold(name.split('(').next().unwrap_or(name));
        let expected = match folded.parse::<u32>() {
            Ok(n) => format!("ward {n}"),
            Err(_) => folded,
        };
        testable += 1;
        if ward.is_some_and(|w| fold(&w) == expected) {
            matching += 1;
        }
    }
    assert!((135..=140).contains(&testable), "{testable} testable sites");
    // 126 of 139 with the right datum shift; 82 with none.
    assert!(
        matching >= 126,
        "{matching} of {testable} sites in their ward"
    );
}

fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| if matches!(c, 'đ' | 'Đ') { 'd' } else { c })
        .collect::<String>()
        .to_lowercase()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn source_crs_covers_the_vn2000_zones_and_utm() {
    // Bến Thành market written in each CRS by PROJ, imported with --source-crs, lands back on it.
    let db = fresh_database().await;
    let tmp = tempfile::tempdir().unwrap();
    let market = (106.6981, 10.7725);
    for (i, crs) in [
        "EPSG:9205",
        "EPSG:9206",
        "EPSG:9207",
        "EPSG:9208",
        "EPSG:9209",
        "EPSG:9210",
        "EPSG:9211",
        "EPSG:9212",
        "EPSG:9213",
        "EPSG:9214",
        "EPSG:9215",
        "EPSG:9216",
        "EPSG:9217",
        "EPSG:9218",
        "EPSG:32648",
        "EPSG:32649",
        "EPSG:3405",
    ]
    .iter()
    .enumerate()
    {
        let to_crs = proj::Proj::new_known_crs("EPSG:4326", crs, None).unwrap();
        let (x, y): (f64, f64) = to_crs.convert(market).unwrap();
        let csv = tmp.path().join(format!("p{i}.csv"));
        std::fs::write(&csv, format!("name,x,y\nchợ,{x},{y}\n")).unwrap();
        let request = ImportRequest {
            path: csv,
            layer: format!("p{i}"),
            source: bando_importers::source::SourceOptions {
                source_crs: Some((*crs).to_owned()),
                ..Default::default()
            },
            ..ImportRequest::default()
        };
        import(&db.pool, &request, Arc::new(|_, _| {}))
            .await
            .unwrap();
        let back: (f64, f64) =
            sqlx::query_as(&format!("SELECT ST_X(geom), ST_Y(geom) FROM layers.p{i}"))
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let off = metres(market, back);
        assert!(off < 0.01, "{crs}: {off:.4} m off");
    }
}

/// Every named feature is findable by name after a publish, at a point on the feature: whether
/// its search rows were prepared on a second connection (a source of ≥ 1 MiB, the 2019 wards) or
/// computed in the publishing transaction (a small one, the historic sites); a republish replaces
/// them, and no working table is left behind.
#[tokio::test]
async fn published_names_are_searchable_at_a_point_on_their_feature() {
    let db = fresh_database().await;
    let data = shared_data();
    let cases = [
        (
            data.join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp"),
            "wards_2019",
            "com_name",
        ),
        (
            data.join("hcmgis-vn2000/DiTich.shp"),
            "historic_sites",
            "ten_dt",
        ),
    ];
    for (path, layer, column) in cases {
        for _ in 0..2 {
            load(&db, path.clone(), layer, None).await;
        }
        let (named, indexed, on_feature, folded): (i64, i64, i64, i64) = sqlx::query_as(&format!(
            "SELECT (SELECT count(*) FROM layers.{layer} WHERE nullif(trim({column}), '') IS NOT NULL), \
                    count(*), \
                    count(*) FILTER (WHERE ST_Covers(t.geom, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326))), \
                    count(*) FILTER (WHERE s.folded = bando.fold(t.{column}) AND s.name = t.{column}) \
             FROM bando.search_names s \
             JOIN bando.layers l ON l.id = s.layer_id AND l.slug = '{layer}' \
             JOIN layers.{layer} t ON t.fid = s.fid"
        ))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(named > 100, "{layer}: {named} named features");
        assert_eq!(indexed, named, "{layer}: one search row per named feature");
        assert_eq!(on_feature, named, "{layer}: every point on its feature");
        assert_eq!(folded, named, "{layer}: names kept and folded");
    }
    assert_eq!(
        common::staging_tables(&db).await,
        0,
        "no staging or prepared-names table left"
    );
}

/// The search rows of a large layer are prepared on a second connection; if that connection
/// dies, the import still publishes, with the rows computed in the publishing transaction and a
/// warning in the report.
#[tokio::test]
async fn a_lost_helper_connection_costs_a_warning_not_the_import() {
    let db = fresh_database().await;
    let path = shared_data().join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp");
    // Holding the catalog stops the import at its unchanged-source check, by which point both
    // of its connections are open: the second one is cut there, before it is used.
    let mut blocker = db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE bando.layers IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let pool = db.pool.clone();
    let request = ImportRequest {
        path,
        layer: "wards_2019".to_owned(),
        ..ImportRequest::default()
    };
    let importing = tokio::spawn(async move { import(&pool, &request, Arc::new(|_, _| {})).await });
    let mut helper = None;
    for _ in 0..3000 {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
             AND query LIKE '%source_checksum%')",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if waiting {
            helper = sqlx::query_scalar::<_, i32>(
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = current_database() AND state = 'idle' \
                 AND query LIKE 'SELECT bando.fold(''Bến Nghé'')%'",
            )
            .fetch_optional(&db.pool)
            .await
            .unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let helper = helper.expect("the import waits for the catalog with its helper connection open");
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(helper)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(terminated);
    blocker.commit().await.unwrap();

    let outcome = importing.await.unwrap().unwrap();
    assert_eq!(outcome.written, 322);
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.starts_with("search rows computed while publishing")),
        "{:?}",
        outcome.warnings
    );
    let (named, indexed): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM layers.wards_2019 WHERE nullif(trim(com_name), '') IS NOT NULL), \
                (SELECT count(*) FROM bando.search_names s JOIN bando.layers l ON l.id = s.layer_id \
                 WHERE l.slug = 'wards_2019')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(named > 300, "{named} named wards");
    assert_eq!(indexed, named, "one search row per named ward");
    assert_eq!(
        common::staging_tables(&db).await,
        0,
        "no staging or prepared-names table left"
    );
}
