//! One import, end to end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bando_core::audit::Actor;
use bando_core::layer::{Visibility, qualified_table, validate_slug};
use bando_core::tile::MAX_ZOOM;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::convert::Converter;
use crate::error::{ImportError, ImportResult};
use crate::job::{JobFinish, JobStart, JobStatus, Stage, enter_stage, finish_job, start_job};
use crate::merge::PublishMode;
use crate::publish::{LayerEntry, publish};
use crate::reader::{Problem, ReadRules, ReadStats, ValidationPolicy};
use crate::reading::{ReadOrder, ReaderReport, Reading, SourceStream, SourceSummary};
use crate::search_index::{NameRows, prepare_names};
use crate::source::SourceOptions;
use crate::staging::{
    copy_sql, create_table_sql, field_defs, index, repair, staged_names_table, staging_table_name,
    uncompressed_geometry_sql,
};

/// What to import and how. Serialisable: a queued job keeps it to run anywhere.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ImportRequest {
    /// A file, or a folder whose vector files are merged into one layer.
    pub path: PathBuf,
    /// Target layer slug.
    pub layer: String,
    /// Layer title (default: the slug, or the current title).
    pub title: Option<String>,
    /// Layer description.
    pub description: Option<String>,
    /// Attribution shown on maps.
    pub attribution: Option<String>,
    /// Lowest zoom served.
    pub minzoom: Option<u8>,
    /// Highest zoom served.
    pub maxzoom: Option<u8>,
    /// How to read the source (layer, CRS override, encoding, CSV columns).
    pub source: SourceOptions,
    /// Admin layout the layer belongs to (e.g. `2019`, `2025`).
    pub layout: Option<String>,
    /// Boundary layers: `city`, `district` or `ward`.
    pub admin_level: Option<String>,
    /// First day the layer is valid.
    pub valid_from: Option<chrono::NaiveDate>,
    /// First day it is no longer valid.
    pub valid_to: Option<chrono::NaiveDate>,
    /// Converter for a non-GIS source (bus NDJSON, dvhcvn JSON).
    pub convert: Option<Converter>,
    /// Replace the layer, append to it, or upsert by a key column.
    pub mode: PublishMode,
    /// What to do with bad features.
    pub policy: ValidationPolicy,
    /// WGS84 envelope features must touch (`None`: anywhere).
    pub area: Option<[f64; 4]>,
    /// Import even if the same file is already live.
    pub force: bool,
    /// Validate and report without publishing.
    pub dry_run: bool,
    /// Agency the layer belongs to: a new layer is created in its namespace, an existing one must
    /// already be its own (`None`: `hcmc` for new layers, any owner for existing ones).
    pub agency: Option<String>,
    /// Visibility of the layer (`None`: public for a new layer, unchanged otherwise).
    pub visibility: Option<Visibility>,
    /// Who runs the import, for the audit log.
    pub actor: Actor,
}

/// The result of an import, as printed by the CLI and stored with the job.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    /// Job id.
    pub job_id: i64,
    /// Outcome.
    pub status: JobStatus,
    /// Target layer.
    pub layer: String,
    /// Catalog version now live (None for dry runs and skips).
    pub version: Option<i32>,
    /// GDAL driver of the source.
    pub format: String,
    /// Source CRS.
    pub source_crs: String,
    /// Features read.
    pub read: u64,
    /// Features published.
    pub written: u64,
    /// Geometries repaired.
    pub repaired: u64,
    /// Features left out, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The first offending features.
    pub problems: Vec<Problem>,
    /// Things worth a look that did not stop the import.
    pub warnings: Vec<String>,
    /// WGS84 extent of the published data.
    pub bounds: Option<[f64; 4]>,
    /// Wall time.
    pub duration_ms: u64,
}

impl ImportOutcome {
    /// The outcome of a job skipped because its source is already live.
    pub fn skipped(
        job_id: i64,
        layer: String,
        format: String,
        source_crs: String,
        duration_ms: u64,
    ) -> Self {
        Self {
            job_id,
            status: JobStatus::Skipped,
            layer,
            version: None,
            format,
            source_crs,
            read: 0,
            written: 0,
            repaired: 0,
            skipped: BTreeMap::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
            bounds: None,
            duration_ms,
        }
    }
}

