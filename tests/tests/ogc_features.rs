//! OGC API – Features over real HTTP, read by GDAL's OAPIF driver (as QGIS would).

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::process::Command;
use std::sync::Arc;

use bando_core::testing::shared_data;
use bando_e2e::RunningServer;
use bando_importers::ImportRequest;

async fn import(server: &RunningServer, path: &str, layer: &str) {
    let request = ImportRequest {
        path: shared_data().join(path),
        layer: layer.to_owned(),
        ..ImportRequest::default()
    };
    bando_importers::import(&server.db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

fn ogrinfo(args: &[&str]) -> String {
    ogrinfo_as(None, args)
}

/// `ogrinfo` sending an API key as GDAL does for any HTTP source (`GDAL_HTTP_HEADERS`).
fn ogrinfo_as(key: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("ogrinfo");
    if let Some(key) = key {
        command.env("GDAL_HTTP_HEADERS", format!("Authorization: Bearer {key}"));
    }
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ogrinfo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn gdal_lists_and_reads_every_public_collection() {
    let server = RunningServer::start_fresh().await;
    import(&server, "hcmgis-vn2000/DiTich.shp", "historic_sites").await;
    import(
        &server,
        "hcmc-wards-2019-cityscope/Population_District_Level.shp",
        "districts_2019",
    )
    .await;
    import(&server, "hcmgis-vn2000/Cau.shp", "bridges").await;
    import(
        &server,
        "saigon-peninsula-cityscope/pois/Commercial_Services.shp",
        "hidden",
    )
    .await;
    sqlx::query("UPDATE bando.layers SET visibility = 'restricted' WHERE slug = 'hidden'")
        .execute(&server.db.pool)
        .await
        .unwrap();
    // The server follows the catalog by NOTIFY; wait (bounded) until it lists the public ones.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let collections: serde_json::Value =
            server.get("/ogc/collections").await.json().await.unwrap();
        if collections["collections"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "collections never settled: {collections}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let url = format!("OAPIF:{}/ogc", server.base);
    let listing = tokio::task::spawn_blocking({
        let url = url.clone();
        move || ogrinfo(&["-ro", "-q", &url])
    })
    .await
    .unwrap();
    for layer in ["historic_sites", "districts_2019", "bridges"] {
        assert!(listing.contains(layer), "{layer} listed: {listing}");
    }
    assert!(
        !listing.contains("hidden"),
        "a restricted layer is not listed"
    );

    // With a key of its owner (the city), GDAL lists and reads the restricted layer too.
    let mut conn = server.db.pool.acquire().await.unwrap();
    let (_, key) = bando_core::api_key::create_key(
        &mut conn,
        "hcmc",
        "qgis",
        &[bando_core::api_key::Scope::Read],
        None,
        &bando_core::audit::Actor::command_line(),
    )
    .await
    .unwrap();
    drop(conn);
    // The server learns of the new key by NOTIFY: wait (bounded) until it accepts it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server
        .client
        .get(format!("{}/ogc/collections/hidden", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .status()
        != reqwest::StatusCode::OK
    {
        assert!(std::time::Instant::now() < deadline, "the key never worked");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let keyed = tokio::task::spawn_blocking({
        let (url, key) = (url.clone(), key.clone());
        move || ogrinfo_as(Some(&key), &["-ro", "-al", "-q", &url, "hidden"])
    })
    .await
    .unwrap();
    assert!(keyed.matches("OGRFeature(").count() > 0, "{keyed}");

    for (layer, count) in [
        ("historic_sites", 167),
        ("districts_2019", 24),
        ("bridges", 1129),
    ] {
        let url = url.clone();
        let dump = tokio::task::spawn_blocking(move || ogrinfo(&["-ro", "-al", "-q", &url, layer]))
            .await
            .unwrap();
        assert_eq!(
            dump.matches("OGRFeature(").count(),
            count,
            "{layer}: every feature read"
        );
    }
    let sites =
        tokio::task::spawn_blocking(move || ogrinfo(&["-ro", "-al", "-q", &url, "historic_sites"]))
            .await
            .unwrap();
    assert!(sites.contains("Phường Bến Nghé"), "Vietnamese text intact");

    // The API itself: paging links, bbox, property filter, errors.
    let page: serde_json::Value = server
        .get("/ogc/collections/bridges/items?limit=500&offset=1000")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["numberMatched"], 1129);
    assert_eq!(page["numberReturned"], 129);
    assert!(
        page["links"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["rel"] != "next")
    );
    let filtered: serde_json::Value = server
        .get("/ogc/collections/districts_2019/items?dist_name=District%201")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["numberMatched"], 1);
    let one = server.get("/ogc/collections/historic_sites/items/0").await;
    assert_eq!(one.status(), 200);
    assert_eq!(one.headers()["content-type"], "application/geo+json");
    for (uri, status) in [
        ("/ogc/collections/hidden", 404),
        ("/ogc/collections/hidden/items", 404),
        ("/ogc/collections/bridges/items?limit=0", 400),
        ("/ogc/collections/bridges/items?bbox=1,2,3", 400),
        ("/ogc/collections/bridges/items?colour=red", 400),
        ("/ogc/collections/bridges/items/999999", 404),
    ] {
        assert_eq!(server.get(uri).await.status(), status, "{uri}");
    }
}
