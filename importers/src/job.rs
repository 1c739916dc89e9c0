//! Import job rows (`bando.import_jobs`): one per import, from start to outcome.
//!
//! A running job holds a session advisory lock keyed by its id on the importer's connection. If
//! the importer dies, PostgreSQL releases the lock, and the next sweep (every server runs one at
//! start and periodically; every import runs one first) finds the job dead: a queued upload is
//! queued again while it has attempts left, any other job is marked failed, and staging tables
//! no live job owns are dropped (`queue.rs`).

use serde::Serialize;
use sqlx::PgConnection;

use crate::error::ImportResult;

/// First key of the advisory locks of import jobs ("band" in ASCII).
pub const JOB_LOCK_CLASS: i32 = 1_650_552_420;

/// Final state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Published (or validated, in a dry run).
    Succeeded,
    /// Stopped by an error; nothing was published.
    Failed,
    /// The same file was already live; nothing was done.
    Skipped,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// Everything recorded when a job ends.
#[derive(Debug, Clone)]
pub struct JobFinish {
    /// The job.
    pub job_id: i64,
    /// Outcome.
    pub status: JobStatus,
    /// Features read.
    pub read: u64,
    /// Rows published.
    pub written: u64,
    /// Geometries repaired.
    pub repaired: u64,
    /// Features left out.
    pub skipped: u64,
    /// The validation report.
    pub report: serde_json::Value,
    /// Error message of a failed job.
    pub error: Option<String>,
}

impl JobFinish {
    /// A job skipped (nothing to do), with why in `report`.
    pub fn skipped(job_id: i64, report: serde_json::Value) -> Self {
        Self {
            job_id,
            status: JobStatus::Skipped,
            read: 0,
            written: 0,
            repaired: 0,
            skipped: 0,
            report,
            error: None,
        }
    }
}

/// What a job is started with.
#[derive(Debug, Clone)]
pub struct JobStart<'a> {
    /// Target layer.
    pub layer: &'a str,
    /// Source path as given.
    pub source_path: &'a str,
    /// `replace` or `dry-run`.
    pub mode: &'a str,
    /// Validation policy.
    pub policy: &'a str,
    /// Agency the import runs for.
    pub agency: Option<&'a str>,
}

/// Where a running job is: shown by `GET /v1/jobs/{id}`, and the places the recovery tests and
/// fault drills stop an import at (`FAILPOINTS=import::indexing=pause`; inert otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading and checking the source file.
    Reading,
    /// Writing the features into the staging table.
    Loading,
    /// Repairing, indexing and analysing the staging table.
    Indexing,
    /// Swapping the new version in.
    Publishing,
}

impl Stage {
    /// Its name in `import_jobs.stage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reading => "reading",
            Self::Loading => "loading",
            Self::Indexing => "indexing",
            Self::Publishing => "publishing",
        }
    }
}

/// Records that `job_id` has reached `stage`.
pub async fn enter_stage(conn: &mut PgConnection, job_id: i64, stage: Stage) -> ImportResult<()> {
    sqlx::query("UPDATE bando.import_jobs SET stage = $2 WHERE id = $1")
        .bind(job_id)
        .bind(stage.as_str())
        .execute(&mut *conn)
        .await?;
    match stage {
        Stage::Reading => fail::fail_point!("import::reading"),
        Stage::Loading => fail::fail_point!("import::loading"),
        Stage::Indexing => fail::fail_point!("import::indexing"),
        Stage::Publishing => fail::fail_point!("import::publishing"),
    }
    Ok(())
}

/// Inserts the job row and takes its lock on `conn` (which must stay open for the whole job).
pub async fn start_job(conn: &mut PgConnection, job: &JobStart<'_>) -> ImportResult<i64> {
    let id: i64 = sqlx::query_scalar(include_str!("sql/start_job.sql"))
        .bind(job.layer)
        .bind(job.source_path)
        .bind(job.mode)
        .bind(job.policy)
        .bind(job.agency)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_advisory_lock($1, $2::int)")
        .bind(JOB_LOCK_CLASS)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// Records the outcome of a job.
pub async fn finish_job(
    conn: &mut PgConnection,
    job: &JobFinish,
    published_version: Option<i32>,
) -> ImportResult<()> {
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    sqlx::query(include_str!("sql/finish_job.sql"))
        .bind(job.job_id)
        .bind(job.status.as_str())
        .bind(to_i64(job.read))
        .bind(to_i64(job.written))
        .bind(to_i64(job.repaired))
        .bind(to_i64(job.skipped))
        .bind(&job.report)
        .bind(job.error.as_deref())
        .bind(published_version)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records how the job's source was read (driver; a reader process's exit and usage).
pub async fn record_reader(
    conn: &mut PgConnection,
    job_id: i64,
    report: &crate::reading::ReaderReport,
) -> ImportResult<()> {
    sqlx::query("UPDATE bando.import_jobs SET reader = $2 WHERE id = $1")
        .bind(job_id)
        .bind(sqlx::types::Json(report))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
