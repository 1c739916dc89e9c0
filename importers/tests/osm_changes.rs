//! OSM change files applied to the themes of the real HCMC extract: a road moved, a canal renamed,
//! a building deleted, a POI created — each theme patched in place, servers told exactly where —
//! and bad change files refused or reported without touching anything.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bando_core::notify::{PUBLISH_CHANNEL, PublishNotice};
use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::osm::{apply_changes, import_osm};
use bando_importers::{ImportError, ImportRequest};
use sqlx::postgres::PgListener;

fn request(path: PathBuf) -> ImportRequest {
    ImportRequest {
        path,
        layer: "osm".to_owned(),
        ..ImportRequest::default()
    }
}

async fn versions(db: &TestDatabase) -> Vec<(String, i32, i64)> {
    sqlx::query_as("SELECT slug, version, feature_count FROM bando.layers ORDER BY slug")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

fn version_of(versions: &[(String, i32, i64)], slug: &str) -> (i32, i64) {
    versions
        .iter()
        .find(|(s, _, _)| s == slug)
        .map(|(_, v, n)| (*v, *n))
        .unwrap()
}

/// A stored way: `(version, node ids, tags)`.
async fn way(db: &TestDatabase, id: i64) -> (i32, Vec<i64>, Vec<(String, String)>) {
    let (version, nodes, tags): (
        i32,
        Vec<i64>,
        sqlx::types::Json<std::collections::BTreeMap<String, String>>,
    ) = sqlx::query_as("SELECT version, nodes, tags FROM osm_middle.osm_ways WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    (version, nodes, tags.0.into_iter().collect())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn tags_xml(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| format!(r#"<tag k="{}" v="{}"/>"#, escape(k), escape(v)))
        .collect()
}

fn way_xml(id: i64, version: i32, nodes: &[i64], tags: &[(String, String)]) -> String {
    let nds: String = nodes
        .iter()
        .map(|n| format!(r#"<nd ref="{n}"/>"#))
        .collect();
    format!(
        r#"<way id="{id}" version="{version}" timestamp="2018-02-01T00:00:00Z">{nds}{}</way>"#,
        tags_xml(tags)
    )
}

fn osc(path: &Path, body: &str) {
    std::fs::write(
        path,
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><osmChange version="0.6" generator="test">{body}</osmChange>"#),
    )
    .unwrap();
}

#[tokio::test]
async fn a_change_file_patches_exactly_the_objects_it_touches() {
    let db = fresh_database().await;
    let extract = shared_data().join("hcmc-osm-2018/hcm_2018.osm.pbf");
    import_osm(&db.pool, &request(extract), Arc::new(|_, _| {}))
        .await
        .unwrap();
    let before = versions(&db).await;
    let dir = tempfile::tempdir().unwrap();

    // A named primary road; one of its inner nodes moves ~55 m north.
    let (road_id, road_fid): (i64, i64) = sqlx::query_as(
        "SELECT osm_id, fid FROM layers.osm_roads WHERE osm_type = 'w' AND class = 'primary' \
         AND name IS NOT NULL ORDER BY osm_id LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let (_, road_nodes, _) = way(&db, road_id).await;
    let moved = road_nodes[road_nodes.len() / 2];
    let (node_version, lon, lat): (i32, i32, i32) =
        sqlx::query_as("SELECT version, lon, lat FROM osm_middle.osm_nodes WHERE id = $1")
            .bind(moved)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let (old_lon, old_lat) = (f64::from(lon) / 1e7, f64::from(lat) / 1e7);
    let new_lat = old_lat + 0.0005;

    // A canal renamed.
    let canal_id: i64 = sqlx::query_scalar(
        "SELECT osm_id FROM layers.osm_waterways WHERE name = 'Kênh Tàu Hủ' LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let (canal_version, canal_nodes, canal_tags) = way(&db, canal_id).await;
    let renamed: Vec<(String, String)> = canal_tags
        .into_iter()
        .map(|(k, v)| {
            if k == "name" {
                (k, "Kênh Tàu Hủ Mới".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();

    // A building deleted.
    let (building_id, building_fid): (i64, i64) = sqlx::query_as(
        "SELECT osm_id, fid FROM layers.osm_buildings WHERE osm_type = 'w' ORDER BY osm_id LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let (building_version, _, _) = way(&db, building_id).await;

    let path = dir.path().join("edits.osc");
    osc(
        &path,
        &format!(
            r#"<modify><node id="{moved}" version="{}" timestamp="2018-02-01T00:00:00Z" lat="{new_lat:.7}" lon="{old_lon:.7}"/>
               {}</modify>
               <delete><way id="{building_id}" version="{}" timestamp="2018-02-01T00:00:00Z"/></delete>
               <create><node id="9000000001" version="1" timestamp="2018-02-01T00:00:00Z" lat="10.7769" lon="106.7009">
                 <tag k="amenity" v="hospital"/><tag k="name" v="Bệnh viện Thử Nghiệm"/></node></create>"#,
            node_version + 1,
            way_xml(canal_id, canal_version + 1, &canal_nodes, &renamed),
            building_version + 1,
        ),
    );

    let mut listener = PgListener::connect_with(&db.pool).await.unwrap();
    listener.listen(PUBLISH_CHANNEL).await.unwrap();
    let outcome = apply_changes(&db.pool, &request(path.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.applied, 4, "{outcome:?}");
    let after = versions(&db).await;

    // Each touched theme is one version further; the rest did not move.
    for slug in ["osm_roads", "osm_waterways", "osm_buildings", "osm_pois"] {
        assert_eq!(
            version_of(&after, slug).0,
            version_of(&before, slug).0 + 1,
            "{slug}"
        );
    }
    for slug in ["osm_railways", "osm_places"] {
        assert_eq!(
            version_of(&after, slug),
            version_of(&before, slug),
            "{slug}"
        );
    }
    assert_eq!(
        version_of(&after, "osm_buildings").1,
        version_of(&before, "osm_buildings").1 - 1
    );
    assert_eq!(
        version_of(&after, "osm_pois").1,
        version_of(&before, "osm_pois").1 + 1
    );

    // The road passes through the node's new place, under the same feature id.
    let through: bool = sqlx::query_scalar(
        "SELECT ST_DWithin(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326), 1e-9) \
         FROM layers.osm_roads WHERE fid = $1",
    )
    .bind(road_fid)
    .bind(old_lon)
    .bind(new_lat)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(through);
    let renamed_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM layers.osm_waterways WHERE osm_id = $1 AND name = 'Kênh Tàu Hủ Mới'",
    )
    .bind(canal_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(renamed_rows, 1);
    let searchable: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bando.search_names WHERE name = 'Kênh Tàu Hủ Mới'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(searchable, 1, "the new name is searchable");
    let building_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM layers.osm_buildings WHERE fid = $1")
            .bind(building_fid)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(building_left, 0);
    let hospital: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM layers.osm_pois WHERE name = 'Bệnh viện Thử Nghiệm' AND category = 'health'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(hospital, 1);

    // Servers are told the boxes around the edits, not the city (the publish's notice; the
    // table's edit triggers announce the same rows too).
    let roads_version = version_of(&after, "osm_roads").0;
    let mut roads_notice = None;
    while roads_notice.is_none() {
        let notification = listener.recv().await.unwrap();
        let notice: PublishNotice = serde_json::from_str(notification.payload()).unwrap();
        if notice.layer == "osm_roads" && notice.version == roads_version {
            roads_notice = Some(notice);
        }
    }
    let notice = roads_notice.unwrap();
    assert!(!notice.areas.is_empty(), "{notice:?}");
    for [w, s, e, n] in &notice.areas {
        assert!(e - w < 0.05 && n - s < 0.05, "{:?}", notice.areas);
    }
    assert!(
        notice
            .areas
            .iter()
            .any(|[w, s, e, n]| *w <= old_lon && old_lon <= *e && *s <= new_lat && new_lat <= *n),
        "{:?} misses the moved node",
        notice.areas
    );

    // The job says what it did.
    let (status, report): (String, serde_json::Value) =
        sqlx::query_as("SELECT status::text, report FROM bando.import_jobs WHERE id = $1")
            .bind(outcome.job_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(status, "succeeded");
    assert_eq!(report["applied"], 4);
    assert!(report["themes"]["osm_roads"]["version"].is_number());

    // The same file again is older than the data: refused, nothing changes.
    let error = apply_changes(&db.pool, &request(path)).await.unwrap_err();
    assert!(error.to_string().contains("older than the data"), "{error}");
    assert_eq!(versions(&db).await, after);

    // Objects the data never had: a reported no-op (gzipped, as replication serves them).
    let gz = dir.path().join("elsewhere.osc.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(
            br#"<osmChange version="0.6"><modify><node id="99999999999" version="3" lat="48.85" lon="2.35"/></modify>
                <delete><way id="99999999998" version="2"/></delete></osmChange>"#,
        )
        .unwrap();
    encoder.finish().unwrap();
    let noop = apply_changes(&db.pool, &request(gz)).await.unwrap();
    assert_eq!((noop.applied, noop.not_in_data), (0, 2), "{noop:?}");
    assert!(noop.themes.is_empty());
    assert_eq!(versions(&db).await, after);

    // A truncated file: refused, nothing changes.
    let cut = dir.path().join("cut.osc");
    std::fs::write(
        &cut,
        r#"<osmChange version="0.6"><modify><node id="1" version="9" lat="10.7" lon="106.7"><tag k="name" "#,
    )
    .unwrap();
    let error = apply_changes(&db.pool, &request(cut)).await.unwrap_err();
    assert!(matches!(error, ImportError::Unreadable { .. }), "{error}");
    assert_eq!(versions(&db).await, after);
    assert_eq!(common::staging_tables(&db).await, 0);
}

#[tokio::test]
async fn a_change_file_for_an_extract_never_imported_is_refused() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.osc");
    osc(
        &path,
        r#"<create><node id="1" version="1" lat="10.7" lon="106.7"/></create>"#,
    );
    let error = apply_changes(&db.pool, &request(path)).await.unwrap_err();
    assert!(error.to_string().contains("no OSM extract"), "{error}");
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bando.import_jobs WHERE status = 'failed' AND mode = 'osc'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(failed, 1);
}
