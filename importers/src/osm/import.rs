//! Importing a whole extract: the file is read once, every theme is drawn from it in one pass, the
//! theme tables (and the middle) are loaded and readied on two connections side by side, and all
//! of it is published in one transaction — readers see the old city or the new one, never a mix.
//! Each theme is one job, like any other layer's import.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bando_core::layer::qualified_table;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::areas::{Linework, assemble, linework};
use super::draw::{Drawer, ThemeRows, planned_fields};
use super::elements::Extract;
use super::geometry::lookup;
use super::middle::{self, Tables};
use super::themes::{Shape, THEMES, Theme};
use crate::error::{ImportError, ImportResult};
use crate::import::{
    ImportOutcome, ImportRequest, Progress, check_agency, describe_source, elapsed_ms,
    validate_request,
};
use crate::job::{JobFinish, JobStart, JobStatus, finish_job, start_job};
use crate::merge::PublishMode;
use crate::publish::{LayerEntry, publish};
use crate::search_index::{NameRows, prepare_names};
use crate::staging::{
    Prepared, copy_sql, create_table_sql, field_defs, index, repair, staged_names_table,
    staging_table_name, uncompressed_geometry_sql,
};

/// Attribution of every OSM theme unless the import names another.
pub const OSM_ATTRIBUTION: &str = "© OpenStreetMap contributors";

/// Outcome of one theme.
#[derive(Debug, Clone, Serialize)]
pub struct ThemeOutcome {
    /// The theme.
    pub theme: &'static str,
    /// Its import, or why there is none.
    pub outcome: Option<ImportOutcome>,
    /// Set when the extract has nothing for this theme.
    pub note: Option<String>,
}

/// Whether a path names an OSM extract (`.osm`, `.osm.pbf`, `.pbf`).
pub fn is_osm(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    name.ends_with(".osm") || name.ends_with(".osm.pbf") || name.ends_with(".pbf")
}

/// The layer slug of `theme` for an extract imported as `prefix`.
pub fn theme_slug(prefix: &str, theme: &Theme) -> String {
    format!("{prefix}_{}", theme.name)
}

/// Reads an extract, PBF or XML (told apart by their first byte: XML starts with `<`).
pub fn read_extract(path: &Path) -> ImportResult<Extract> {
    let first = std::fs::read(path)
        .ok()
        .and_then(|bytes| bytes.iter().copied().find(|b| !b.is_ascii_whitespace()));
    match first {
        None => Err(ImportError::Unreadable {
            path: path.to_path_buf(),
            message: "the file is empty".to_owned(),
        }),
        Some(b'<') => super::xml::read_osm_xml(path),
        Some(_) => super::pbf::read_pbf(path),
    }
}

/// Imports every theme of the extract at `base.path` as `<base.layer>_<theme>`.
pub async fn import_osm(
    pool: &PgPool,
    base: &ImportRequest,
    progress: Progress,
) -> ImportResult<Vec<ThemeOutcome>> {
    let started = Instant::now();
    for theme in &THEMES {
        validate_request(&ImportRequest {
            layer: theme_slug(&base.layer, theme),
            ..base.clone()
        })?;
    }
    if base.mode != PublishMode::Replace {
        return Err(ImportError::InvalidOption {
            field: "mode",
            reason: "an OSM extract replaces its themes; keep them current with change files \
                     (bando osm apply)"
                .to_owned(),
        });
    }
    // A dedicated connection: it holds the jobs' advisory locks until they end or die.
    let mut conn = pool.acquire().await?.detach();
    crate::queue::sweep(&mut conn).await?;
    check_agency(&mut conn, base.agency.as_deref()).await?;
    let source_path = base.path.display().to_string();
    let mut jobs = Vec::with_capacity(THEMES.len());
    for theme in &THEMES {
        let slug = theme_slug(&base.layer, theme);
        let start = JobStart {
            layer: &slug,
            source_path: &source_path,
            mode: if base.dry_run { "dry-run" } else { "replace" },
            policy: base.policy.as_str(),
            agency: base.agency.as_deref(),
        };
        jobs.push(start_job(&mut conn, &start).await?);
    }
    match run(pool, &mut conn, base, &jobs, progress, started).await {
        Ok(outcomes) => Ok(outcomes),
        Err(error) => {
            fail_jobs(&mut conn, &jobs, &error).await;
            Err(error)
        }
    }
}

