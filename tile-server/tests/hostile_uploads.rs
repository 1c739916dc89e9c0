//! Hostile uploads through the HTTP API of a real `bando serve` process, with an agency's publish
//! key: the corpus `tests/hostile/make_corpus.py` generates (VRT documents by content under every
//! extension and inside zips, `/vsicurl/` and driver prefixes in every text parameter, GML and
//! KML that reach for URLs and files, GeoPackages with triggers, function-calling and endless
//! views, broken Shapefiles and FlatGeobufs, deep JSON, a 200 MB line, a zip bomb, …). Each case
//! must end as its manifest entry says — refused with a problem naming what is wrong, or a job
//! failed with a specific reason (or, for "harmless" cases, published without anything it
//! reached for) — while:
//! - the canary file's secret appears in no layer, job, audit record or answer;
//! - a listener on the URL the files name is never called;
//! - nothing is left in the upload folder or the canary folder changed;
//! - the server answers `/health` after every case and never exits.
//!
//! And a reader process killed with `SIGKILL` fails its job only, without a retry.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bando_core::api_key::Scope;
use bando_core::testing::{TestDatabase, agency_key, fresh_database};
use common::server_process::ServerProcess;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

/// A loopback listener counting the connections made to it (none may be).
fn listener() -> (String, Arc<AtomicUsize>) {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut stream) = stream {
                let mut request = [0u8; 2048];
                let n = stream.read(&mut request).unwrap_or(0);
                eprintln!(
                    "listener called: {}",
                    String::from_utf8_lossy(&request[..n])
                        .lines()
                        .next()
                        .unwrap_or("")
                );
            }
        }
    });
    (url, calls)
}

/// A fresh database and a publish key of its construction department.
async fn publisher() -> (TestDatabase, String) {
    let db = fresh_database().await;
    let key = agency_key(
        &db.pool,
        "construction",
        "Sở Xây dựng",
        &[Scope::Read, Scope::Publish],
    )
    .await;
    (db, key)
}

/// Generates the corpus into `work/corpus` (its canary into `work/canary`), the files naming
/// `listener`; with `large`, the cases of 30–300 MB too. Returns the manifest.
fn corpus(work: &Path, listener: &str, large: bool) -> Value {
    let corpus = work.join("corpus");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile/make_corpus.py");
    let mut command = std::process::Command::new("python3");
    command
        .arg(&script)
        .args(["--out".as_ref(), corpus.as_os_str()])
        .args(["--canary-dir".as_ref(), work.join("canary").as_os_str()])
        .args(["--listener", listener]);
    if !large {
        command.arg("--no-large");
    }
    assert!(
        command.status().unwrap().success(),
        "the corpus script failed"
    );
    serde_json::from_slice(&std::fs::read(corpus.join("manifest.json")).unwrap()).unwrap()
}

/// Every file under `dir` with its content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
        }
    }
    files
}

struct Upload {
    client: reqwest::Client,
    base: String,
    key: String,
}

/// How a case ended.
#[derive(Debug)]
enum Outcome {
    Refused(u16, String),
    Failed(String),
    Published,
}

