//! The HTTP API keeps the promises of its OpenAPI document (`GET /api`), checked by an
//! independent tool: schemathesis (PyPI, installed by `scripts/install-deps`) generates requests
//! from the document — valid ones, and ones that break each parameter, body field and header —
//! against a running bando over the real city (2025 wards, the OpenStreetMap extract), then
//! follows the document's links statefully (a new agency's keys, an upload's job, a catalog
//! entry's tiles and features). Every check is on: no 5xx, every status and content type
//! documented, responses matching their schemas, schema-valid requests accepted and invalid ones
//! refused, 405 with `Allow` for a wrong method. Rules one parameter cannot state (a `within`
//! takes a circle or a bbox) live in `tests/schemathesis/hooks.py`.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use bando_core::api_key::{self, Scope};
use bando_core::audit::Actor;
use bando_core::testing::fresh_database;
use bando_e2e::{RunningServer, import_osm_extract, import_shared, repo};
use bando_importers::ImportRequest;

/// Generated cases per operation and phase: enough to reach every parameter's edge cases
/// (~3,500 requests, under a minute here), few enough for every CI run.
const EXAMPLES_PER_OPERATION: &str = "60";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_keeps_the_openapi_contract_under_generated_requests() {
    let db = fresh_database().await;
    for (layer, path) in [
        ("wards_2025", "hcmc-wards-2025/79_ho_chi_minh/wards"),
        (
            "districts_2019",
            "hcmc-wards-2019-cityscope/Population_District_Level.shp",
        ),
    ] {
        let request = ImportRequest {
            layer: layer.to_owned(),
            ..ImportRequest::default()
        };
        import_shared(&db.pool, path, request).await;
    }
    import_osm_extract(&db.pool).await;

    // The fuzzer holds an admin key, so it reaches every operation; the key's id is far above
    // the small integers it generates for `DELETE /v1/keys/{id}`, so it
    // cannot revoke its own key halfway through.
    sqlx::query("SELECT setval('bando.api_keys_id_seq', 7340000000)")
        .execute(&db.pool)
        .await
        .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let actor = Actor::command_line();
    api_key::create_agency(&mut conn, "hcmc", "Thành phố Hồ Chí Minh", &actor)
        .await
        .unwrap();
    let (_, key) =
        api_key::create_key(&mut conn, "hcmc", "contract", &[Scope::Admin], None, &actor)
            .await
            .unwrap();
    drop(conn);
    // Started after the data and the key are in: it loads both when it starts.
    let server = RunningServer::start(db).await;

    // As an admin (every operation reachable, stateful links followed), then as the public
    // (no key: restricted data and management routes must refuse, as documented).
    for key in [Some(key), None] {
        let report = schemathesis(&server.base, key.as_deref()).await;
        assert!(
            report.contains(&format!("Tested: {}", operations(&server).await)),
            "not every documented operation was tested:\n{report}"
        );
    }
}

/// Runs schemathesis against the server; returns its report, failing the test on any failure.
async fn schemathesis(base: &str, key: Option<&str>) -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut command = std::process::Command::new(python);
    command
        .current_dir(repo().join("tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("NO_COLOR", "1")
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{base}/api"))
        .args(["--url", base])
        .args(["--checks", "all"])
        .args(["--max-examples", EXAMPLES_PER_OPERATION])
        // One worker: with two, CPython 3.11's `ast` (which hypothesis uses to describe its
        // strategies) can fail across threads ("AST constructor recursion depth mismatch"),
        // a runtime error of the tool rather than a finding about the server.
        .args(["--workers", "1"]);
    if let Some(key) = key {
        command.args(["-H", &format!("Authorization: Bearer {key}")]);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "schemathesis ({}) found failures:\n{report}\n{}",
        if key.is_some() { "admin key" } else { "no key" },
        String::from_utf8_lossy(&output.stderr)
    );
    report
}

/// How many operations the OpenAPI document declares.
async fn operations(server: &RunningServer) -> usize {
    let doc: serde_json::Value = server.get("/api").await.json().await.unwrap();
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum()
}