/// Marks the still-running jobs failed and drops every staging table they made.
pub(crate) async fn fail_jobs(conn: &mut PgConnection, jobs: &[i64], error: &ImportError) {
    for &job in jobs {
        let staging = staging_table_name(job);
        let _ = sqlx::query(&format!(
            "DROP TABLE IF EXISTS {}, {}",
            qualified_table(&staging),
            qualified_table(&staged_names_table(&staging))
        ))
        .execute(&mut *conn)
        .await;
        let _ = middle::drop_tables(conn, &Tables::staging(job)).await;
    }
    let failed = sqlx::query(
        "UPDATE bando.import_jobs SET status = 'failed', error = $2, finished_at = now(), \
         duration_ms = (extract(epoch FROM now() - started_at) * 1000)::bigint \
         WHERE id = ANY($1) AND status = 'running'",
    )
    .bind(jobs)
    .bind(error.to_string())
    .execute(&mut *conn)
    .await;
    if let Err(e) = failed {
        tracing::error!(?jobs, error = %e, "could not record the failed jobs");
    }
}

async fn run(
    pool: &PgPool,
    conn: &mut PgConnection,
    base: &ImportRequest,
    jobs: &[i64],
    progress: Progress,
    started: Instant,
) -> ImportResult<Vec<ThemeOutcome>> {
    let path = base.path.clone();
    let checksum = tokio::task::spawn_blocking(move || {
        crate::checksum::source_checksum(&[path], "osm themes v2")
    })
    .await
    .map_err(|e| ImportError::ReaderStopped(e.to_string()))??;
    let format = if std::fs::read(&base.path)
        .ok()
        .and_then(|b| b.iter().copied().find(|b| !b.is_ascii_whitespace()))
        == Some(b'<')
    {
        "OSM XML"
    } else {
        "OSM PBF"
    };
    for &job in jobs {
        describe_source(conn, job, format, &checksum, "EPSG:4326").await?;
    }
    if !base.force && !base.dry_run && unchanged(conn, &base.layer, &checksum).await? {
        return skip_unchanged(conn, base, jobs, format, started).await;
    }

    // Read the file once.
    let path = base.path.clone();
    let extract = tokio::task::spawn_blocking(move || read_extract(&path))
        .await
        .map_err(|e| ImportError::ReaderStopped(e.to_string()))??;
    let objects =
        (extract.tagged_nodes.len() + extract.ways.len() + extract.relations.len()) as u64;
    progress(objects, objects);

    // Two connections from here: the second loads the middle (the objects kept for change
    // files) while the first has PostGIS assemble the multipolygons and the themes are drawn;
    // then both take themes to load and ready from one queue, the largest first.
    let extract = Arc::new(extract);
    let middle_staging = Tables::staging(jobs[0]);
    let mut helper = open_second_connection(pool).await;
    let (queue_sender, queue_receiver) = tokio::sync::oneshot::channel::<Arc<ThemeQueue>>();
    let middle_side = async {
        let rows = {
            let extract = Arc::clone(&extract);
            tokio::task::spawn_blocking(move || middle::rows(&extract))
                .await
                .map_err(|e| ImportError::ReaderStopped(e.to_string()))?
        };
        let mut done = Vec::new();
        match helper.as_mut() {
            Some(helper) => {
                middle::load(helper, &middle_staging, rows).await?;
                tracing::debug!(elapsed = ?started.elapsed(), "middle loaded");
                // The queue comes once the themes are drawn (or never, if drawing failed).
                if let Ok(queue) = queue_receiver.await {
                    done = stage_from(helper, base, jobs, &queue).await?;
                }
                Ok::<_, ImportError>((done, None))
            }
            None => Ok((done, Some(rows))),
        }
    };
    let theme_side = async {
        let work = relation_linework(&extract);
        let assembled = assemble(conn, &work).await?;
        tracing::debug!(elapsed = ?started.elapsed(), relations = work.len(), "multipolygons assembled");
        let drawer = {
            let extract = Arc::clone(&extract);
            tokio::task::spawn_blocking(move || {
                let mut drawer = Drawer::default();
                for node in &extract.tagged_nodes {
                    drawer.node(node);
                }
                let location = lookup(&extract.locations);
                for way in &extract.ways {
                    drawer.way(way, &location);
                }
                for (relation, lines) in extract
                    .relations
                    .iter()
                    .filter(|r| Drawer::wants_relation(r))
                    .zip(&work)
                {
                    drawer.relation(relation, assembled.get(&relation.id), lines.missing_members);
                }
                drawer
            })
            .await
            .map_err(|e| ImportError::ReaderStopped(e.to_string()))?
        };
        tracing::debug!(elapsed = ?started.elapsed(), "themes drawn");
        let (queue, rows) = ThemeQueue::new(drawer.themes);
        let queue = Arc::new(queue);
        let _ = queue_sender.send(Arc::clone(&queue));
        let done = stage_from(conn, base, jobs, &queue).await?;
        Ok::<_, ImportError>((done, rows))
    };
    let (middle_result, theme_result) = tokio::join!(middle_side, theme_side);
    let (mut staged_here, rows) = theme_result?;
    let (staged_there, unloaded_middle) = middle_result?;
    if let Some(helper) = helper {
        let _ = sqlx::Connection::close(helper).await;
    }
    if let Some(middle_rows) = unloaded_middle {
        // No second connection: the middle goes in on this one.
        middle::load(conn, &middle_staging, middle_rows).await?;
    }
    staged_here.extend(staged_there);
    let mut staged: Vec<Staged> = rows
        .into_iter()
        .map(|rows| Staged {
            rows,
            prepared: None,
        })
        .collect();
    for (index, prepared) in staged_here {
        staged[index].prepared = Some(prepared);
    }
    tracing::debug!(elapsed = ?started.elapsed(), "themes staged");

    // Publish every theme and the middle in one transaction.
    let mut outcomes = Vec::with_capacity(THEMES.len());
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for ((theme, &job), staged) in THEMES.iter().zip(jobs).zip(staged) {
        outcomes.push(finish_theme(&mut tx, base, theme, job, staged, format).await?);
    }
    if base.dry_run {
        middle::drop_tables(&mut tx, &middle_staging).await?;
    } else {
        middle::swap_in(&mut tx, &middle_staging, &base.layer).await?;
        sqlx::query(
            "INSERT INTO bando.osm_sources (prefix, source_path, source_checksum, data_timestamp) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (prefix) DO UPDATE SET source_path = EXCLUDED.source_path, \
             source_checksum = EXCLUDED.source_checksum, data_timestamp = EXCLUDED.data_timestamp, \
             imported_at = now(), updated_at = now(), changes_applied = 0",
        )
        .bind(&base.layer)
        .bind(base.path.display().to_string())
        .bind(&checksum)
        .bind(extract.timestamp)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::debug!(elapsed = ?started.elapsed(), "themes published");
    if !base.dry_run {
        // A killed importer's session may have outlived the clean-up at our start.
        crate::queue::sweep(conn).await?;
    }
    let duration = elapsed_ms(started);
    for outcome in outcomes.iter_mut().filter_map(|o| o.outcome.as_mut()) {
        outcome.duration_ms = duration;
    }
    Ok(outcomes)
}

/// The member lines of every relation a theme draws, in the order of `extract.relations`.
fn relation_linework(extract: &Extract) -> Vec<Linework> {
    let ways = extract.ways_by_id();
    let location = lookup(&extract.locations);
    extract
        .relations
        .iter()
        .filter(|r| Drawer::wants_relation(r))
        .map(|r| linework(r, &|id| ways.get(&id).copied(), &location))
        .collect()
}

/// Whether the live themes of `prefix` come from this very file, unchanged since.
async fn unchanged(conn: &mut PgConnection, prefix: &str, checksum: &str) -> ImportResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM bando.osm_sources \
         WHERE prefix = $1 AND source_checksum = $2 AND changes_applied = 0)",
    )
    .bind(prefix)
    .bind(checksum)
    .fetch_one(&mut *conn)
    .await?)
}