/// Progress callback: `(features read, features expected)`.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Imports `request` into the catalog of `pool`'s database (migrated).
pub async fn import(
    pool: &PgPool,
    request: &ImportRequest,
    progress: Progress,
) -> ImportResult<ImportOutcome> {
    import_reporting_job(pool, request, progress, None).await
}

/// [`import`], sending the job id on `job_started` as soon as the job row exists (so a caller
/// can answer "accepted, see job N" while the import runs). The sender is dropped unsent when the
/// request is refused before a job starts.
pub async fn import_reporting_job(
    pool: &PgPool,
    request: &ImportRequest,
    progress: Progress,
    job_started: Option<tokio::sync::oneshot::Sender<i64>>,
) -> ImportResult<ImportOutcome> {
    let started = Instant::now();
    validate_request(request)?;

    // A dedicated connection: it holds the job's advisory lock until the job ends or dies.
    let mut conn = pool.acquire().await?.detach();
    // lz4 compresses large text values several times faster than the default pglz (geometries
    // are stored uncompressed: see `uncompressed_geometry_sql`); servers built without it refuse
    // the setting, and keep pglz.
    if let Err(e) = sqlx::query("SET default_toast_compression = 'lz4'")
        .execute(&mut conn)
        .await
    {
        tracing::debug!(error = %e, "lz4 TOAST compression unavailable");
    }
    crate::queue::sweep(&mut conn).await?;
    check_agency(&mut conn, request.agency.as_deref()).await?;
    let source_path = request.path.display().to_string();
    let start = JobStart {
        layer: &request.layer,
        source_path: &source_path,
        mode: if request.dry_run {
            "dry-run"
        } else {
            request.mode.as_str()
        },
        policy: request.policy.as_str(),
        agency: request.agency.as_deref(),
    };
    // Every import is a job from here on, even one whose file cannot be opened.
    let job_id = start_job(&mut conn, &start).await?;
    if let Some(sender) = job_started {
        // The receiver may have gone (client disconnected): the import goes on regardless.
        let _ = sender.send(job_id);
    }
    let reading = Reading::InProcess;
    run_job(
        pool, &mut conn, request, job_id, progress, started, &reading,
    )
    .await
}

/// Runs a queued job this process has claimed (its row is `running`, its lock held on `conn`):
/// the same import as [`import`], recorded on that job.
pub(crate) async fn run_claimed(
    pool: &PgPool,
    conn: &mut PgConnection,
    request: &ImportRequest,
    job_id: i64,
    progress: Progress,
    reading: &Reading,
) -> ImportResult<ImportOutcome> {
    let started = Instant::now();
    let checked = match validate_request(request) {
        Ok(()) => check_agency(conn, request.agency.as_deref()).await,
        Err(e) => Err(e),
    };
    if let Err(error) = checked {
        return Err(fail_job(conn, job_id, None, error).await);
    }
    if let Err(e) = sqlx::query("SET default_toast_compression = 'lz4'")
        .execute(&mut *conn)
        .await
    {
        tracing::debug!(error = %e, "lz4 TOAST compression unavailable");
    }
    run_job(pool, conn, request, job_id, progress, started, reading).await
}

/// Records how the source was read, before the job's outcome (so nobody sees a job ended
/// without it).
async fn record_reader(conn: &mut PgConnection, job_id: i64, report: &ReaderReport) {
    if let Err(e) = crate::job::record_reader(conn, job_id, report).await {
        tracing::warn!(job_id, error = %e, "could not record how the source was read");
    }
}

