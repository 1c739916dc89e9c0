//! Precise tile-cache invalidation: a change announced by an importer's publish or by the edit
//! trigger on a layer table drops exactly the cached tiles over the change (the layer's and the
//! base map's), and untouched tiles stay cached. The announcements are read from PostgreSQL's
//! real `LISTEN` and applied the way the server's listener does.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use bando_core::notify::{PUBLISH_CHANNEL, PublishNotice};
use bando_core::testing::{TestDatabase, fresh_database, mvt, shared_data};
use bando_core::tile::TileCoord;
use bando_importers::ImportRequest;
use common::get_raw;
use sqlx::postgres::PgListener;
use tile_server::{AppState, Config, publish_listener};

/// Bến Thành market (in ward 26743), WGS84.
const MARKET: (f64, f64) = (106.6981, 10.7725);
/// Thủ Dầu Một (ward 25747), 25 km north.
const THU_DAU_MOT: (f64, f64) = (106.6643, 10.9682);

/// A GeoJSON collection of two 2025 wards, with Bến Thành's name replaced by `ben_thanh_name`.
fn two_wards(dir: &std::path::Path, ben_thanh_name: &str) -> std::path::PathBuf {
    let wards = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards");
    let mut features = Vec::new();
    for file in ["26743_ben_thanh.geojson", "25747_thu_dau_mot.geojson"] {
        let text = std::fs::read_to_string(wards.join(file)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut list = match value["type"].as_str() {
            Some("FeatureCollection") => value["features"].as_array().unwrap().clone(),
            _ => vec![value],
        };
        for f in &mut list {
            if f["properties"]["code"] == "26743" {
                f["properties"]["name"] = ben_thanh_name.into();
            }
        }
        features.extend(list);
    }
    let path = dir.join("wards.geojson");
    std::fs::write(
        &path,
        serde_json::json!({ "type": "FeatureCollection", "features": features }).to_string(),
    )
    .unwrap();
    path
}

async fn publish(db: &TestDatabase, path: std::path::PathBuf) {
    let request = ImportRequest {
        path,
        layer: "wards_2025".to_owned(),
        force: true,
        ..ImportRequest::default()
    };
    bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

struct Setup {
    db: TestDatabase,
    state: AppState,
    listener: PgListener,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    publish(&db, two_wards(dir.path(), "Bến Thành")).await;
    let state = AppState::new(db.pool.clone(), Config::default());
    state.catalog.refresh().await.unwrap();
    let mut listener = PgListener::connect_with(&db.pool).await.unwrap();
    listener.listen(PUBLISH_CHANNEL).await.unwrap();
    Setup {
        db,
        state,
        listener,
        dir,
    }
}

impl Setup {
    /// Receives the next announcement and applies it as the server's listener does.
    async fn apply_next_notice(&mut self) -> PublishNotice {
        let notification = self.listener.recv().await.unwrap();
        let notice: PublishNotice = serde_json::from_str(notification.payload()).unwrap();
        publish_listener::apply(&self.state, &notice).await;
        notice
    }

    /// Requests a tile; returns whether it was a cache hit and the ward names it draws.
    async fn fetch(&self, tileset: &str, t: TileCoord) -> (bool, Vec<String>) {
        let response = get_raw(&self.state, &format!("/tiles/{tileset}/{t}.mvt"), &[]).await;
        assert_eq!(response.status, StatusCode::OK, "{tileset} {t}");
        let layer_name = if tileset == "basemap" {
            "boundary"
        } else {
            tileset
        };
        let names = mvt::decode(&response.body)
            .into_iter()
            .filter(|l| l.name == layer_name)
            .flat_map(|l| l.features)
            .filter_map(|f| f.properties.get("name")?.as_str().map(str::to_owned))
            .collect();
        (response.header("x-tile-cache") == "hit", names)
    }
}

fn tile_at((lon, lat): (f64, f64), z: u8) -> TileCoord {
    TileCoord::containing(lon, lat, z).unwrap()
}

/// Warms the tiles over both wards in the layer and the base map; returns them.
async fn warm(s: &Setup) -> Vec<(&'static str, TileCoord)> {
    let tiles = vec![
        ("wards_2025", tile_at(MARKET, 14)),
        ("wards_2025", tile_at(THU_DAU_MOT, 14)),
        ("basemap", tile_at(MARKET, 14)),
        ("basemap", tile_at(THU_DAU_MOT, 14)),
    ];
    for (tileset, t) in &tiles {
        let (hit, _) = s.fetch(tileset, *t).await;
        assert!(!hit);
        let (hit, _) = s.fetch(tileset, *t).await;
        assert!(hit, "{tileset} {t} not cached");
    }
    tiles
}

#[tokio::test]
async fn sql_edit_refreshes_the_tiles_over_it_and_keeps_the_others() {
    let mut s = setup().await;
    let tiles = warm(&s).await;
    let revision_before = s
        .state
        .catalog
        .layer("wards_2025", &bando_core::access::Viewer::ANONYMOUS)
        .unwrap()
        .revision;

    sqlx::query("UPDATE layers.wards_2025 SET name = 'Phường Chợ Bến Thành' WHERE code = '26743'")
        .execute(&s.db.pool)
        .await
        .unwrap();
    let notice = s.apply_next_notice().await;
    assert_eq!(notice.layer, "wards_2025");
    let [w, south, e, n] = notice.bounds.unwrap();
    assert!(w < MARKET.0 && MARKET.0 < e && south < MARKET.1 && MARKET.1 < n);
    assert!(
        n < THU_DAU_MOT.1,
        "the edit's extent is the edited ward's only"
    );

    for (tileset, t) in &tiles[..] {
        let (hit, names) = s.fetch(tileset, *t).await;
        if t.y == tile_at(MARKET, 14).y {
            assert!(!hit, "{tileset} {t} served stale");
            assert!(
                names.contains(&"Phường Chợ Bến Thành".to_owned()),
                "{names:?}"
            );
        } else {
            assert!(hit, "{tileset} {t} dropped although untouched");
        }
    }
    // The revision in tile URLs moved, so clients caching them as immutable refetch.
    let revision_after = s
        .state
        .catalog
        .layer("wards_2025", &bando_core::access::Viewer::ANONYMOUS)
        .unwrap()
        .revision;
    assert!(revision_after > revision_before);
}

#[tokio::test]
async fn republish_drops_only_the_tiles_of_changed_features() {
    let mut s = setup().await;
    let tiles = warm(&s).await;
    publish(&s.db, two_wards(s.dir.path(), "Phường Bến Thành (mới)")).await;
    let notice = s.apply_next_notice().await;
    assert!(!notice.unchanged);
    let [_, _, _, n] = notice.bounds.unwrap();
    assert!(
        n < THU_DAU_MOT.1,
        "only the changed ward's extent: {notice:?}"
    );
    for (tileset, t) in &tiles {
        let (hit, names) = s.fetch(tileset, *t).await;
        if t.y == tile_at(MARKET, 14).y {
            assert!(!hit);
            assert!(names.iter().any(|n| n.contains("(mới)")), "{names:?}");
        } else {
            assert!(hit, "{tileset} {t} dropped although untouched");
        }
    }

    // Publishing the same data again changes nothing: every tile stays cached.
    publish(&s.db, two_wards(s.dir.path(), "Phường Bến Thành (mới)")).await;
    let notice = s.apply_next_notice().await;
    assert!(notice.unchanged, "{notice:?}");
    for (tileset, t) in &tiles {
        assert!(s.fetch(tileset, *t).await.0, "{tileset} {t} dropped");
    }
}

/// The named street inside tile `t` with the shortest line (so it stays inside the tile):
/// `(osm way id, name)`.
async fn short_street_in(db: &TestDatabase, t: TileCoord) -> (i64, String) {
    sqlx::query_as(
        "SELECT osm_id, name FROM layers.osm_roads WHERE osm_type = 'w' AND name IS NOT NULL \
         AND ST_Within(geom_3857, ST_TileEnvelope($1, $2, $3, margin => -0.1)) \
         ORDER BY ST_Length(geom_3857), osm_id LIMIT 1",
    )
    .bind(i32::from(t.z))
    .bind(i32::try_from(t.x).unwrap())
    .bind(i32::try_from(t.y).unwrap())
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// An OSM change file renaming two streets 7 km apart drops the base-map tiles over each and
/// keeps the tiles between them cached: the notice lists one box per edit, not their union.
#[tokio::test]
async fn an_osm_change_file_drops_the_tiles_at_each_edit_and_not_between() {
    let mut s = setup().await;
    bando_importers::osm::import_osm(
        &s.db.pool,
        &ImportRequest {
            path: shared_data().join("hcmc-osm-2018/hcm_2018.osm.pbf"),
            layer: "osm".to_owned(),
            ..ImportRequest::default()
        },
        Arc::new(|_, _| {}),
    )
    .await
    .unwrap();
    while s.apply_next_notice().await.layer != "osm_places" {}
    let phu_my_hung = (106.718, 10.728);
    let between = (106.708, 10.750);
    let (at_market, at_pmh, at_between) = (
        tile_at(MARKET, 15),
        tile_at(phu_my_hung, 15),
        tile_at(between, 15),
    );
    let mut edits = String::new();
    for t in [at_market, at_pmh] {
        let (way, name) = short_street_in(&s.db, t).await;
        let (version, nodes, tags): (
            i32,
            Vec<i64>,
            sqlx::types::Json<std::collections::BTreeMap<String, String>>,
        ) = sqlx::query_as("SELECT version, nodes, tags FROM osm_middle.osm_ways WHERE id = $1")
            .bind(way)
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
        let nds: String = nodes
            .iter()
            .map(|n| format!(r#"<nd ref="{n}"/>"#))
            .collect();
        let tags: String = tags
            .0
            .iter()
            .map(|(k, v)| {
                let v = if k == "name" {
                    format!("{name} (mới)")
                } else {
                    v.clone()
                };
                format!(
                    r#"<tag k="{k}" v="{}"/>"#,
                    v.replace('&', "&amp;").replace('"', "&quot;")
                )
            })
            .collect();
        edits.push_str(&format!(
            r#"<way id="{way}" version="{}">{nds}{tags}</way>"#,
            version + 1
        ));
    }
    for t in [at_market, at_pmh, at_between] {
        assert!(!s.fetch("basemap", t).await.0);
        assert!(s.fetch("basemap", t).await.0, "{t} not cached");
    }

    let osc = s.dir.path().join("renames.osc");
    std::fs::write(
        &osc,
        format!(r#"<osmChange version="0.6"><modify>{edits}</modify></osmChange>"#),
    )
    .unwrap();
    let outcome = bando_importers::osm::apply_changes(
        &s.db.pool,
        &ImportRequest {
            path: osc,
            layer: "osm".to_owned(),
            ..ImportRequest::default()
        },
    )
    .await
    .unwrap();
    let roads = outcome
        .themes
        .iter()
        .find(|t| t.layer == "osm_roads")
        .unwrap();
    // The publish's notice (the table's edit triggers announce the same rows before it).
    loop {
        let notice = s.apply_next_notice().await;
        if notice.layer == "osm_roads" && Some(notice.version) == roads.version {
            assert_eq!(notice.areas.len(), 2, "{notice:?}");
            break;
        }
    }
    for t in [at_market, at_pmh] {
        let (hit, _) = s.fetch("basemap", t).await;
        assert!(!hit, "{t} served stale");
    }
    assert!(
        s.fetch("basemap", at_between).await.0,
        "{at_between} dropped although untouched"
    );
}

/// What a server runs after its `LISTEN` connection comes back: the changes announced meanwhile
/// are read from the change log, and exactly their tiles are dropped — not the whole layer's.
#[tokio::test]
async fn notifications_missed_while_disconnected_are_caught_up_exactly() {
    let s = setup().await;
    // What the server does at start: read the change log so far.
    publish_listener::refresh(&s.state).await;
    let tiles = warm(&s).await;
    sqlx::query("UPDATE layers.wards_2025 SET name = 'Phường Chợ Bến Thành' WHERE code = '26743'")
        .execute(&s.db.pool)
        .await
        .unwrap();
    // The notice is never applied: the connection that would have carried it was down.
    publish_listener::refresh(&s.state).await;
    for (tileset, t) in &tiles {
        let (hit, names) = s.fetch(tileset, *t).await;
        if t.y == tile_at(MARKET, 14).y {
            assert!(!hit, "{tileset} {t} served stale after the catch-up");
            assert!(
                names.contains(&"Phường Chợ Bến Thành".to_owned()),
                "{names:?}"
            );
        } else {
            assert!(hit, "{tileset} {t} dropped although untouched");
        }
    }
}

/// A catalog reload that reads a newer revision than the notice being applied (a second edit
/// committed meanwhile) first reads that edit's change: no tile is served as current at the
/// newer revision while showing the older edit.
#[tokio::test]
async fn a_catalog_read_ahead_of_its_notices_reads_their_changes_first() {
    let mut s = setup().await;
    publish_listener::refresh(&s.state).await;
    warm(&s).await;
    for name in ["Bến Thành 1", "Bến Thành 2"] {
        sqlx::query("UPDATE layers.wards_2025 SET name = $1 WHERE code = '26743'")
            .bind(name)
            .execute(&s.db.pool)
            .await
            .unwrap();
    }
    // Only the first edit's notice is applied; its catalog reload sees the second revision.
    s.apply_next_notice().await;
    let (_, names) = s.fetch("wards_2025", tile_at(MARKET, 14)).await;
    assert!(names.contains(&"Bến Thành 2".to_owned()), "{names:?}");
    // The tile served now is current at the catalog's revision, so a second request is a hit
    // with the same content.
    let (hit, again) = s.fetch("wards_2025", tile_at(MARKET, 14)).await;
    assert!(hit && again == names);
}