async fn skip_unchanged(
    conn: &mut PgConnection,
    base: &ImportRequest,
    jobs: &[i64],
    format: &str,
    started: Instant,
) -> ImportResult<Vec<ThemeOutcome>> {
    let mut outcomes = Vec::new();
    for (theme, &job_id) in THEMES.iter().zip(jobs) {
        let report = serde_json::json!({ "unchanged": "the live themes come from this file" });
        finish_job(conn, &JobFinish::skipped(job_id, report), None).await?;
        outcomes.push(ThemeOutcome {
            theme: theme.name,
            outcome: Some(ImportOutcome::skipped(
                job_id,
                theme_slug(&base.layer, theme),
                format.to_owned(),
                "EPSG:4326".to_owned(),
                elapsed_ms(started),
            )),
            note: None,
        });
    }
    Ok(outcomes)
}

/// A theme loaded into its staging table and readied.
struct Staged {
    rows: ThemeRows,
    /// `None` when the extract has nothing for the theme.
    prepared: Option<(Prepared, bool)>,
}

/// Themes waiting to be loaded, the largest first: each connection takes the next one when it is
/// free, so the two finish together whatever each theme costs.
struct ThemeQueue {
    items: std::sync::Mutex<Vec<(usize, Vec<u8>)>>,
}