/// Where a read happens: the folder for the files the reader makes and the order it is given
/// (a reader process works in the upload's own folder, with paths relative to it).
fn read_order(
    request: &ImportRequest,
    reading: &Reading,
) -> ImportResult<(ReadOrder, PathBuf, Option<tempfile::TempDir>)> {
    let zipped = request
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let order = ReadOrder {
        path: request.path.clone(),
        source: request.source.clone(),
        convert: request.convert,
        rules: ReadRules {
            policy: request.policy,
            area: request.area,
        },
        unpack_cap: None,
    };
    match reading {
        Reading::Confined { limits, .. } => {
            let (Some(folder), Some(name)) = (request.path.parent(), request.path.file_name())
            else {
                return Err(ImportError::Source {
                    path: request.path.clone(),
                    reason: "is not a file in a job's folder".to_owned(),
                });
            };
            let order = ReadOrder {
                path: name.into(),
                unpack_cap: zipped.then_some(limits.file_bytes),
                ..order
            };
            Ok((order, folder.to_path_buf(), None))
        }
        Reading::InProcess => {
            let dir = tempfile::Builder::new()
                .prefix(&bando_core::scratch::prefix("convert"))
                .tempdir()
                .map_err(|e| ImportError::Source {
                    path: std::env::temp_dir(),
                    reason: e.to_string(),
                })?;
            let order = ReadOrder {
                unpack_cap: zipped.then_some(crate::reading::ReaderLimits::default().file_bytes),
                ..order
            };
            Ok((order, dir.path().to_path_buf(), Some(dir)))
        }
    }
}

/// Bytes of the source's files (a folder's direct entries), from their metadata only.
fn source_size(path: &std::path::Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta.len(),
        Ok(_) => std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(std::fs::Metadata::is_file)
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0),
        Err(_) => 0,
    }
}

/// The import of a started job, from reading its source to publishing (or failing it). How
/// the source was read (`reading`: which driver, and for a reader process how it ended) is
/// recorded on the job before its outcome, whatever the outcome.
async fn run_job(
    pool: &PgPool,
    conn: &mut PgConnection,
    request: &ImportRequest,
    job_id: i64,
    progress: Progress,
    started: Instant,
    reading: &Reading,
) -> ImportResult<ImportOutcome> {
    enter_stage(conn, job_id, Stage::Reading).await?;
    let (order, work_dir, _work_dir_kept) = match read_order(request, reading) {
        Ok(found) => found,
        Err(error) => return Err(fail_job(&mut *conn, job_id, None, error).await),
    };
    let source_bytes = source_size(&request.path);
    let mut stream = reading.start(order, &work_dir);
    // While the source is read, the server loads PROJ for the Web Mercator column (its first
    // ST_Transform in a session costs tens of ms) and a helper connection opens: they overlap
    // instead of adding up.
    let (summary, warmed, mut helper) = tokio::join!(
        stream.summary(),
        sqlx::query("SELECT bando.to_web_mercator('SRID=4326;POINT(0 0)'::geometry)")
            .execute(&mut *conn),
        open_helper(pool, request, source_bytes),
    );
    let close_helper = |helper: Option<PgConnection>| async move {
        if let Some(helper) = helper {
            // Closed, not dropped: the server then logs no broken connection.
            let _ = sqlx::Connection::close(helper).await;
        }
    };
    if let Err(e) = warmed {
        record_reader(conn, job_id, &stream.finish().await.report).await;
        close_helper(helper).await;
        return Err(fail_job(&mut *conn, job_id, None, e.into()).await);
    }
    let Some(summary) = summary else {
        let end = stream.finish().await;
        record_reader(conn, job_id, &end.report).await;
        close_helper(helper).await;
        let error = end.result.err().unwrap_or_else(|| {
            ImportError::ReaderStopped("the reader ended without planning the source".to_owned())
        });
        return Err(fail_job(&mut *conn, job_id, None, error).await);
    };
    describe_source(
        &mut *conn,
        job_id,
        &summary.format,
        &summary.checksum,
        &summary.crs_label,
    )
    .await?;

    if !request.force && !request.dry_run {
        let unchanged: Option<i64> = sqlx::query_scalar(include_str!("sql/unchanged_source.sql"))
            .bind(&request.layer)
            .bind(&summary.checksum)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(previous_job) = unchanged {
            record_reader(conn, job_id, &stream.finish().await.report).await;
            close_helper(helper.take()).await;
            let report = serde_json::json!({ "unchanged_since_job": previous_job });
            finish_job(&mut *conn, &JobFinish::skipped(job_id, report), None).await?;
            return Ok(ImportOutcome::skipped(
                job_id,
                request.layer.clone(),
                summary.format.clone(),
                summary.crs_label.clone(),
                elapsed_ms(started),
            ));
        }
    }

    let staging = staging_table_name(job_id);
    let published = load_and_publish(
        &mut *conn,
        helper.as_mut(),
        request,
        &summary,
        stream,
        job_id,
        &staging,
        progress,
    )
    .await;
    close_helper(helper).await;
    match published {
        Ok(mut outcome) => {
            outcome.duration_ms = elapsed_ms(started);
            Ok(outcome)
        }
        Err(error) => Err(fail_job(&mut *conn, job_id, Some(&staging), error).await),
    }
}

