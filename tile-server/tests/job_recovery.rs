//! Uploads survive the death of the server running them: the `bando` binary is `SIGKILL`ed at
//! each point of an upload's job (queued, just taken, reading, indexing, about to publish) and
//! started again; the job then ends `succeeded` with the layer a clean run gives (or, out of
//! attempts, `failed` saying why), nothing is left `running`, and no stored file or staging table
//! is left behind. The import is stopped at a stage by a fail point (`FAILPOINTS=…=pause`), and
//! the test waits for the job's recorded stage before killing: no timing guesses.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use bando_core::api_key::Scope;
use bando_core::testing::{TestDatabase, agency_key, fresh_database, shared_data};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

/// The 2019 wards (a zipped Shapefile of ~2 MB: stored in several chunks, unzipped by the runner).
fn wards_zip(into: &std::path::Path) -> PathBuf {
    let path = into.join("wards-2019.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
        let file = shared_data().join(format!(
            "hcmc-wards-2019-cityscope/Population_Ward_Level.{ext}"
        ));
        zip.start_file(
            format!("Population_Ward_Level.{ext}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(&std::fs::read(file).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    path
}

mod common;

use common::server_process::ServerProcess as Server;

struct Agency {
    db: TestDatabase,
    key: String,
    client: reqwest::Client,
}

impl Agency {
    async fn new() -> Self {
        let db = fresh_database().await;
        let key = agency_key(
            &db.pool,
            "construction",
            "Sở Xây dựng",
            &[Scope::Read, Scope::Publish],
        )
        .await;
        Self {
            db,
            key,
            client: reqwest::Client::new(),
        }
    }

    /// Uploads the wards as `layer` through `server`; returns the queued job's id.
    async fn upload(&self, server: &Server, layer: &str, zip: &std::path::Path) -> i64 {
        let form = Form::new().part(
            "file",
            Part::bytes(std::fs::read(zip).unwrap()).file_name("wards-2019.zip"),
        );
        let response = self
            .client
            .post(format!(
                "{}/v1/agencies/construction/layers/{layer}/uploads?visibility=public",
                server.base
            ))
            .bearer_auth(&self.key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let accepted: Value = response.json().await.unwrap();
        assert_eq!(accepted["status"], "queued", "{accepted}");
        accepted["job"].as_i64().unwrap()
    }

    async fn job(&self, server: &Server, id: i64) -> Value {
        let response = self
            .client
            .get(format!("{}/v1/jobs/{id}", server.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Waits until job `id` is running at `stage` (the fail point holds it there).
    async fn wait_for_stage(&self, id: i64, stage: &str) {
        let mut interval = tokio::time::interval(Duration::from_millis(50));
        for _ in 0..1200 {
            interval.tick().await;
            let at: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT status::text, stage FROM bando.import_jobs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.db.pool)
                    .await
                    .unwrap();
            match at {
                Some((status, Some(now))) if status == "running" && now == stage => return,
                Some((status, _)) => assert!(
                    status == "queued" || status == "running",
                    "job {id} ended ({status}) before reaching {stage}"
                ),
                None => panic!("no job {id}"),
            }
        }
        panic!("job {id} never reached {stage}");
    }

    /// Follows job `id` through `server` until it ends; returns it.
    async fn finished(&self, server: &Server, id: i64) -> Value {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..1200 {
            interval.tick().await;
            let job = self.job(server, id).await;
            if job["status"] != "running" && job["status"] != "queued" {
                return job;
            }
        }
        panic!("job {id} did not end");
    }

    /// Feature count and a digest of every row of `layer`'s live table, in feature order.
    async fn layer_digest(&self, layer: &str) -> (i64, String) {
        sqlx::query_as(&format!(
            "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM layers.{layer} t"
        ))
        .fetch_one(&self.db.pool)
        .await
        .unwrap()
    }

    /// Nothing left behind: no job running or queued, no stored file, no staging table.
    async fn assert_nothing_left(&self) {
        let (unfinished, files, staging): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM bando.import_jobs WHERE finished_at IS NULL), \
                    (SELECT count(*) FROM bando.job_files), \
                    (SELECT count(*) FROM pg_tables WHERE schemaname = 'bando_staging')",
        )
        .fetch_one(&self.db.pool)
        .await
        .unwrap();
        assert_eq!(
            (unfinished, files, staging),
            (0, 0, 0),
            "jobs unfinished, stored files, staging tables"
        );
    }
}

/// Kills the server while the job is held at `failpoint` (recorded as `stage`), starts it
/// again, and checks the job ends as a clean run does, on its second attempt.
async fn killed_at(failpoint: &str, stage: &str) {
    let agency = Agency::new().await;
    let folder = tempfile::tempdir().unwrap();
    let zip = wards_zip(folder.path());
    let first = Server::start(&agency.db.url, &[], Some(&format!("{failpoint}=pause")));
    let id = agency.upload(&first, "construction_wards", &zip).await;
    agency.wait_for_stage(id, stage).await;
    first.kill();

    let second = Server::start(&agency.db.url, &[], None);
    let job = agency.finished(&second, id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(job["max_attempts"], 3, "{job}");
    assert!(job["stage"].is_null(), "{job}");
    assert_eq!(job["features_written"], 322, "{job}");

    // The same layer as a clean run of the same file.
    let clean = agency
        .upload(&second, "construction_wards_clean", &zip)
        .await;
    let clean = agency.finished(&second, clean).await;
    assert_eq!(clean["status"], "succeeded", "{clean}");
    assert_eq!(clean["attempts"], 1, "{clean}");
    assert_eq!(
        agency.layer_digest("construction_wards").await,
        agency.layer_digest("construction_wards_clean").await,
        "the recovered layer differs from a clean run's"
    );
    let response = agency
        .client
        .get(format!(
            "{}/ogc/collections/construction_wards",
            second.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "published and public");

    // The audit log has the outcome, with the attempts it took.
    let audited: Value = sqlx::query_scalar(
        "SELECT details FROM bando.audit_log WHERE action = 'import' AND target = $1",
    )
    .bind("construction_wards")
    .fetch_one(&agency.db.pool)
    .await
    .unwrap();
    assert_eq!(audited["attempts"], 2, "{audited}");
    assert_eq!(audited["job"], id, "{audited}");
    agency.assert_nothing_left().await;
}

#[tokio::test]
async fn killed_just_after_taking_the_job() {
    killed_at("job::claimed", "starting").await;
}

#[tokio::test]
async fn killed_while_reading() {
    killed_at("import::reading", "reading").await;
}

#[tokio::test]
async fn killed_while_indexing() {
    killed_at("import::indexing", "indexing").await;
}

#[tokio::test]
async fn killed_just_before_publishing() {
    killed_at("import::publishing", "publishing").await;
}

/// Just after the 202, before any worker took it: the job waits in the queue (here on a server
/// that runs no imports) and the next instance with a worker runs it, on its first attempt.
#[tokio::test]
async fn killed_just_after_the_upload_was_accepted() {
    let agency = Agency::new().await;
    let folder = tempfile::tempdir().unwrap();
    let zip = wards_zip(folder.path());
    let front = Server::start(&agency.db.url, &["--import-workers", "0"], None);
    let id = agency.upload(&front, "construction_wards", &zip).await;
    let queued = agency.job(&front, id).await;
    assert_eq!(queued["status"], "queued", "{queued}");
    assert_eq!(queued["attempts"], 0, "{queued}");
    assert!(queued["runner"].is_null(), "{queued}");
    front.kill();

    let worker = Server::start(&agency.db.url, &["--instance-id", "worker-b"], None);
    let job = agency.finished(&worker, id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    assert_eq!(job["runner"], "worker-b#0", "{job}");
    assert_eq!(job["features_written"], 322, "{job}");
    agency.assert_nothing_left().await;
}

/// Out of attempts: the job fails with the reason, nothing is published, nothing is left.
#[tokio::test]
async fn killed_on_the_last_attempt_fails_with_the_reason() {
    let agency = Agency::new().await;
    let folder = tempfile::tempdir().unwrap();
    let zip = wards_zip(folder.path());
    let first = Server::start(
        &agency.db.url,
        &["--job-attempts", "1"],
        Some("import::indexing=pause"),
    );
    let id = agency.upload(&first, "construction_wards", &zip).await;
    agency.wait_for_stage(id, "indexing").await;
    first.kill();

    let second = Server::start(&agency.db.url, &["--job-attempts", "1"], None);
    let job = agency.finished(&second, id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        job["error"], "the server stopped during the import (attempt 1 of 1)",
        "{job}"
    );
    let response = agency
        .client
        .get(format!(
            "{}/ogc/collections/construction_wards",
            second.base
        ))
        .bearer_auth(&agency.key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "nothing published"
    );
    let audited: Value = sqlx::query_scalar(
        "SELECT details FROM bando.audit_log WHERE action = 'import_failed' AND target = $1",
    )
    .bind("construction_wards")
    .fetch_one(&agency.db.pool)
    .await
    .unwrap();
    assert_eq!(audited["attempts"], 1, "{audited}");
    agency.assert_nothing_left().await;
}

/// The command line is its own runner: its killed import is marked failed the same way by the
/// next server (or import), and its staging table dropped.
#[tokio::test]
async fn a_killed_command_line_import_is_marked_failed() {
    let agency = Agency::new().await;
    let shp = shared_data().join("hcmc-wards-2019-cityscope/Population_Ward_Level.shp");
    let mut import = Command::new(env!("CARGO_BIN_EXE_bando"))
        .args(["import", shp.to_str().unwrap(), "--layer", "wards_2019"])
        .env("DATABASE_URL", &agency.db.url)
        .env("RUST_LOG", "error")
        .env("FAILPOINTS", "import::indexing=pause")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let id: i64 = {
        let mut interval = tokio::time::interval(Duration::from_millis(50));
        let mut found = None;
        for _ in 0..1200 {
            interval.tick().await;
            found = sqlx::query_scalar(
                "SELECT id FROM bando.import_jobs WHERE layer_slug = 'wards_2019' AND stage = 'indexing'",
            )
            .fetch_optional(&agency.db.pool)
            .await
            .unwrap();
            if found.is_some() {
                break;
            }
        }
        found.expect("the import reached indexing")
    };
    import.kill().unwrap();
    import.wait().unwrap();

    let _server = Server::start(&agency.db.url, &[], None);
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    let mut ended = None;
    for _ in 0..1200 {
        interval.tick().await;
        let job: (String, i32, Option<String>) = sqlx::query_as(
            "SELECT status::text, attempts, error FROM bando.import_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&agency.db.pool)
        .await
        .unwrap();
        if job.0 != "running" {
            ended = Some(job);
            break;
        }
    }
    let (status, attempts, error) = ended.expect("the killed import's job ended");
    assert_eq!((status.as_str(), attempts), ("failed", 1));
    assert!(
        error
            .as_deref()
            .unwrap_or("")
            .contains("stopped before publishing"),
        "{error:?}"
    );
    agency.assert_nothing_left().await;
}

/// The server process's CPU time so far (user and system), from `/proc`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// An instance with nothing to do (no request, no job) waits: its import workers sleep until a
/// job is queued (or their 5 s look comes round) on a connection of the pool, and open none.
/// Watched for longer than that look: every backend the server has is listed every 10 ms, and
/// none may appear that was not there when the watch began; its CPU time stays near zero.
/// (A worker that looped without waiting, opening a connection each turn, kept a core busy with
/// 100–190 connections a second.)
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_instance_opens_no_connection_and_keeps_the_cpu_idle() {
    use sqlx::Connection;
    let db = fresh_database().await;
    let server = Server::start(&db.url, &[], None);
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !client
        .get(format!("{}/ready", server.base))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never got ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let backends = async |watcher: &mut sqlx::PgConnection| -> Vec<i32> {
        sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'bando-server'",
        )
        .fetch_all(watcher)
        .await
        .unwrap()
    };
    let at_start = backends(&mut watcher).await;
    assert!(
        !at_start.is_empty(),
        "the server holds connections once ready"
    );
    let cpu_at_start = cpu_seconds(server.pid());
    let watched = Duration::from_secs(7);
    let until = std::time::Instant::now() + watched;
    let mut opened = std::collections::BTreeSet::new();
    let mut every = tokio::time::interval(Duration::from_millis(10));
    while std::time::Instant::now() < until {
        every.tick().await;
        opened.extend(
            backends(&mut watcher)
                .await
                .into_iter()
                .filter(|pid| !at_start.contains(pid)),
        );
    }
    let cpu = cpu_seconds(server.pid()) - cpu_at_start;
    assert!(
        opened.is_empty(),
        "an idle server opened {} connections in {watched:?}",
        opened.len()
    );
    // Near zero: a few heartbeats and one look at the queue, not a loop.
    assert!(
        cpu < 0.35,
        "an idle server used {cpu:.2} s of CPU in {watched:?}"
    );
}
