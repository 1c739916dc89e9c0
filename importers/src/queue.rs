//! The durable import queue: an upload is stored in the database with its job (`queued`), any
//! live server takes it (`FOR UPDATE SKIP LOCKED`) and runs it holding the job's advisory lock;
//! a job whose runner dies is found by [`sweep`] (its lock is free) and queued again, up to its
//! `max_attempts`, then failed with the reason. A re-run is safe: nothing is live until the
//! atomic publish, and a dead attempt's staging tables are dropped first.

use std::path::{Path, PathBuf};

use sqlx::{PgConnection, PgPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{ImportError, ImportResult};
use crate::import::{ImportOutcome, ImportRequest};
use crate::job::{JOB_LOCK_CLASS, JobStatus};

/// Bytes per stored chunk of an upload: streamed in and out a chunk at a time.
const CHUNK_BYTES: usize = 1024 * 1024;

/// The notification a server listens to for new work (any instance may take it).
pub const JOBS_CHANNEL: &str = "bando_jobs";

/// Stores `file` (named `file_name`) and queues the import of it described by `request`;
/// returns the job id. Nothing is queued unless all of it is stored.
pub async fn enqueue(
    pool: &PgPool,
    request: &ImportRequest,
    file: &Path,
    file_name: &str,
    max_attempts: i32,
) -> ImportResult<i64> {
    crate::import::validate_request(request)?;
    let mut tx = pool.begin().await?;
    crate::import::check_agency(&mut tx, request.agency.as_deref()).await?;
    let stored = serde_json::to_value(request).map_err(|e| ImportError::InvalidOption {
        field: "request",
        reason: e.to_string(),
    })?;
    let job_id: i64 = sqlx::query_scalar(include_str!("sql/enqueue_job.sql"))
        .bind(&request.layer)
        .bind(format!("upload:{file_name}"))
        .bind(if request.dry_run {
            "dry-run"
        } else {
            request.mode.as_str()
        })
        .bind(request.policy.as_str())
        .bind(request.agency.as_deref())
        .bind(&stored)
        .bind(max_attempts.max(1))
        .fetch_one(&mut *tx)
        .await?;
    let mut reader = tokio::fs::File::open(file)
        .await
        .map_err(|e| source_error(file, &e))?;
    let mut seq = 0i32;
    loop {
        let mut chunk = Vec::with_capacity(CHUNK_BYTES);
        let read = (&mut reader)
            .take(CHUNK_BYTES as u64)
            .read_to_end(&mut chunk)
            .await
            .map_err(|e| source_error(file, &e))?;
        if read == 0 {
            break;
        }
        sqlx::query(
            "INSERT INTO bando.job_files (job_id, file_name, seq, data) VALUES ($1, $2, $3, $4)",
        )
        .bind(job_id)
        .bind(file_name)
        .bind(seq)
        .bind(chunk)
        .execute(&mut *tx)
        .await?;
        seq += 1;
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(JOBS_CHANNEL)
        .bind(job_id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(job_id)
}

fn source_error(path: &Path, e: &std::io::Error) -> ImportError {
    ImportError::Source {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// A queued job this runner has taken: its lock is held on `conn` for as long as it runs.
#[derive(Debug)]
pub struct ClaimedJob {
    /// Job id.
    pub id: i64,
    /// The import to run (its `path` is set once the file is fetched).
    pub request: ImportRequest,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The stored file's name.
    pub file_name: String,
    /// The connection holding the job's advisory lock; the import runs on it.
    pub conn: PgConnection,
}

/// Takes the oldest queued job that is due, if any, for `runner` (an instance id).
pub async fn claim(pool: &PgPool, runner: &str) -> ImportResult<Option<ClaimedJob>> {
    let mut pooled = pool.acquire().await?;
    let row: Option<(i64, serde_json::Value, i32, i32, Option<String>, bool)> =
        sqlx::query_as(include_str!("sql/claim_job.sql"))
            .bind(runner)
            .bind(JOB_LOCK_CLASS)
            .fetch_optional(&mut *pooled)
            .await?;
    // No job: the connection holds no lock and goes back to the pool (an idle worker asks every
    // few seconds; opening a connection each time kept a core busy).
    let Some((id, stored, attempt, max_attempts, file_name, _locked)) = row else {
        return Ok(None);
    };
    // Taken out of the pool: it holds the job's lock until the job ends or its runner dies.
    let conn = pooled.detach();
    // Fault injection for the recovery tests and drills; inert unless `FAILPOINTS` names it.
    fail::fail_point!("job::claimed");
    let claimed = ClaimedJob {
        id,
        request: ImportRequest::default(),
        attempt,
        max_attempts,
        file_name: file_name.unwrap_or_else(|| "upload".to_owned()),
        conn,
    };
    match serde_json::from_value::<ImportRequest>(stored) {
        Ok(request) => Ok(Some(ClaimedJob { request, ..claimed })),
        Err(e) => {
            let mut claimed = claimed;
            let error = ImportError::InvalidOption {
                field: "request",
                reason: format!("the stored request cannot be read: {e}"),
            };
            Err(finish_unrun(&mut claimed, error).await)
        }
    }
}

/// How long until the next queued job that waits (a retry) is due; `None` when no queued job
/// waits (not zero: `greatest(NULL, 0)` is 0 in PostgreSQL, which once made idle workers spin).
pub async fn next_due_in(pool: &PgPool) -> ImportResult<Option<std::time::Duration>> {
    let wait: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM min(not_before) - now())::float8 \
         FROM bando.import_jobs WHERE status = 'queued' AND not_before IS NOT NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(wait.map(|seconds| std::time::Duration::from_secs_f64(seconds.max(0.0))))
}

/// Writes the stored file of `job` into `folder`; returns its path.
pub async fn fetch_file(job: &mut ClaimedJob, folder: &Path) -> ImportResult<PathBuf> {
    let name = Path::new(&job.file_name)
        .file_name()
        .map_or_else(|| PathBuf::from("upload"), PathBuf::from);
    let path = folder.join(name);
    let mut out = tokio::fs::File::create(&path)
        .await
        .map_err(|e| source_error(&path, &e))?;
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM bando.job_files WHERE job_id = $1")
        .bind(job.id)
        .fetch_one(&mut job.conn)
        .await?;
    for seq in 0..chunks {
        let data: Vec<u8> =
            sqlx::query_scalar("SELECT data FROM bando.job_files WHERE job_id = $1 AND seq = $2")
                .bind(job.id)
                .bind(i32::try_from(seq).unwrap_or(i32::MAX))
                .fetch_one(&mut job.conn)
                .await?;
        out.write_all(&data)
            .await
            .map_err(|e| source_error(&path, &e))?;
    }
    out.flush().await.map_err(|e| source_error(&path, &e))?;
    Ok(path)
}

/// Runs a claimed job with its file at `path` (set as the request's path); the stored file is
/// removed with the job's outcome (`finish_job.sql`).
pub async fn run(
    pool: &PgPool,
    mut job: ClaimedJob,
    path: PathBuf,
    progress: crate::import::Progress,
    reading: &crate::reading::Reading,
) -> ImportResult<ImportOutcome> {
    job.request.path = path;
    let id = job.id;
    let mut outcome =
        crate::import::run_claimed(pool, &mut job.conn, &job.request, id, progress, reading).await;
    if let Err(e) = record_outcome(&mut job.conn, id, &job.request, &outcome).await {
        tracing::warn!(job = id, error = %e, "could not record the job's outcome in the audit log");
    }
    let _ = sqlx::Connection::close(job.conn).await;
    if let Ok(done) = &mut outcome {
        done.job_id = id;
    }
    outcome
}

/// Ends a claimed job that cannot be run (its file could not be fetched, its request read):
/// failed with `error`, its file removed with the outcome; returns the error.
pub async fn finish_unrun(job: &mut ClaimedJob, error: ImportError) -> ImportError {
    let error = crate::import::fail_job(&mut job.conn, job.id, None, error).await;
    let failed: ImportResult<ImportOutcome> = Err(ImportError::InvalidOption {
        field: "job",
        reason: error.to_string(),
    });
    if let Err(e) = record_outcome(&mut job.conn, job.id, &job.request, &failed).await {
        tracing::warn!(job = job.id, error = %e, "could not record the job's outcome in the audit log");
    }
    error
}

/// The audit log's record of how a queued job ended (a publish is recorded by itself too).
async fn record_outcome(
    conn: &mut PgConnection,
    job_id: i64,
    request: &ImportRequest,
    outcome: &ImportResult<ImportOutcome>,
) -> ImportResult<()> {
    let (status, details) = match outcome {
        Ok(done) => (
            done.status,
            serde_json::json!({ "job": job_id, "status": done.status, "version": done.version }),
        ),
        Err(e) => (
            JobStatus::Failed,
            serde_json::json!({ "job": job_id, "status": JobStatus::Failed, "error": e.to_string() }),
        ),
    };
    let (attempts, reader): (i32, Option<serde_json::Value>) =
        sqlx::query_as("SELECT attempts, reader FROM bando.import_jobs WHERE id = $1")
            .bind(job_id)
            .fetch_one(&mut *conn)
            .await?;
    let mut details = details;
    details["attempts"] = attempts.into();
    if let Some(reader) = reader {
        // Which driver read the file, and how its reader process ended.
        details["reader"] = reader;
    }
    bando_core::audit::record(
        &mut *conn,
        &request.actor,
        bando_core::audit::AuditEntry {
            action: match status {
                JobStatus::Failed => "import_failed",
                _ => "import",
            },
            agency: request.agency.as_deref(),
            target: &request.layer,
            details,
        },
    )
    .await?;
    Ok(())
}

/// What a sweep found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Interrupted jobs queued again.
    pub requeued: Vec<i64>,
    /// Interrupted jobs failed (out of attempts, or not re-runnable).
    pub failed: Vec<i64>,
    /// Leftover staging tables dropped.
    pub staging_dropped: usize,
}

/// Finds jobs whose runner died (their advisory lock is free): queued again while attempts are
/// left and their file is stored, else failed with the reason; then drops staging tables and
/// stored files no live job owns. Safe to run from every instance at once.
pub async fn sweep(conn: &mut PgConnection) -> ImportResult<Swept> {
    // One transaction: a job is never seen failed without its outcome in the audit log, or
    // without its staging table and stored file gone.
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let interrupted: Vec<(i64, String, Option<String>)> =
        sqlx::query_as(include_str!("sql/sweep_interrupted_jobs.sql"))
            .bind(JOB_LOCK_CLASS)
            .fetch_all(&mut *tx)
            .await?;
    let mut swept = Swept::default();
    for (id, status, request) in interrupted {
        if status == "queued" {
            swept.requeued.push(id);
        } else {
            swept.failed.push(id);
            // The outcome of a queued job, in the audit log like the ones that ran to the end.
            if let Some(request) =
                request.and_then(|r| serde_json::from_str::<ImportRequest>(&r).ok())
            {
                let error: ImportResult<ImportOutcome> = Err(ImportError::InvalidOption {
                    field: "job",
                    reason: "the server stopped during the import".to_owned(),
                });
                record_outcome(&mut tx, id, &request, &error).await?;
            }
        }
    }
    let orphans: Vec<String> = sqlx::query_scalar(include_str!("sql/orphan_staging_tables.sql"))
        .fetch_all(&mut *tx)
        .await?;
    for table in &orphans {
        tracing::info!(%table, "dropping leftover staging table");
        sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(&mut *tx)
            .await?;
    }
    swept.staging_dropped = orphans.len();
    sqlx::query(
        "DELETE FROM bando.job_files f USING bando.import_jobs j \
         WHERE f.job_id = j.id AND j.finished_at IS NOT NULL",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // The try-locks taken on the dead jobs are session locks: they outlive the transaction.
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut *conn)
        .await?;
    if !swept.requeued.is_empty() {
        tracing::warn!(jobs = ?swept.requeued, "interrupted import jobs queued again");
        sqlx::query("SELECT pg_notify($1, 'requeued')")
            .bind(JOBS_CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    if !swept.failed.is_empty() {
        tracing::warn!(jobs = ?swept.failed, "interrupted import jobs failed");
    }
    Ok(swept)
}
