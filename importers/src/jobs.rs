//! `jobs list` and `jobs show`: reading import jobs back.

use std::fmt::Write;

use serde::Serialize;
use sqlx::PgPool;
use sqlx::types::Json;

use crate::error::ImportResult;

/// One row of `bando.import_jobs`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRecord {
    /// Job id.
    pub id: i64,
    /// Target layer.
    pub layer_slug: String,
    /// running, succeeded, failed, skipped.
    pub status: String,
    /// replace, dry-run, rollback, ...
    pub mode: String,
    /// Database role that ran it.
    pub requested_by: String,
    /// Source path as given.
    pub source_path: String,
    /// GDAL driver.
    pub source_format: Option<String>,
    /// SHA-256 of the source.
    pub source_checksum: Option<String>,
    /// CRS in.
    pub source_crs: Option<String>,
    /// CRS out.
    pub target_crs: String,
    /// Validation policy.
    pub policy: String,
    /// Counts.
    pub features_read: i64,
    /// Counts.
    pub features_written: i64,
    /// Counts.
    pub features_repaired: i64,
    /// Counts.
    pub features_skipped: i64,
    /// The validation report.
    pub report: Json<serde_json::Value>,
    /// Error of a failed job.
    pub error: Option<String>,
    /// Version it published.
    pub published_version: Option<i32>,
    /// Start.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// End.
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Wall time.
    pub duration_ms: Option<i64>,
    /// How the source was read: driver, and a reader process's exit, peak memory and CPU.
    pub reader: Option<Json<crate::reading::ReaderReport>>,
}

/// The newest `limit` jobs, optionally of one layer.
pub async fn list_jobs(
    pool: &PgPool,
    layer: Option<&str>,
    limit: i64,
) -> ImportResult<Vec<JobRecord>> {
    Ok(sqlx::query_as(include_str!("sql/list_jobs.sql"))
        .bind(layer)
        .bind(None::<i64>)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// One job.
pub async fn get_job(pool: &PgPool, id: i64) -> ImportResult<Option<JobRecord>> {
    Ok(sqlx::query_as(include_str!("sql/list_jobs.sql"))
        .bind(None::<&str>)
        .bind(id)
        .bind(1_i64)
        .fetch_optional(pool)
        .await?)
}

/// A table, one job a line.
pub fn render_list(jobs: &[JobRecord]) -> String {
    let mut out = format!(
        "{:>6}  {:<20} {:<10} {:<8} {:>9} {:>9} {:>8}  {}\n",
        "id", "layer", "status", "mode", "read", "written", "ms", "started"
    );
    for j in jobs {
        let _ = writeln!(
            out,
            "{:>6}  {:<20} {:<10} {:<8} {:>9} {:>9} {:>8}  {}",
            j.id,
            j.layer_slug,
            j.status,
            j.mode,
            j.features_read,
            j.features_written,
            j.duration_ms
                .map_or_else(|| "-".to_owned(), |d| d.to_string()),
            j.started_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    out.trim_end().to_owned()
}

/// Every field of one job, with its report.
pub fn render_job(j: &JobRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "job {} — {} ({})", j.id, j.status, j.mode);
    let _ = writeln!(out, "layer:     {}", j.layer_slug);
    let _ = writeln!(
        out,
        "source:    {} [{}]",
        j.source_path,
        j.source_format.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "checksum:  {}",
        j.source_checksum.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "crs:       {} -> {}",
        j.source_crs.as_deref().unwrap_or("-"),
        j.target_crs
    );
    let _ = writeln!(out, "policy:    {}", j.policy);
    let _ = writeln!(
        out,
        "features:  {} read, {} written, {} repaired, {} skipped",
        j.features_read, j.features_written, j.features_repaired, j.features_skipped
    );
    let _ = writeln!(
        out,
        "by:        {} at {}",
        j.requested_by,
        j.started_at.to_rfc3339()
    );
    if let Some(ms) = j.duration_ms {
        let _ = writeln!(out, "duration:  {ms} ms");
    }
    if let Some(v) = j.published_version {
        let _ = writeln!(out, "published: version {v}");
    }
    if let Some(e) = &j.error {
        let _ = writeln!(out, "error:     {e}");
    }
    if let Some(Json(reader)) = &j.reader
        && reader.isolated
    {
        let _ = writeln!(
            out,
            "reader:    {}, {}, peak {} MiB, {:.2} s CPU",
            reader.driver.as_deref().unwrap_or("no driver"),
            reader.exit.as_deref().unwrap_or("-"),
            reader.peak_memory_bytes.unwrap_or(0) / (1024 * 1024),
            reader.cpu_seconds.unwrap_or(0.0)
        );
    }
    let _ = write!(
        out,
        "report:    {}",
        serde_json::to_string_pretty(&j.report.0).unwrap_or_default()
    );
    out
}