impl ThemeQueue {
    /// The queue of the themes with rows, and every theme's rows without their `COPY` text.
    fn new(themes: Vec<ThemeRows>) -> (Self, Vec<ThemeRows>) {
        let mut items = Vec::new();
        let mut rows = Vec::with_capacity(themes.len());
        for (index, mut theme) in themes.into_iter().enumerate() {
            let copy = std::mem::take(&mut theme.copy);
            if theme.written > 0 {
                items.push((index, copy));
            }
            rows.push(theme);
        }
        // Popped from the end: smallest first in the vector.
        items.sort_by_key(|(_, copy)| copy.len());
        (
            Self {
                items: std::sync::Mutex::new(items),
            },
            rows,
        )
    }

    fn next(&self) -> Option<(usize, Vec<u8>)> {
        self.items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }
}

/// A second connection for the import, or `None` (it then runs on one).
async fn open_second_connection(pool: &PgPool) -> Option<PgConnection> {
    let opened = async {
        let mut helper: PgConnection =
            sqlx::Connection::connect_with(&*pool.connect_options()).await?;
        bando_core::db::set_up_session(&mut helper).await?;
        Ok::<_, ImportError>(helper)
    }
    .await;
    match opened {
        Ok(helper) => Some(helper),
        Err(e) => {
            tracing::debug!(error = %e, "no second connection: importing on one");
            None
        }
    }
}

/// Loads and readies themes from `queue` on one connection until it is empty; returns the
/// results by theme index.
async fn stage_from(
    conn: &mut PgConnection,
    base: &ImportRequest,
    jobs: &[i64],
    queue: &ThemeQueue,
) -> ImportResult<Vec<(usize, (Prepared, bool))>> {
    let mut done = Vec::new();
    while let Some((index, rows)) = queue.next() {
        let theme = &THEMES[index];
        let staging = staging_table_name(jobs[index]);
        let slug = theme_slug(&base.layer, theme);
        done.push((
            index,
            stage_theme(conn, base, theme, &staging, &slug, rows).await?,
        ));
    }
    Ok(done)
}

async fn stage_theme(
    conn: &mut PgConnection,
    base: &ImportRequest,
    theme: &Theme,
    staging: &str,
    slug: &str,
    rows: Vec<u8>,
) -> ImportResult<(Prepared, bool)> {
    let fields = planned_fields(theme);
    let generalize = theme.shape != Shape::Point;
    sqlx::query(&create_table_sql(staging, &fields))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&uncompressed_geometry_sql(staging))
        .execute(&mut *conn)
        .await?;
    let mut copy = conn.copy_in_raw(&copy_sql(staging, &fields)).await?;
    copy.send(rows).await?;
    copy.finish().await?;
    let repaired = repair(conn, staging, true, base.policy, generalize).await?;
    let prepared = index(conn, staging, &fields, repaired).await?;
    let names = prepare_names(
        conn,
        staging,
        &staged_names_table(staging),
        &field_defs(&fields),
        prepared.feature_count,
        slug,
    )
    .await?;
    Ok((prepared, names))
}

