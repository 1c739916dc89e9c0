//! The `bando` binary as a user runs it: exit codes, one-line reasons, a server that starts,
//! answers and stops cleanly on SIGTERM.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};

use bando_core::testing::{fresh_database, shared_data};

fn bando(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bando"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// The reason printed on failure: exactly one line, starting with the command name.
fn one_line_reason(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("bando: "), "{stderr}");
    lines[0].to_owned()
}

#[tokio::test]
async fn import_reports_json_and_rejects_bad_input_with_one_line() {
    let db = fresh_database().await;
    let shp = shared_data().join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp");
    let ok = bando(
        &db.url,
        &[
            "import",
            shp.to_str().unwrap(),
            "--layer",
            "wards_2019",
            "--json",
        ],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let outcome: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(outcome["written"], 322);
    assert_eq!(outcome["source_crs"], "EPSG:32648");
    assert_eq!(outcome["version"], 1);

    let missing = bando(
        &db.url,
        &["import", "/nonexistent/wards.shp", "--layer", "w"],
    );
    assert!(one_line_reason(&missing).contains("/nonexistent/wards.shp"));

    let bad_name = bando(
        &db.url,
        &["import", shp.to_str().unwrap(), "--layer", "Wards-2019"],
    );
    assert!(one_line_reason(&bad_name).contains("invalid layer name"));

    let bad_zoom = bando(
        &db.url,
        &[
            "import",
            shp.to_str().unwrap(),
            "--layer",
            "w",
            "--minzoom",
            "12",
            "--maxzoom",
            "3",
        ],
    );
    assert!(one_line_reason(&bad_zoom).contains("minzoom"));

    // Nothing of the failed attempts reached the catalog.
    let layers: Vec<String> = sqlx::query_scalar("SELECT slug FROM bando.layers")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(layers, ["wards_2019"]);
}

#[tokio::test]
async fn serve_rejects_bad_config_by_key() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bando.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\ncache_size = 10\n").unwrap();
    let out = bando(&db.url, &["serve", "--config", config.to_str().unwrap()]);
    assert!(one_line_reason(&out).contains("cache_size"));
    let out = bando(
        &db.url,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--query-timeout-ms",
            "5",
        ],
    );
    assert!(one_line_reason(&out).contains("query_timeout_ms"));
}

#[tokio::test]
async fn serve_answers_and_stops_on_sigterm() {
    let db = fresh_database().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bando"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let address = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "server exited before listening"
        );
        if let Some(rest) = line.trim().strip_prefix("bando listening on http://") {
            break rest.to_owned();
        }
    };

    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /ready HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""database":"ok""#), "{response}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[tokio::test]
async fn demo_without_the_data_set_loads_the_generated_sample() {
    let db = fresh_database().await;
    let workdir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bando"))
        .args(["demo", "--data", "/nonexistent"])
        .current_dir(workdir.path())
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT slug, feature_count FROM bando.layers ORDER BY slug")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        counts,
        [
            ("sample_places".to_owned(), 12),
            ("sample_wards".to_owned(), 12)
        ]
    );
    assert!(workdir.path().join("data/sample/wards.geojson").exists());
}

/// `bando demo` over the real data set publishes the real city: the OpenStreetMap extract as the
/// base map's themes, credited to OpenStreetMap; nothing made for tests (the hand-made OSM
/// fixture) reaches the catalog, whatever directory it runs from.
#[tokio::test]
async fn demo_with_the_data_set_publishes_the_real_city_and_no_fixture() {
    let db = fresh_database().await;
    let data = shared_data();
    // From the checkout, where data/fixtures/ lies at hand.
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_bando"))
        .arg("demo")
        .arg("--data")
        .arg(&data)
        .current_dir(&checkout)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sources: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT source_path FROM bando.import_jobs WHERE status = 'succeeded'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let data_dir = data.display().to_string();
    for source in &sources {
        assert!(
            source.starts_with(&data_dir),
            "a demo layer not from the data set: {source}"
        );
    }
    let osm: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT slug, feature_count, attribution FROM bando.layers WHERE slug LIKE 'osm\\_%' ORDER BY slug",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(osm.len(), bando_importers::osm::THEMES.len(), "{osm:?}");
    let roads = osm.iter().find(|(s, _, _)| s == "osm_roads").unwrap();
    assert!(roads.1 > 30_000, "the city's street network: {roads:?}");
    assert!(
        osm.iter()
            .all(|(_, _, a)| a.contains("OpenStreetMap contributors"))
    );
}