/// Refuses an import for an agency that does not exist.
pub(crate) async fn check_agency(
    conn: &mut PgConnection,
    agency: Option<&str>,
) -> ImportResult<()> {
    let Some(agency) = agency else {
        return Ok(());
    };
    if bando_core::api_key::agency_exists(&mut *conn, agency).await? {
        Ok(())
    } else {
        Err(ImportError::InvalidOption {
            field: "agency",
            reason: format!("no agency {agency:?}"),
        })
    }
}

/// Sources smaller than this are imported on one connection: starting a second one costs the
/// server ~15 ms (a backend process, loading PostGIS and the unaccent rules), more than it saves
/// on a small layer (measured: 0.6 MB of roads got slower with it, 2–2.5 MB of wards or
/// buildings faster).
const HELPER_MIN_SOURCE_BYTES: u64 = 1 << 20;

/// A second connection for the work on the staging table that can run beside the main one's
/// (see [`load_and_publish`]); only a replacing publish of a source of at least
/// [`HELPER_MIN_SOURCE_BYTES`] (the size of its files, `source_bytes`) uses it. `None` otherwise,
/// or when it cannot be had: the import then does everything on its own connection.
async fn open_helper(
    pool: &PgPool,
    request: &ImportRequest,
    source_bytes: u64,
) -> Option<PgConnection> {
    if request.dry_run || request.mode != PublishMode::Replace {
        return None;
    }
    if source_bytes < HELPER_MIN_SOURCE_BYTES {
        return None;
    }
    let opened = async {
        let mut conn: PgConnection =
            sqlx::Connection::connect_with(&*pool.connect_options()).await?;
        bando_core::db::set_up_session(&mut conn).await?;
        // A new session loads PostGIS and the unaccent rules on first use (tens of ms): done
        // now, while the file is read, rather than when the search rows are wanted.
        sqlx::query(
            "SELECT bando.fold('Bến Nghé'), \
             ST_PointOnSurface('POLYGON((0 0, 1 0, 1 1, 0 0))'::geometry)",
        )
        .execute(&mut conn)
        .await?;
        Ok::<_, sqlx::Error>(conn)
    };
    match opened.await {
        Ok(conn) => Some(conn),
        Err(e) => {
            tracing::debug!(error = %e, "no helper connection, working on one");
            None
        }
    }
}

