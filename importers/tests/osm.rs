//! OSM extracts become the base-map theme layers, with classes the style keys on.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::path::PathBuf;
use std::sync::Arc;

use bando_core::testing::fresh_database;
use bando_importers::ImportRequest;
use bando_importers::osm::import_osm;

#[tokio::test]
async fn an_osm_extract_becomes_base_map_layers() {
    let db = fresh_database().await;
    // A small extract around Bến Thành that the project generates (data/fixtures/README.md).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/fixtures/ben-thanh.osm");
    let request = ImportRequest {
        path,
        layer: "osm".to_owned(),
        ..ImportRequest::default()
    };
    let results = import_osm(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
    assert_eq!(results.len(), 8);
    assert!(results.iter().all(|r| r.outcome.is_some()), "{results:?}");

    let named = |name: &str, class: &str| (Some(name.to_owned()), class.to_owned());
    assert_eq!(
        rows(
            &db,
            "SELECT name, class FROM layers.osm_roads ORDER BY name"
        )
        .await,
        [
            named("Lê Lợi", "primary"),
            named("Nguyễn Thái Bình", "minor"),
            (None, "path".to_owned())
        ]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT name, category FROM layers.osm_pois ORDER BY name"
        )
        .await,
        [
            named("Bệnh viện Chợ Rẫy", "health"),
            named("Siêu thị Bến Thành", "shopping"),
            named("Trường THPT Bùi Thị Xuân", "education"),
            named("Trạm xe buýt Bến Thành", "transport"),
        ]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT name, class FROM layers.osm_landuse ORDER BY class"
        )
        .await,
        [
            named("Công viên Tao Đàn", "park"),
            (None, "residential".to_owned())
        ]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT name, class FROM layers.osm_places ORDER BY name"
        )
        .await,
        [named("Bến Thành", "quarter"), named("Sài Gòn", "suburb")]
    );
    assert_eq!(
        rows(&db, "SELECT name, class FROM layers.osm_water").await,
        [named("Hồ Con Rùa", "water")]
    );
    assert_eq!(
        rows(&db, "SELECT name, class FROM layers.osm_waterways").await,
        [named("Sông Sài Gòn", "river")]
    );
    assert_eq!(
        rows(&db, "SELECT name, class FROM layers.osm_railways").await,
        [named("Đường sắt Bắc Nam", "rail")]
    );
    assert_eq!(
        rows(&db, "SELECT name, class FROM layers.osm_buildings").await,
        [named("Chợ Bến Thành", "retail")]
    );

    let (minzoom, attribution): (i16, String) = sqlx::query_as(
        "SELECT minzoom, attribution FROM bando.layers WHERE slug = 'osm_buildings'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(minzoom, 13);
    assert!(attribution.contains("OpenStreetMap"));
}

async fn rows(db: &bando_core::testing::TestDatabase, sql: &str) -> Vec<(Option<String>, String)> {
    sqlx::query_as(sql).fetch_all(&db.pool).await.unwrap()
}
