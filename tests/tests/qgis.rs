//! QGIS opens bando as a GIS user would (PyQGIS, headless; `tests/qgis/check_bando.py`): the
//! 2025 wards as an OGC API – Features layer (QGIS's own provider and GDAL's OAPIF driver) with
//! every ward, its Vietnamese names and a bounding-box request sent to the server; a restricted
//! layer of another agency hidden without a key and complete with one (`?key=` on the service
//! URL, or an `Authorization: Bearer` header); the base map as vector tiles with its MapLibre
//! style converted by QGIS (no filter dropped) and rendered. The renders and QGIS's report stay
//! in `target/screenshots/qgis/`. Needs Debian's `python3-qgis` (installed by `scripts/install-deps`).

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use bando_core::api_key::{self, Scope};
use bando_core::audit::Actor;
use bando_core::layer::Visibility;
use bando_core::testing::fresh_database;
use bando_e2e::{RunningServer, import_osm_extract, import_shared, repo, screenshot_dir};
use bando_importers::ImportRequest;
use serde_json::Value;

async fn count(db: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM layers.{table}"))
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qgis_reads_features_restricted_layers_and_the_styled_base_map() {
    let db = fresh_database().await;
    let actor = Actor::command_line();
    let mut conn = db.pool.acquire().await.unwrap();
    for (slug, name) in [
        ("culture", "Sở Văn hóa và Thể thao"),
        ("planning", "Sở Quy hoạch – Kiến trúc"),
    ] {
        api_key::create_agency(&mut conn, slug, name, &actor)
            .await
            .unwrap();
    }
    let (_, planning_key) =
        api_key::create_key(&mut conn, "planning", "qgis", &[Scope::Read], None, &actor)
            .await
            .unwrap();
    drop(conn);

    for (layer, path, agency, visibility) in [
        (
            "wards_2025",
            "hcmc-wards-2025/79_ho_chi_minh/wards",
            None,
            None,
        ),
        (
            "city_2025",
            "hcmc-wards-2025/79_ho_chi_minh/79_ho_chi_minh.geojson",
            None,
            None,
        ),
        // Historic sites (VN-2000), shared by their agency with planning only.
        (
            "culture_historic_sites",
            "hcmgis-vn2000/DiTich.shp",
            Some("culture"),
            Some(Visibility::Restricted),
        ),
    ] {
        let request = ImportRequest {
            layer: layer.to_owned(),
            agency: agency.map(str::to_owned),
            visibility,
            ..ImportRequest::default()
        };
        import_shared(&db.pool, path, request).await;
    }
    sqlx::query(
        "INSERT INTO bando.layer_grants (layer_id, agency) \
         SELECT id, 'planning' FROM bando.layers WHERE slug = 'culture_historic_sites'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    import_osm_extract(&db.pool).await;
    let wards = count(&db.pool, "wards_2025").await;
    let sites = count(&db.pool, "culture_historic_sites").await;
    // Started after the data, the grant and the key are in: it loads them when it starts.
    let server = RunningServer::start(db).await;

    let script = repo().join("tests/qgis/check_bando.py");
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        // Debian's python3 is the one QGIS's Python bindings are built for.
        std::process::Command::new("/usr/bin/python3")
            .env("QT_QPA_PLATFORM", "offscreen")
            .arg(script)
            .arg(base)
            .args(["--restricted", "culture_historic_sites"])
            .args(["--key", &planning_key])
            .arg("--out")
            .arg(screenshot_dir("qgis"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "QGIS did not start: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    // What QGIS asked and answered, and its style conversion warnings, beside the renders.
    std::fs::write(
        screenshot_dir("qgis").join("report.json"),
        format!("{report:#}"),
    )
    .unwrap();
    let failed: Vec<&String> = report["checks"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, passed)| **passed != Value::Bool(true))
        .map(|(name, _)| name)
        .collect();
    assert!(
        failed.is_empty(),
        "QGIS {}: failed {failed:?}\n{report:#}",
        report["qgis_version"]
    );
    // Everything, as the database holds it: every ward through both QGIS providers, every
    // historic site through the key.
    assert_eq!(report["wards"]["count_iterated"], wards, "{report:#}");
    assert_eq!(
        report["wards_other_providers"]["gdal_ogr_provider"]["count_iterated"], wards,
        "{report:#}"
    );
    assert_eq!(
        report["restricted"]["with_key"]["count_iterated"], sites,
        "{report:#}"
    );
    assert_eq!(
        report["restricted"]["with_bearer"]["count_iterated"], sites,
        "{report:#}"
    );
}
