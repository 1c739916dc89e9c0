//! A layer retired through one server leaves every surface of every server at once — catalog,
//! its tiles and the base map's, OGC, search, ward lookups, nearest — and the `layers` schema;
//! restored through the other, it answers everywhere again, as it was; purged, it is gone for
//! good. Each step is in the audit log; an agency cannot retire or restore another's layer.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::time::Duration;

use bando_core::api_key::Scope;
use bando_core::audit::Actor;
use bando_core::testing::{agency_key, fresh_database, mvt};
use bando_e2e::{RunningServer, import_shared};
use bando_importers::ImportRequest;
use reqwest::StatusCode;
use serde_json::Value;

/// Bến Thành market.
const BEN_THANH: &str = "lon=106.698&lat=10.772";
/// The base map tile over it, drawing the 2025 wards in its `boundary` layer.
const BASEMAP_TILE: &str = "/tiles/basemap/14/13047/7698.mvt";

async fn call(
    server: &RunningServer,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .request(method, format!("{}{path}", server.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &RunningServer, path: &str) -> (StatusCode, Value) {
    call(server, reqwest::Method::GET, path, None).await
}

/// Ward boundary features in the base map tile over Bến Thành.
async fn basemap_wards(server: &RunningServer) -> usize {
    let response = server.get(BASEMAP_TILE).await;
    if response.status() == StatusCode::NO_CONTENT {
        return 0;
    }
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.unwrap();
    mvt::decode(&bytes)
        .iter()
        .filter(|l| l.name == "boundary")
        .flat_map(|l| &l.features)
        .filter(|f| f.properties.get("admin_level") == Some(&Value::from("ward")))
        .count()
}

/// Whether `server` lists `layer` in its catalog.
async fn in_catalog(server: &RunningServer, layer: &str) -> bool {
    let (status, catalog) = get(server, "/catalog").await;
    assert_eq!(status, StatusCode::OK);
    catalog.as_array().unwrap().iter().any(|l| l["id"] == layer)
}

/// Waits for `server` to learn (by notification) whether `layer` is live.
async fn becomes(server: &RunningServer, layer: &str, live: bool) {
    let mut interval = tokio::time::interval(Duration::from_millis(50));
    for _ in 0..200 {
        interval.tick().await;
        if in_catalog(server, layer).await == live {
            return;
        }
    }
    panic!(
        "{} never saw {layer} {}",
        server.base,
        if live { "live" } else { "gone" }
    );
}

/// Every surface that answers with the wards or the heritage sites.
async fn answers(server: &RunningServer) -> [StatusCode; 6] {
    [
        get(server, &format!("/v1/wards?{BEN_THANH}")).await.0,
        server
            .get("/tiles/wards_2025/14/13047/7698.mvt")
            .await
            .status(),
        get(server, "/ogc/collections/wards_2025/items?limit=1")
            .await
            .0,
        get(server, "/tiles/wards_2025.json").await.0,
        get(server, &format!("/v1/layers/heritage/nearest?{BEN_THANH}"))
            .await
            .0,
        get(server, "/ogc/collections/heritage").await.0,
    ]
}

async fn search_finds_wards(server: &RunningServer) -> bool {
    let (status, found) = get(server, "/v1/search?q=ben%20thanh").await;
    assert_eq!(status, StatusCode::OK);
    found
        .as_array()
        .unwrap()
        .iter()
        .any(|hit| hit["layer"] == "wards_2025")
}

#[tokio::test]
async fn retired_layers_leave_every_surface_and_come_back_as_they_were() {
    let db = fresh_database().await;
    let admin = agency_key(&db.pool, "hcmc", "Thành phố Hồ Chí Minh", &[Scope::Admin]).await;
    let city_reader = agency_key(&db.pool, "hcmc", "Thành phố Hồ Chí Minh", &[Scope::Read]).await;
    let health = agency_key(
        &db.pool,
        "health",
        "Sở Y tế",
        &[Scope::Read, Scope::Publish],
    )
    .await;
    import_shared(
        &db.pool,
        "hcmc-wards-2025/79_ho_chi_minh/wards",
        ImportRequest {
            layer: "wards_2025".to_owned(),
            admin_level: Some("ward".to_owned()),
            layout: Some("2025".to_owned()),
            valid_from: Some("2025-07-01".parse().unwrap()),
            ..ImportRequest::default()
        },
    )
    .await;
    import_shared(
        &db.pool,
        "hcmgis-vn2000/DiTich.shp",
        ImportRequest {
            layer: "heritage".to_owned(),
            ..ImportRequest::default()
        },
    )
    .await;
    let a = RunningServer::start(db.clone()).await;
    let b = RunningServer::start(db.clone()).await;
    let all_ok = [StatusCode::OK; 6];
    for server in [&a, &b] {
        assert_eq!(answers(server).await, all_ok);
        assert!(search_finds_wards(server).await);
    }
    // Cached on B before the retirement: B must drop it on A's notification.
    let wards_drawn = basemap_wards(&b).await;
    assert!(wards_drawn > 0);

    // Not another agency's to retire, and not a read key's.
    let delete = reqwest::Method::DELETE;
    let (status, _) = call(&a, delete.clone(), "/v1/layers/wards_2025", Some(&health)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &a,
        delete.clone(),
        "/v1/layers/wards_2025",
        Some(&city_reader),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    for layer in ["wards_2025", "heritage"] {
        let (status, retired) = call(
            &a,
            delete.clone(),
            &format!("/v1/layers/{layer}"),
            Some(&admin),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{retired}");
        assert_eq!(retired["layer"], layer);
        assert!(retired["purge_after"].is_string(), "{retired}");
    }
    // A answers from its next request; B once the notification arrives.
    becomes(&b, "wards_2025", false).await;
    becomes(&b, "heritage", false).await;
    let gone = [StatusCode::NOT_FOUND; 6];
    for server in [&a, &b] {
        assert_eq!(answers(server).await, gone, "{}", server.base);
        assert!(!search_finds_wards(server).await);
    }
    assert_eq!(
        basemap_wards(&b).await,
        0,
        "B still draws the retired wards"
    );
    let in_layers_schema: bool =
        sqlx::query_scalar("SELECT to_regclass('layers.wards_2025') IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(
        !in_layers_schema,
        "GIS tools listing `layers` would still see it"
    );

    // Listed as retired for its agency (and admins), not for another agency.
    let (_, retired) = call(&a, reqwest::Method::GET, "/v1/retired-layers", Some(&admin)).await;
    assert_eq!(retired.as_array().unwrap().len(), 2, "{retired}");
    let (_, retired) = call(
        &a,
        reqwest::Method::GET,
        "/v1/retired-layers",
        Some(&health),
    )
    .await;
    assert_eq!(retired, Value::Array(vec![]));
    let restore = reqwest::Method::POST;
    let (status, _) = call(
        &b,
        restore.clone(),
        "/v1/retired-layers/wards_2025/restore",
        Some(&health),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another agency's retired layer"
    );

    // Restored through B: live again everywhere, as it was.
    for layer in ["wards_2025", "heritage"] {
        let (status, restored) = call(
            &b,
            restore.clone(),
            &format!("/v1/retired-layers/{layer}/restore"),
            Some(&admin),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{restored}");
    }
    becomes(&a, "wards_2025", true).await;
    becomes(&a, "heritage", true).await;
    for server in [&a, &b] {
        assert_eq!(answers(server).await, all_ok, "{}", server.base);
        assert!(search_finds_wards(server).await);
        let (_, ward) = get(server, &format!("/v1/wards?{BEN_THANH}")).await;
        assert_eq!(ward["ward"]["name"], "Bến Thành", "{ward}");
        assert_eq!(ward["ward"]["layer"], "wards_2025", "{ward}");
    }
    assert_eq!(basemap_wards(&a).await, wards_drawn);
    let (_, restored) = get(&a, "/ogc/collections/wards_2025/items?limit=1").await;
    assert_eq!(restored["numberMatched"], 168, "{restored}");

    // Retired again and purged: gone for good, nothing left in the database.
    call(&a, delete.clone(), "/v1/layers/heritage", Some(&admin)).await;
    let (status, _) = call(
        &a,
        delete.clone(),
        "/v1/retired-layers/heritage",
        Some(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &a,
        restore,
        "/v1/retired-layers/heritage/restore",
        Some(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_retired\\_%') \
              + (SELECT count(*) FROM bando.retired_layers)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(leftovers, 0);

    let actions: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, target FROM bando.audit_log \
         WHERE action IN ('retire', 'restore', 'purge') ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = actions
        .iter()
        .map(|(a, t)| (a.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("retire", "wards_2025"),
            ("retire", "heritage"),
            ("restore", "wards_2025"),
            ("restore", "heritage"),
            ("retire", "heritage"),
            ("purge", "heritage"),
        ]
    );
}

/// Past its keeping time, a retired layer is purged by the servers' sweep (the function it runs).
#[tokio::test]
async fn retired_layers_past_their_keeping_time_are_purged() {
    let db = fresh_database().await;
    import_shared(
        &db.pool,
        "hcmgis-vn2000/DiTich.shp",
        ImportRequest {
            layer: "heritage".to_owned(),
            ..ImportRequest::default()
        },
    )
    .await;
    let actor = Actor::command_line();
    bando_importers::retire::retire(&db.pool, "heritage", 1, &actor)
        .await
        .unwrap();
    let none = bando_importers::retire::purge_expired(&db.pool, &actor)
        .await
        .unwrap();
    assert!(none.is_empty(), "kept for a day");
    // A day later.
    sqlx::query("UPDATE bando.retired_layers SET purge_after = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    let purged = bando_importers::retire::purge_expired(&db.pool, &actor)
        .await
        .unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].layer, "heritage");
    let restore = bando_importers::retire::restore(&db.pool, "heritage", &actor).await;
    assert!(matches!(
        restore,
        Err(bando_importers::ImportError::NoSuchLayer(_))
    ));
}
