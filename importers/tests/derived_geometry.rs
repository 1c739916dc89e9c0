//! The derived geometry every layer table keeps in generated columns — the Web Mercator copy and
//! the per-zoom generalisations low-zoom tiles read — checked on real data against the plain
//! PostGIS expressions they stand for (`migrations/0002` defines the rule, `0006` makes it cheap).

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::sync::Arc;

use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::convert::Converter;
use bando_importers::{ImportRequest, import};

async fn load(db: &TestDatabase, path: &str, layer: &str, convert: Option<Converter>) {
    let request = ImportRequest {
        path: shared_data().join(path),
        layer: layer.to_owned(),
        convert,
        ..ImportRequest::default()
    };
    import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap_or_else(|e| panic!("{layer}: {e}"));
}

/// Per zoom: features dropped, and features treated against the rule (dropped though at least a
/// pixel wide, kept though narrower, or simplified otherwise than Douglas-Peucker to half a pixel).
/// Stored boxes are float4 rounded outwards: widths within two float4 steps of a pixel may go
/// either way.
const RULE_CHECK: &str = "
    WITH f AS (
        SELECT g, greatest(ST_XMax(geom) - ST_XMin(geom), ST_YMax(geom) - ST_YMin(geom)) AS width,
               360.0 / (512 * 2 ^ $1) AS pixel, geom
        FROM (SELECT CASE $1 WHEN 5 THEN geom_z5 WHEN 8 THEN geom_z8 ELSE geom_z10 END AS g, geom
              FROM layers.%TABLE%) AS t)
    SELECT count(*) FILTER (WHERE g IS NULL),
           count(*) FILTER (WHERE g IS NULL AND width >= pixel + 2e-5)
         + count(*) FILTER (WHERE g IS NOT NULL AND width < pixel - 2e-5)
         + count(*) FILTER (WHERE g IS NOT NULL AND ST_AsBinary(g) IS DISTINCT FROM
               ST_AsBinary(ST_Transform(ST_Simplify(geom, pixel / 2, true), 3857))),
           count(*)
    FROM f";

#[tokio::test]
async fn derived_columns_match_their_definition_on_real_data() {
    let db = fresh_database().await;
    load(
        &db,
        "hcmc-wards-2019-cityscope/Population_Ward_Level.shp",
        "wards_2019",
        None,
    )
    .await;
    load(
        &db,
        "hcmc-bus/paths.json",
        "bus_routes",
        Some(Converter::HcmcBusRoutes),
    )
    .await;
    load(
        &db,
        "hcmc-bus/stops.json",
        "bus_stops",
        Some(Converter::HcmcBusStops),
    )
    .await;

    for table in ["wards_2019", "bus_routes", "bus_stops"] {
        let wrong: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM layers.{table} \
             WHERE ST_AsBinary(geom_3857) IS DISTINCT FROM ST_AsBinary(ST_Transform(geom, 3857))"
        ))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(
            wrong, 0,
            "{table}: Web Mercator column differs from ST_Transform"
        );
    }

    // Every geometry column of a published table is stored uncompressed (coordinates do not
    // compress; `staging::uncompressed_geometry_sql`): 2 on points, 5 with the generalisations.
    let storage: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT c.relname::text, count(*), count(*) FILTER (WHERE a.attstorage = 'e') \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'layers' AND a.atttypid = 'geometry'::regtype \
           AND a.attnum > 0 AND NOT a.attisdropped \
         GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        storage,
        [
            ("bus_routes".to_owned(), 5, 5),
            ("bus_stops".to_owned(), 2, 2),
            ("wards_2019".to_owned(), 5, 5)
        ]
    );

    for table in ["wards_2019", "bus_routes"] {
        for zoom in [5_i32, 8, 10] {
            let (dropped, against_rule, total): (i64, i64, i64) =
                sqlx::query_as(&RULE_CHECK.replace("%TABLE%", table))
                    .bind(zoom)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            assert_eq!(against_rule, 0, "{table} z{zoom}");
            if (table, zoom) == ("wards_2019", 5) {
                // Inner-city wards are narrower than a z5 pixel (~2.4 km), outer ones wider:
                // both branches of the rule are exercised.
                assert!(0 < dropped && dropped < total, "{dropped} of {total}");
            }
        }
    }

    // Points are only projected, at every zoom.
    let (points, wrong): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE ST_AsBinary(bando.generalize(geom, 5)) \
                IS DISTINCT FROM ST_AsBinary(ST_Transform(geom, 3857))) FROM layers.bus_stops",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((points > 4000, wrong), (true, 0));

    // Beyond Mercator's latitude limit the geometry is clipped, and NULL stays NULL.
    let (north, null_mercator, null_general): (f64, bool, bool) = sqlx::query_as(
        "SELECT ST_YMax(bando.to_web_mercator('SRID=4326;POLYGON((0 80,10 80,10 89,0 89,0 80))')), \
                bando.to_web_mercator(NULL) IS NULL, bando.generalize(NULL, 5) IS NULL",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!((north - 20_037_508.342_789).abs() < 1.0, "{north}");
    assert!(null_mercator && null_general);
}