pub(crate) async fn describe_source(
    conn: &mut PgConnection,
    job_id: i64,
    format: &str,
    checksum: &str,
    crs: &str,
) -> ImportResult<()> {
    sqlx::query(
        "UPDATE bando.import_jobs SET source_format = $2, source_checksum = $3, source_crs = $4 \
         WHERE id = $1",
    )
    .bind(job_id)
    .bind(format)
    .bind(checksum)
    .bind(crs)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed job, leaving the live layer as it was (the staging table is dropped);
/// returns the error for the caller.
pub(crate) async fn fail_job(
    conn: &mut PgConnection,
    job_id: i64,
    staging: Option<&str>,
    error: ImportError,
) -> ImportError {
    if let Some(staging) = staging {
        let _ = sqlx::query(&format!(
            "DROP TABLE IF EXISTS {}, {}",
            qualified_table(staging),
            qualified_table(&staged_names_table(staging))
        ))
        .execute(&mut *conn)
        .await;
    }
    let finish = JobFinish {
        job_id,
        status: JobStatus::Failed,
        read: 0,
        written: 0,
        repaired: 0,
        skipped: 0,
        report: serde_json::json!({}),
        error: Some(error.to_string()),
    };
    if let Err(e) = finish_job(conn, &finish, None).await {
        tracing::error!(job_id, error = %e, "could not record the failed job");
    }
    error
}

pub(crate) fn validate_request(request: &ImportRequest) -> ImportResult<()> {
    validate_slug(&request.layer)?;
    for (field, zoom) in [("minzoom", request.minzoom), ("maxzoom", request.maxzoom)] {
        if zoom.is_some_and(|z| z > MAX_ZOOM) {
            return Err(ImportError::InvalidOption {
                field,
                reason: format!("must be at most {MAX_ZOOM}"),
            });
        }
    }
    if let (Some(min), Some(max)) = (request.minzoom, request.maxzoom)
        && min > max
    {
        return Err(ImportError::InvalidOption {
            field: "minzoom",
            reason: format!("{min} is above maxzoom {max}"),
        });
    }
    Ok(())
}

/// Loads the staging table, readies it and publishes it. With a `helper` connection, the search
/// rows are computed on it while the main connection indexes and analyses the staging table.
#[allow(clippy::too_many_arguments)]
async fn load_and_publish(
    conn: &mut PgConnection,
    helper: Option<&mut PgConnection>,
    request: &ImportRequest,
    plan: &SourceSummary,
    stream: SourceStream,
    job_id: i64,
    staging: &str,
    progress: Progress,
) -> ImportResult<ImportOutcome> {
    let generalize = !plan.points_only;
    sqlx::query(&create_table_sql(staging, &plan.fields))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&uncompressed_geometry_sql(staging))
        .execute(&mut *conn)
        .await?;
    enter_stage(conn, job_id, Stage::Loading).await?;
    let (stats, report) = copy_rows(conn, plan, stream, staging, progress).await;
    record_reader(conn, job_id, &report).await;
    let stats = stats?;
    if stats.written == 0 {
        return Err(ImportError::NothingToPublish {
            path: request.path.clone(),
            skipped: stats.skipped_total(),
            reasons: stats
                .skipped
                .iter()
                .map(|(reason, n)| format!("{reason}: {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    enter_stage(conn, job_id, Stage::Indexing).await?;
    let repaired = repair(conn, staging, stats.fids_unique, request.policy, generalize).await?;
    let fields = field_defs(&plan.fields);
    let names_table = staged_names_table(staging);
    let rows_left = i64::try_from(stats.written).unwrap_or(i64::MAX)
        - i64::try_from(repaired.skipped_invalid + repaired.dropped_after_repair).unwrap_or(0);
    let names_on_helper = async {
        match helper {
            Some(helper) => {
                prepare_names(
                    helper,
                    staging,
                    &names_table,
                    &fields,
                    rows_left,
                    &request.layer,
                )
                .await
            }
            None => Ok(false),
        }
    };
    let (prepared, names_prepared) = tokio::join!(
        index(conn, staging, &plan.fields, repaired),
        names_on_helper
    );
    let prepared = prepared?;
    // The helper only saves time: if it failed (e.g. its idle session was closed while the file
    // was read), the publish computes the names itself.
    let mut warnings = stats.warnings;
    let names_prepared = match names_prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            tracing::warn!(error = %e, "search rows not prepared beside the import; publishing computes them");
            warnings.push(format!(
                "search rows computed while publishing: the second database connection failed ({e})"
            ));
            // The helper may have made the table before its connection failed.
            sqlx::query(&format!(
                "DROP TABLE IF EXISTS {}",
                qualified_table(&names_table)
            ))
            .execute(&mut *conn)
            .await?;
            false
        }
    };
    let names = if names_prepared {
        NameRows::Prepared(&names_table)
    } else {
        NameRows::FromLiveTable
    };
    let mut skipped = stats.skipped.clone();
    if prepared.skipped_invalid > 0 {
        skipped.insert("invalid_geometry", prepared.skipped_invalid);
    }
    if prepared.dropped_after_repair > 0 {
        skipped.insert("empty_after_repair", prepared.dropped_after_repair);
    }
    let report = serde_json::json!({
        "skipped": skipped,
        "repaired": { "invalid_geometry": prepared.repaired },
        "duplicate_ids": stats.duplicate_ids,
        "warnings": warnings,
        "problems": stats.examples,
    });
    let finish = JobFinish {
        job_id,
        status: JobStatus::Succeeded,
        read: stats.read,
        written: u64::try_from(prepared.feature_count).unwrap_or_default(),
        repaired: prepared.repaired,
        skipped: skipped.values().sum(),
        report,
        error: None,
    };
    let version = if request.dry_run {
        sqlx::query(&format!("DROP TABLE {}", qualified_table(staging)))
            .execute(&mut *conn)
            .await?;
        finish_job(conn, &finish, None).await?;
        None
    } else {
        let crs_label = plan.crs_label.clone();
        let entry = LayerEntry {
            slug: &request.layer,
            title: request.title.as_deref(),
            description: request.description.as_deref(),
            attribution: request.attribution.as_deref(),
            minzoom: request.minzoom.map(i16::from),
            maxzoom: request.maxzoom.map(i16::from),
            geometry_type: &prepared.geometry_type,
            source_srid: plan.epsg,
            source_crs: &crs_label,
            bounds: prepared.bounds,
            fields: &fields,
            feature_count: prepared.feature_count,
            layout: request.layout.as_deref(),
            valid_from: request.valid_from,
            valid_to: request.valid_to,
            generalized: !plan.points_only,
            admin_level: request.admin_level.as_deref(),
            agency: request.agency.as_deref(),
            visibility: request.visibility,
        };
        enter_stage(conn, job_id, Stage::Publishing).await?;
        let version = publish(
            conn,
            staging,
            names,
            &entry,
            &finish,
            &request.mode,
            &request.actor,
        )
        .await?;
        // A killed importer's session may have outlived the clean-up at our start (PostgreSQL
        // notices a dead client only when its statement ends): clean up once more.
        crate::queue::sweep(conn).await?;
        Some(version)
    };
    Ok(ImportOutcome {
        job_id,
        status: JobStatus::Succeeded,
        layer: request.layer.clone(),
        version,
        format: plan.format.clone(),
        source_crs: plan.crs_label.clone(),
        read: stats.read,
        written: finish.written,
        repaired: prepared.repaired,
        skipped,
        problems: stats.examples,
        warnings,
        bounds: prepared.bounds,
        duration_ms: 0,
    })
}

/// Streams the reader's rows into the staging table with `COPY`; with how the read ended.
async fn copy_rows(
    conn: &mut PgConnection,
    plan: &SourceSummary,
    mut stream: SourceStream,
    staging: &str,
    progress: Progress,
) -> (ImportResult<ReadStats>, ReaderReport) {
    let expected = plan.feature_count;
    let tell = move |read: u64| progress(read, expected);
    let mut copy = match conn.copy_in_raw(&copy_sql(staging, &plan.fields)).await {
        Ok(copy) => copy,
        Err(e) => return (Err(e.into()), stream.finish().await.report),
    };
    let mut send_error = None;
    while let Some(chunk) = stream.next_rows(&tell).await {
        if let Err(e) = copy.send(chunk).await {
            send_error = Some(e);
            break;
        }
    }
    let end = stream.finish().await;
    if let Some(e) = send_error {
        let _ = copy.abort("import failed").await;
        return (Err(e.into()), end.report);
    }
    let result = match end.result {
        Ok(stats) => {
            tell(stats.read);
            copy.finish()
                .await
                .map(|_| stats)
                .map_err(ImportError::from)
        }
        Err(e) => {
            let _ = copy.abort("import failed").await;
            Err(e)
        }
    };
    (result, end.report)
}

pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