/// Publishes one staged theme inside the extract's transaction (or records a dry run, or a theme
/// the extract has nothing for).
async fn finish_theme(
    tx: &mut PgConnection,
    base: &ImportRequest,
    theme: &Theme,
    job_id: i64,
    staged: Staged,
    format: &str,
) -> ImportResult<ThemeOutcome> {
    let slug = theme_slug(&base.layer, theme);
    let Staged { rows, prepared } = staged;
    let warnings = rows.warnings();
    let Some((prepared, names_prepared)) = prepared else {
        let finish = JobFinish {
            job_id,
            status: JobStatus::Skipped,
            read: rows.wanted,
            written: 0,
            repaired: 0,
            skipped: rows.skipped.values().sum(),
            report: serde_json::json!({
                "note": "no feature of this theme in the extract",
                "skipped": rows.skipped, "problems": rows.examples,
            }),
            error: None,
        };
        finish_job(tx, &finish, None).await?;
        return Ok(ThemeOutcome {
            theme: theme.name,
            outcome: None,
            note: Some("no feature in this extract".to_owned()),
        });
    };
    let mut skipped = rows.skipped.clone();
    if prepared.skipped_invalid > 0 {
        skipped.insert("invalid_geometry", prepared.skipped_invalid);
    }
    if prepared.dropped_after_repair > 0 {
        skipped.insert("empty_after_repair", prepared.dropped_after_repair);
    }
    let finish = JobFinish {
        job_id,
        status: JobStatus::Succeeded,
        read: rows.wanted,
        written: u64::try_from(prepared.feature_count).unwrap_or_default(),
        repaired: prepared.repaired,
        skipped: skipped.values().sum(),
        report: serde_json::json!({
            "skipped": skipped,
            "repaired": { "invalid_geometry": prepared.repaired },
            "warnings": warnings,
            "problems": rows.examples,
        }),
        error: None,
    };
    let staging = staging_table_name(job_id);
    let names_table = staged_names_table(&staging);
    let version = if base.dry_run {
        sqlx::query(&format!(
            "DROP TABLE IF EXISTS {}, {}",
            qualified_table(&staging),
            qualified_table(&names_table)
        ))
        .execute(&mut *tx)
        .await?;
        finish_job(tx, &finish, None).await?;
        None
    } else {
        let fields = field_defs(&planned_fields(theme));
        let title = format!(
            "{} — {}",
            base.title.as_deref().unwrap_or("OpenStreetMap"),
            theme.name
        );
        let entry = LayerEntry {
            slug: &slug,
            title: Some(&title),
            description: base.description.as_deref(),
            attribution: Some(base.attribution.as_deref().unwrap_or(OSM_ATTRIBUTION)),
            minzoom: Some(i16::from(base.minzoom.unwrap_or(theme.zooms.0))),
            maxzoom: Some(i16::from(base.maxzoom.unwrap_or(theme.zooms.1))),
            geometry_type: &prepared.geometry_type,
            source_srid: Some(4326),
            source_crs: "EPSG:4326",
            bounds: prepared.bounds,
            fields: &fields,
            feature_count: prepared.feature_count,
            layout: None,
            valid_from: None,
            valid_to: None,
            generalized: theme.shape != Shape::Point,
            admin_level: None,
            agency: base.agency.as_deref(),
            visibility: base.visibility,
        };
        let names = if names_prepared {
            NameRows::Prepared(&names_table)
        } else {
            NameRows::FromLiveTable
        };
        Some(
            publish(
                tx,
                &staging,
                names,
                &entry,
                &finish,
                &PublishMode::Replace,
                &base.actor,
            )
            .await?,
        )
    };
    Ok(ThemeOutcome {
        theme: theme.name,
        outcome: Some(ImportOutcome {
            job_id,
            status: JobStatus::Succeeded,
            layer: slug,
            version,
            format: format.to_owned(),
            source_crs: "EPSG:4326".to_owned(),
            read: rows.wanted,
            written: finish.written,
            repaired: prepared.repaired,
            skipped,
            problems: rows.examples,
            warnings,
            bounds: prepared.bounds,
            duration_ms: 0,
        }),
        note: None,
    })
}
