//! Publish modes: append and upsert by key change the live layer in one transaction, keep ids
//! of replaced features, and can be rolled back.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use bando_core::audit::Actor;
use std::path::Path;
use std::sync::Arc;

use bando_core::testing::{TestDatabase, fresh_database, shared_data};
use bando_importers::merge::PublishMode;
use bando_importers::{ImportRequest, import};

async fn publish(db: &TestDatabase, path: &Path, mode: PublishMode) -> Result<i32, String> {
    let request = ImportRequest {
        path: path.to_path_buf(),
        layer: "wards".to_owned(),
        mode,
        force: true,
        ..ImportRequest::default()
    };
    import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .map(|o| o.version.unwrap())
        .map_err(|e| e.to_string())
}

async fn rows(db: &TestDatabase) -> Vec<(i64, String, String)> {
    sqlx::query_as("SELECT fid, code, name FROM layers.wards ORDER BY fid")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn append_then_upsert_by_key_then_roll_back() {
    let db = fresh_database().await;
    let wards = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards");
    publish(
        &db,
        &wards.join("26743_ben_thanh.geojson"),
        PublishMode::Replace,
    )
    .await
    .unwrap();
    publish(
        &db,
        &wards.join("26740_sai_gon.geojson"),
        PublishMode::Append,
    )
    .await
    .unwrap();
    let appended = rows(&db).await;
    assert_eq!(appended.len(), 2);
    assert_ne!(appended[0].0, appended[1].0, "distinct ids");
    let count: i64 =
        sqlx::query_scalar("SELECT feature_count FROM bando.layers WHERE slug = 'wards'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(count, 2, "the catalog describes the whole layer");

    // A corrected Sài Gòn ward (renamed) plus one new ward, upserted by code.
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(wards.join("26740_sai_gon.geojson")).unwrap();
    std::fs::write(
        tmp.path().join("a.geojson"),
        text.replace("\"Sài Gòn\"", "\"Sài Gòn (sửa)\""),
    )
    .unwrap();
    std::fs::copy(
        wards.join("26737_tan_dinh.geojson"),
        tmp.path().join("b.geojson"),
    )
    .unwrap();
    let version = publish(
        &db,
        tmp.path(),
        PublishMode::Upsert {
            key: "code".to_owned(),
        },
    )
    .await
    .unwrap();
    assert_eq!(version, 3);
    let upserted = rows(&db).await;
    assert_eq!(upserted.len(), 3);
    let sai_gon = upserted.iter().find(|r| r.1 == "26740").unwrap();
    assert_eq!(sai_gon.2, "Sài Gòn (sửa)");
    assert_eq!(
        sai_gon.0,
        appended.iter().find(|r| r.1 == "26740").unwrap().0,
        "id kept"
    );
    assert!(upserted.iter().any(|r| r.2 == "Tân Định"));

    let bad_key = publish(
        &db,
        tmp.path(),
        PublishMode::Upsert {
            key: "nope".to_owned(),
        },
    )
    .await
    .unwrap_err();
    assert!(bad_key.contains("upsert key nope"), "{bad_key}");
    assert_eq!(rows(&db).await, upserted, "a failed upsert changes nothing");

    bando_importers::rollback::rollback(&db.pool, "wards", &Actor::command_line())
        .await
        .unwrap();
    assert_eq!(rows(&db).await, appended, "rollback undoes the upsert");
}
