//! `GET /v1/changes`, the feed CDN purge jobs and offline packs read: each change lists the tiles
//! it touched per tileset and zoom, the cursor never skips a change that commits late, and only
//! layers the caller may see are listed. A change is listed once every transaction older than it
//! has ended — anywhere in the cluster, so other tests' transactions may delay it: the tests wait
//! for what must appear, with a deadline.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use axum::http::StatusCode;
use bando_core::testing::TestDatabase;
use bando_core::tile::TileCoord;
use common::get_json;
use serde_json::Value;
use tile_server::AppState;

/// Bến Thành market (in ward 26743), WGS84.
const MARKET: (f64, f64) = (106.6981, 10.7725);

async fn setup() -> (TestDatabase, AppState) {
    common::serving_shared(
        "hcmc-wards-2025/79_ho_chi_minh/wards/26743_ben_thanh.geojson",
        "wards_2025",
    )
    .await
}

async fn rename(db: &TestDatabase, name: &str) {
    sqlx::query("UPDATE layers.wards_2025 SET name = $1 WHERE code = '26743'")
        .bind(name)
        .execute(&db.pool)
        .await
        .unwrap();
}

/// The layer's revision now.
async fn revision(db: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT revision FROM bando.layers WHERE slug = 'wards_2025'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// Reads the feed from `since` until it lists `count` changes of the layer above revision
/// `after` (at most 10 s); returns those changes and the cursor after them.
async fn until_listed(state: &AppState, since: i64, after: i64, count: usize) -> (Vec<Value>, i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut listed = Vec::new();
    let mut cursor = since;
    loop {
        let (changes, next) = page(state, cursor).await;
        listed.extend(
            changes
                .into_iter()
                .filter(|c| c["revision"].as_i64().unwrap() > after),
        );
        cursor = next;
        if listed.len() >= count {
            return (listed, cursor);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{count} changes not listed in 10 s: {listed:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The feed from `since`: its changes (of wards_2025) and the next cursor.
async fn page(state: &AppState, since: i64) -> (Vec<Value>, i64) {
    let (status, body) = get_json(state, &format!("/v1/changes?since={since}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changes = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["layer"] == "wards_2025")
        .cloned()
        .collect();
    (changes, body["next"].as_i64().unwrap())
}

#[tokio::test]
async fn an_edit_lists_the_tiles_it_touched_per_tileset_and_zoom() {
    let (db, state) = setup().await;
    let imported = revision(&db).await;
    rename(&db, "Phường Chợ Bến Thành").await;
    let (changes, next) = until_listed(&state, 0, imported, 1).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert_eq!(change["revision"], revision(&db).await);
    let tilesets: Vec<&str> = change["tilesets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tileset"].as_str().unwrap())
        .collect();
    assert_eq!(tilesets, ["wards_2025", "basemap"]);
    // The market's z14 tile is in the layer's z14 range.
    let market = TileCoord::containing(MARKET.0, MARKET.1, 14).unwrap();
    let z14 = change["tilesets"][0]["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["z"] == 14)
        .unwrap();
    let within = |axis: &str, v: u32| {
        let [a, b] = [
            z14[axis][0].as_u64().unwrap(),
            z14[axis][1].as_u64().unwrap(),
        ];
        (a..=b).contains(&u64::from(v))
    };
    assert!(within("x", market.x) && within("y", market.y), "{z14}");
    // A ward is a few kilometres wide: a handful of z14 tiles, not the city.
    assert!(z14["x"][1].as_u64().unwrap() - z14["x"][0].as_u64().unwrap() <= 2);
    // Read up to here: not listed again.
    let (after, _) = page(&state, next).await;
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn a_change_that_commits_late_is_never_skipped() {
    let (db, state) = setup().await;
    let imported = revision(&db).await;
    let (_, start) = until_listed(&state, 0, imported - 1, 1).await;
    // An edit starts, and commits only after a later one has.
    let mut slow = db.pool.begin().await.unwrap();
    sqlx::query("UPDATE layers.wards_2025 SET nameen = 'Ben Thanh (slow)' WHERE code = '26743'")
        .execute(&mut *slow)
        .await
        .unwrap();
    let other = fresh_connection_edit(&db).await;
    let (seen, next) = page(&state, start).await;
    // The later edit waits behind the running one: a cursor past it would skip the slow one.
    assert!(
        seen.is_empty(),
        "listed before the earlier transaction ended: {seen:?}"
    );
    slow.commit().await.unwrap();
    other.await.unwrap();
    let (seen, _) = until_listed(&state, next, imported, 2).await;
    assert_eq!(seen.len(), 2, "both edits, once each: {seen:?}");
}

/// Renames the ward's English name on another connection once the running edit lets it (the
/// row is locked by it): returns the task.
async fn fresh_connection_edit(db: &TestDatabase) -> tokio::task::JoinHandle<()> {
    let pool = db.pool.clone();
    let task = tokio::spawn(async move {
        // Another ward row would not wait; the catalog row of the layer does (both edits bump
        // its revision), so this commits after the slow one.
        sqlx::query("UPDATE layers.wards_2025 SET fullnameen = 'later' WHERE code = '26743'")
            .execute(&pool)
            .await
            .unwrap();
    });
    // Let it reach its lock wait (it cannot finish before the slow transaction does).
    let mut waited = 0;
    while waited < 200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%fullnameen%'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    task
}

#[tokio::test]
async fn changes_of_layers_the_caller_may_not_see_are_not_listed() {
    let (db, state) = setup().await;
    let imported = revision(&db).await;
    rename(&db, "Phường Chợ Bến Thành").await;
    // Listed while the layer is public…
    until_listed(&state, 0, imported, 1).await;
    sqlx::query("UPDATE bando.layers SET visibility = 'private' WHERE slug = 'wards_2025'")
        .execute(&db.pool)
        .await
        .unwrap();
    state.catalog.refresh().await.unwrap();
    // …and no longer, to anyone who may not see it now.
    let (seen, _) = page(&state, 0).await;
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn a_malformed_cursor_or_limit_is_refused_naming_it() {
    let (_db, state) = setup().await;
    for (query, field) in [
        ("since=-1", "since"),
        ("since=x", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
    ] {
        let (status, body) = get_json(&state, &format!("/v1/changes?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["invalid-params"][0]["name"], field, "{query}: {body}");
    }
}
