//! The database as GIS tools see it when pointed straight at PostGIS: schema `layers` holds the
//! live layers and nothing else (versions kept for rollback and staging tables live in schemas of
//! their own), and each geometry column is registered with the type it holds, so `ogrinfo`, QGIS,
//! Martin or GeoServer need not scan a table to learn it.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::convert::Converter;
use bando_importers::{ImportRequest, import};

async fn load(db: &TestDatabase, path: &str, layer: &str, convert: Option<Converter>) {
    let request = ImportRequest {
        path: shared_data().join(path),
        layer: layer.to_owned(),
        convert,
        force: true,
        ..ImportRequest::default()
    };
    import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap_or_else(|e| panic!("{layer}: {e}"));
}

/// `ogrinfo`'s connection string for the test database, limited to schema `layers`.
fn pg_datasource(url: &str, schema: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!(
        "PG:host={} port={} user={} dbname={} schemas={schema}",
        url.host_str().unwrap(),
        url.port().unwrap_or(5432),
        url.username(),
        url.path().trim_start_matches('/'),
    )
}

#[tokio::test]
async fn gis_tools_see_exactly_the_live_layers_with_their_geometry_types() {
    let db = fresh_database().await;
    load(
        &db,
        "hcmc-wards-2019-cityscope/Population_Ward_Level.shp",
        "wards_2019",
        None,
    )
    .await;
    // Published twice: the first version is kept for rollback.
    load(
        &db,
        "hcmc-wards-2019-cityscope/Population_Ward_Level.shp",
        "wards_2019",
        None,
    )
    .await;
    load(
        &db,
        "hcmc-bus/stops.json",
        "bus_stops",
        Some(Converter::HcmcBusStops),
    )
    .await;
    load(
        &db,
        "hcmc-bus/paths.json",
        "bus_routes",
        Some(Converter::HcmcBusRoutes),
    )
    .await;
    // A mixed layer: points and polygons (the ohsome amenities).
    load(
        &db,
        "hcmc-osm-ohsome/ohsome_buildings.geojson",
        "amenities",
        None,
    )
    .await;
    // A failed import leaves its staging table behind until the next import cleans it up;
    // whatever is left, none of it is in `layers`.
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'bando_history'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(kept, 1, "the first wards_2019 kept for rollback");

    // geometry_columns, as Martin and QGIS read it: the live layers' columns with their types.
    let columns: Vec<(String, String, String, i32)> = sqlx::query_as(
        "SELECT f_table_name::text, f_geometry_column::text, type, srid FROM geometry_columns \
         WHERE f_table_schema = 'layers' ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let by_table: BTreeMap<&str, Vec<(&str, &str, i32)>> =
        columns
            .iter()
            .fold(BTreeMap::new(), |mut m, (t, c, ty, srid)| {
                m.entry(t.as_str())
                    .or_default()
                    .push((c.as_str(), ty.as_str(), *srid));
                m
            });
    assert_eq!(
        by_table.keys().copied().collect::<Vec<_>>(),
        ["amenities", "bus_routes", "bus_stops", "wards_2019"]
    );
    let expect = |table: &str, kind: &str, generalised: bool| {
        let mut expected = vec![("geom", kind, 4326), ("geom_3857", kind, 3857)];
        if generalised {
            for z in ["geom_z10", "geom_z5", "geom_z8"] {
                expected.push((z, kind, 3857));
            }
        }
        expected.sort();
        assert_eq!(by_table[table], expected, "{table}");
    };
    expect("wards_2019", "POLYGON", true);
    expect("bus_stops", "POINT", false);
    expect("bus_routes", "LINESTRING", true);
    expect("amenities", "GEOMETRY", true);
    // The catalog says which layer is mixed.
    let mixed: String =
        sqlx::query_scalar("SELECT geometry_type FROM bando.layers WHERE slug = 'amenities'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(mixed, "Geometry");

    // ogrinfo on schema `layers`: exactly the live layers, each with its type, read from the
    // registry (GDAL would otherwise report "Unknown (any)").
    let output = std::process::Command::new("ogrinfo")
        .args(["-ro", "-q", &pg_datasource(&db.url, "layers")])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut listed: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, rest)| rest.trim().to_owned()))
        .collect();
    listed.sort();
    // One line a table, with the type of each of its geometry columns.
    let line = |name: &str, kind: &str, columns: usize| {
        format!("{name} ({})", vec![kind; columns].join(", "))
    };
    assert_eq!(
        listed,
        [
            line("amenities", "Unknown (any)", 5),
            line("bus_routes", "Line String", 5),
            line("bus_stops", "Point", 2),
            line("wards_2019", "Polygon", 5),
        ]
    );
}

/// Layers published before geometry columns were typed (`geometry(Geometry, …)` throughout) get
/// their types from the migration's `bando.type_geometry_columns`, derived columns and the tiles'
/// spatial index made again; a mixed layer stays `Geometry`.
#[tokio::test]
async fn layers_published_untyped_are_typed_by_the_migration() {
    let db = fresh_database().await;
    load(
        &db,
        "hcmc-bus/paths.json",
        "bus_routes",
        Some(Converter::HcmcBusRoutes),
    )
    .await;
    load(
        &db,
        "hcmc-osm-ohsome/ohsome_buildings.geojson",
        "amenities",
        None,
    )
    .await;
    for table in ["bus_routes", "amenities"] {
        // As such a layer was: every geometry column generic.
        sqlx::query(&format!(
            "ALTER TABLE layers.{table} DROP COLUMN geom_3857, DROP COLUMN geom_z5, \
             DROP COLUMN geom_z8, DROP COLUMN geom_z10, \
             ALTER COLUMN geom TYPE geometry(Geometry, 4326), \
             ADD COLUMN geom_3857 geometry(Geometry, 3857) GENERATED ALWAYS AS (bando.to_web_mercator(geom)) STORED, \
             ADD COLUMN geom_z5 geometry(Geometry, 3857) GENERATED ALWAYS AS (bando.generalize(geom, 5)) STORED, \
             ADD COLUMN geom_z8 geometry(Geometry, 3857) GENERATED ALWAYS AS (bando.generalize(geom, 8)) STORED, \
             ADD COLUMN geom_z10 geometry(Geometry, 3857) GENERATED ALWAYS AS (bando.generalize(geom, 10)) STORED"
        ))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let typed: Vec<String> = sqlx::query_scalar(
        "SELECT bando.type_geometry_columns(t) FROM unnest(ARRAY['bus_routes', 'amenities']) AS t",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(typed, ["LINESTRING", "Geometry"]);
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT f_geometry_column::text, type FROM geometry_columns \
         WHERE f_table_schema = 'layers' AND f_table_name = 'bus_routes' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(types.iter().all(|(_, t)| t == "LINESTRING"), "{types:?}");
    assert_eq!(types.len(), 5);
    let (wrong, indexed): (i64, bool) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM layers.bus_routes \
                 WHERE ST_AsBinary(geom_3857) IS DISTINCT FROM ST_AsBinary(ST_Transform(geom, 3857))), \
                EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'layers' \
                        AND tablename = 'bus_routes' AND indexdef LIKE '%gist (geom_3857)%')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((wrong, indexed), (0, true));
}
