//! SIGKILL the importer at several points of a large import: the live layer and the catalog stay
//! exactly as they were, and the next run cleans up and succeeds.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bando_core::testing::{TestDatabase, fresh_database};

/// A CSV of `rows` points spread over central HCMC.
fn write_points(path: &Path, rows: u32, seed: u32) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "id,name,lon,lat").unwrap();
    for i in 0..rows {
        let f = f64::from(i.wrapping_mul(2_654_435_761).wrapping_add(seed)) / f64::from(u32::MAX);
        let g = f64::from(i.wrapping_mul(40_503).wrapping_add(seed)) / f64::from(u32::MAX);
        writeln!(
            out,
            "{i},điểm {i},{:.6},{:.6}",
            106.6 + f * 0.2,
            10.7 + g * 0.15
        )
        .unwrap();
    }
}

fn start_import(db: &TestDatabase, csv: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bando-import"))
        .args([csv.to_str().unwrap(), "--layer", "points", "--force"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Polls the database until `condition` (a boolean SQL query) holds or the child exits.
async fn wait_until(db: &TestDatabase, child: &mut Child, condition: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let holds: bool = sqlx::query_scalar(condition)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if holds {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for: {condition}");
}

async fn catalog_and_data(db: &TestDatabase) -> (String, i64) {
    let catalog: String =
        sqlx::query_scalar("SELECT row_to_json(l)::text FROM bando.layers l WHERE slug = 'points'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM layers.points")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    (catalog, rows)
}

#[tokio::test]
async fn killing_the_importer_never_changes_the_live_layer() {
    let db = fresh_database().await;
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small.csv");
    write_points(&small, 1000, 1);
    let mut first = start_import(&db, &small);
    assert!(first.wait().unwrap().success());
    let before = catalog_and_data(&db).await;
    assert_eq!(before.1, 1000);

    // Below the search index's size limit, so its rows are prepared too (on a second connection).
    let big = tmp.path().join("big.csv");
    write_points(&big, 150_000, 2);
    let kill_points = [
        // The job has started (nothing loaded yet).
        "SELECT EXISTS (SELECT 1 FROM bando.import_jobs WHERE status = 'running')",
        // Rows are streaming into the staging table.
        "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_copy c JOIN pg_database d ON d.oid = c.datid \
         WHERE d.datname = current_database() AND c.tuples_processed > 0)",
        // Loading is done; indexes, repairs or statistics are being built.
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'bando' \
         AND datname = current_database() \
         AND state = 'active' AND (query LIKE 'CREATE INDEX%' OR query LIKE 'ANALYZE%' \
         OR query LIKE 'UPDATE%' OR query LIKE 'ALTER TABLE%'))",
        // The search rows are being prepared beside the staging table.
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'bando' \
         AND datname = current_database() AND state = 'active' \
         AND query LIKE 'CREATE TABLE %\\_names\" AS %')",
    ];
    let mut killed = 0;
    for condition in kill_points {
        let mut child = start_import(&db, &big);
        if wait_until(&db, &mut child, condition).await {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        assert_eq!(
            catalog_and_data(&db).await,
            before,
            "after kill at: {condition}"
        );
        // PostgreSQL ends a dead client's session when its current statement finishes.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sessions: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bando' \
                 AND datname = current_database()",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap();
            if sessions == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the killed importer's session never ended"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            catalog_and_data(&db).await,
            before,
            "after its session ended"
        );
    }
    assert!(
        killed >= 2,
        "the import ran too fast to be killed mid-way ({killed} kills)"
    );

    let mut rerun = start_import(&db, &big);
    assert!(rerun.wait().unwrap().success());
    let after = catalog_and_data(&db).await;
    assert_eq!(after.1, 150_000);
    let interrupted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bando.import_jobs WHERE status = 'failed' AND error LIKE 'the import stopped before publishing%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        common::staging_tables(&db).await,
        0,
        "staging tables of killed jobs are dropped by the next run"
    );
    assert_eq!(interrupted, killed, "killed jobs are marked failed");
}