/// GIS staff manage layers without SQL: list, show, change catalog values, retire, restore,
/// purge; a mistake is one line and changes nothing.
#[tokio::test]
async fn layers_are_listed_changed_retired_restored_and_purged_from_the_command_line() {
    let db = fresh_database().await;
    let shp = shared_data().join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp");
    let imported = bando(
        &db.url,
        &["import", shp.to_str().unwrap(), "--layer", "wards_2019"],
    );
    assert!(imported.status.success());
    let stdout = |o: &Output| String::from_utf8(o.stdout.clone()).unwrap();

    let listed = bando(&db.url, &["layers", "list"]);
    assert!(listed.status.success());
    let row = stdout(&listed)
        .lines()
        .find(|l| l.starts_with("wards_2019 "))
        .map(str::to_owned)
        .expect("wards_2019 listed");
    assert!(row.contains(" 322 "), "{row}");

    let updated = bando(
        &db.url,
        &[
            "layers",
            "update",
            "wards_2019",
            "--title",
            "Phường (2019)",
            "--layout",
            "2019",
            "--valid-from",
            "2019-01-01",
            "--valid-to",
            "2025-07-01",
            "--maxzoom",
            "16",
        ],
    );
    assert!(
        updated.status.success(),
        "{}",
        String::from_utf8_lossy(&updated.stderr)
    );
    let shown = bando(&db.url, &["layers", "show", "wards_2019"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["title"], "Phường (2019)");
    assert_eq!(shown["valid_to"], "2025-07-01");
    assert_eq!(shown["maxzoom"], 16);
    assert_eq!(shown["feature_count"], 322, "the data is untouched");

    // Mistakes: one line naming what is wrong, nothing changed.
    let crossed = bando(
        &db.url,
        &["layers", "update", "wards_2019", "--minzoom", "18"],
    );
    assert!(one_line_reason(&crossed).contains("maxzoom"));
    let backwards = bando(
        &db.url,
        &[
            "layers",
            "update",
            "wards_2019",
            "--valid-from",
            "2030-01-01",
        ],
    );
    assert!(one_line_reason(&backwards).contains("valid_to"));
    let nothing = bando(&db.url, &["layers", "update", "wards_2019"]);
    assert!(one_line_reason(&nothing).contains("nothing to change"));
    let unknown = bando(&db.url, &["layers", "delete", "no_such_layer"]);
    assert!(one_line_reason(&unknown).contains("no layer \"no_such_layer\""));
    let shown = bando(&db.url, &["layers", "show", "wards_2019"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        (shown["minzoom"].clone(), shown["valid_from"].clone()),
        (0.into(), "2019-01-01".into())
    );

    let retired = bando(
        &db.url,
        &["layers", "delete", "wards_2019", "--keep-days", "7"],
    );
    assert!(retired.status.success());
    assert!(stdout(&retired).contains("bando layers restore wards_2019"));
    assert!(!stdout(&bando(&db.url, &["layers", "list"])).contains("wards_2019"));
    let kept = bando(&db.url, &["layers", "retired", "--json"]);
    let kept: serde_json::Value = serde_json::from_slice(&kept.stdout).unwrap();
    assert_eq!(kept[0]["layer"], "wards_2019");
    assert_eq!(kept[0]["feature_count"], 322);

    let restored = bando(&db.url, &["layers", "restore", "wards_2019"]);
    assert!(restored.status.success());
    let shown = bando(&db.url, &["layers", "show", "wards_2019"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["title"], "Phường (2019)", "restored as it was");
    let again = bando(&db.url, &["layers", "restore", "wards_2019"]);
    assert!(one_line_reason(&again).contains("no retired layer"));

    assert!(
        bando(&db.url, &["layers", "delete", "wards_2019"])
            .status
            .success()
    );
    let purged = bando(&db.url, &["layers", "purge", "wards_2019"]);
    assert!(purged.status.success());
    let kept = bando(&db.url, &["layers", "retired", "--json"]);
    assert_eq!(stdout(&kept).trim(), "[]");
}

/// A reader that stops early (`bando keys create … | head -1`, a script's `grep -q`) is not an
/// error: the command still succeeds, with no panic on the closed pipe.
#[tokio::test]
async fn output_into_a_closed_pipe_is_not_an_error() {
    let db = fresh_database().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bando"))
        .args(["keys", "create", "--agency", "hcmc", "--scopes", "read"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the command has connected, let alone written its two lines.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