impl Upload {
    async fn send(
        &self,
        layer: &str,
        file: &Path,
        upload_name: &str,
        query: &[(String, String)],
    ) -> (reqwest::StatusCode, String) {
        let bytes = std::fs::read(file).unwrap();
        let form = Form::new().part("file", Part::bytes(bytes).file_name(upload_name.to_owned()));
        let response = self
            .client
            .post(format!(
                "{}/v1/agencies/construction/layers/{layer}/uploads",
                self.base
            ))
            .query(query)
            .bearer_auth(&self.key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// The job at `url` once it has ended.
    async fn ended(&self, url: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job: Value = self
                .client
                .get(url)
                .bearer_auth(&self.key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if !job["finished_at"].is_null() {
                return job;
            }
            assert!(Instant::now() < deadline, "job still running: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn healthy(&self) -> bool {
        self.client
            .get(format!("{}/health", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }
}

/// Every text a layer, job or audit record of `pool` holds, in one string per row.
async fn every_stored_text(pool: &sqlx::PgPool) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables \
         WHERE table_schema IN ('layers', 'bando_history', 'bando_staging') \
            OR (table_schema = 'bando' AND table_name IN ('import_jobs', 'audit_log', 'layers'))",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut texts = Vec::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(pool)
            .await
            .unwrap();
        texts.extend(rows);
    }
    texts
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_uploads_end_as_their_case_says_and_nothing_escapes() {
    let (db, key) = publisher().await;
    let (url, calls) = listener();
    let work = tempfile::tempdir().unwrap();
    let manifest = corpus(work.path(), &url, true);
    let corpus = work.path().join("corpus");
    let canary = work.path().join("canary");
    let uploads = work.path().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let secret = manifest["secret"].as_str().unwrap().to_owned();
    let canary_before = snapshot(&canary);

    let mut server = ServerProcess::start(
        &db.url,
        &[
            "--upload-dir",
            uploads.to_str().unwrap(),
            "--upload-max-mb",
            "256",
            // The endless view is stopped by this, the huge line by the memory limit; every
            // honest case needs far less of both.
            "--import-cpu-seconds",
            "8",
            "--import-memory-mb",
            "512",
        ],
        None,
    );
    let upload = Upload {
        client: reqwest::Client::new(),
        base: server.base.clone(),
        key,
    };
    let mut answers = Vec::new();
    let mut wrong = Vec::new();
    let mut table = Vec::new();
    let cases = manifest["cases"].as_array().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let file = corpus.join(case["file"].as_str().unwrap());
        let upload_name = case["upload_name"]
            .as_str()
            .map_or_else(|| case["file"].as_str().unwrap().to_owned(), str::to_owned);
        let query: Vec<(String, String)> = case["query"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let started = Instant::now();
        let (status, body) = upload
            .send(&format!("construction_h{i}"), &file, &upload_name, &query)
            .await;
        answers.push(body.clone());
        let outcome = if status == reqwest::StatusCode::ACCEPTED {
            let accepted: Value = serde_json::from_str(&body).unwrap();
            let job = upload
                .ended(accepted["url"].as_str().unwrap(), Duration::from_secs(180))
                .await;
            answers.push(job.to_string());
            match job["status"].as_str() {
                Some("failed") => Outcome::Failed(job["error"].as_str().unwrap_or("").to_owned()),
                Some("succeeded") => Outcome::Published,
                other => panic!("{name}: job ended {other:?}: {job}"),
            }
        } else {
            Outcome::Refused(status.as_u16(), body.clone())
        };
        let says = case["says"].as_str().unwrap_or("");
        let mentions = |text: &str| text.to_lowercase().contains(&says.to_lowercase());
        let as_expected = match (case["expect"].as_str().unwrap(), &outcome) {
            ("refused", Outcome::Refused(code, body)) => {
                (400..500).contains(code) && mentions(body) && body.contains("\"detail\"")
            }
            ("failed", Outcome::Failed(error)) => !error.is_empty() && mentions(error),
            ("harmless", Outcome::Refused(code, _)) => (400..500).contains(code),
            ("harmless", Outcome::Failed(error)) => !error.is_empty(),
            ("harmless", Outcome::Published) => true,
            _ => false,
        };
        table.push(format!(
            "{name:<44} {:<9} {:>6.1} s  {}",
            case["expect"].as_str().unwrap(),
            started.elapsed().as_secs_f64(),
            match &outcome {
                Outcome::Refused(code, body) => format!(
                    "{code} {}",
                    serde_json::from_str::<Value>(body).map_or_else(
                        |_| body.clone(),
                        |v| v["detail"].as_str().unwrap_or("").to_owned()
                    )
                ),
                Outcome::Failed(error) => format!("failed: {error}"),
                Outcome::Published => "published".to_owned(),
            }
        ));
        if !as_expected {
            wrong.push(format!(
                "{name}: expected {} ({says:?}), got {outcome:?}",
                case["expect"]
            ));
        }
        assert!(server.is_running(), "the server exited during {name}");
        assert!(
            upload.healthy().await,
            "the server stopped answering after {name}"
        );
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        wrong.is_empty(),
        "cases that ended otherwise:\n{}",
        wrong.join("\n")
    );

    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "a request left for the listener"
    );
    let leaked: Vec<&String> = answers.iter().filter(|a| a.contains(&secret)).collect();
    assert!(leaked.is_empty(), "the secret was answered: {leaked:?}");
    let stored: Vec<String> = every_stored_text(&db.pool)
        .await
        .into_iter()
        .filter(|t| t.contains(&secret))
        .collect();
    assert!(stored.is_empty(), "the secret was stored: {stored:?}");
    assert_eq!(
        snapshot(&canary),
        canary_before,
        "the canary folder changed"
    );
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in the upload folder: {left:?}");
    let staging: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'bando_staging'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(staging, 0, "staging tables left behind");
}

/// The reader processes (`bando read-source`) the process `parent` started.
fn readers_of(parent: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(parent) && cmdline.split(|b| *b == 0).any(|arg| arg == b"read-source") {
            found.push(pid);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_killed_fails_its_job_only_and_is_not_retried() {
    let (db, key) = publisher().await;
    let (url, _calls) = listener();
    let work = tempfile::tempdir().unwrap();
    corpus(work.path(), &url, false);
    let corpus = work.path().join("corpus");
    // Two workers: the endless read holds one while the other runs the honest upload.
    let server = ServerProcess::start(&db.url, &["--import-workers", "2"], None);
    let upload = Upload {
        client: reqwest::Client::new(),
        base: server.base.clone(),
        key,
    };
    let (status, body) = upload
        .send(
            "construction_forever",
            &corpus.join("forever.gpkg"),
            "forever.gpkg",
            &[],
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    let forever: Value = serde_json::from_str(&body).unwrap();
    // The reader reading the endless view: found by the process table, not by waiting.
    let deadline = Instant::now() + Duration::from_secs(60);
    let reader = loop {
        if let Some(pid) = readers_of(server.pid()).first() {
            break *pid;
        }
        assert!(Instant::now() < deadline, "no reader process started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (status, body) = upload
        .send(
            "construction_points",
            &corpus.join("points.geojson"),
            "points.geojson",
            &[],
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    let honest: Value = serde_json::from_str(&body).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(reader),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed = upload
        .ended(forever["url"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(killed["status"], "failed", "{killed}");
    assert!(
        killed["error"]
            .as_str()
            .unwrap()
            .contains("killed (SIGKILL)"),
        "{killed}"
    );
    assert_eq!(
        killed["attempts"], 1,
        "a hostile file is not retried: {killed}"
    );
    assert_eq!(killed["reader"]["signal"], 9, "{killed}");
    assert!(
        killed["reader"]["peak_memory_bytes"].as_u64().unwrap() > 0,
        "{killed}"
    );
    let published = upload
        .ended(honest["url"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(published["status"], "succeeded", "{published}");
    assert_eq!(published["features_written"], 20, "{published}");
    assert_eq!(published["reader"]["exit_code"], 0, "{published}");
    assert_eq!(published["reader"]["driver"], "GeoJSON", "{published}");
    assert!(upload.healthy().await);
    let staging: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'bando_staging'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(staging, 0, "staging tables left behind");
}
