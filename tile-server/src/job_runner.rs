//! Runs queued import jobs (uploads) on this instance: `import_workers` loops, each taking the
//! oldest due job from the queue in PostgreSQL (`bando_importers::queue`), fetching its stored
//! file, unzipping it if need be and importing it; and a sweeper that, at start and every
//! [`SWEEP_EVERY`], queues again or fails the jobs of runners that died (on any instance) and
//! drops what they left, and purges retired layers kept past `retired_keep_days`. Any instance of a fleet may take any job: the file is in the database.

use std::sync::Arc;
use std::time::Duration;

use bando_importers::queue::{self, ClaimedJob};
use tokio::task::JoinSet;

use crate::state::AppState;

/// How often dead runners' jobs are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// How long an idle worker waits for a new job's notification before looking anyway (a job
/// queued again after its wait, a notification lost while the database was away).
const IDLE_POLL: Duration = Duration::from_secs(5);

/// Starts the sweeper and `state.config.import_workers` workers; they run until aborted.
pub fn spawn(state: &AppState) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    tasks.spawn(sweeper(state.clone()));
    for worker in 0..state.config.import_workers {
        tasks.spawn(work(state.clone(), worker));
    }
    tasks
}

async fn sweeper(state: AppState) {
    loop {
        match state.pool.acquire().await {
            Ok(mut conn) => {
                if let Err(e) = queue::sweep(&mut conn).await {
                    tracing::warn!(error = %e, "job sweep failed");
                }
                drop(conn);
                // Files of uploads and jobs whose process was killed (here or by a sibling).
                let temp = std::env::temp_dir();
                bando_core::scratch::remove_orphans(&state.config.upload_dir);
                // The upload folder is the temporary one unless configured apart.
                if temp != state.config.upload_dir {
                    bando_core::scratch::remove_orphans(&temp);
                }
                // Retired layers past their keeping time go for good (any instance may do it).
                let sweeper = bando_core::audit::Actor {
                    name: format!(
                        "purge of expired retired layers on {}",
                        state.config.instance_id
                    ),
                    origin: state.config.instance_id.clone(),
                    ..bando_core::audit::Actor::default()
                };
                if let Err(e) = bando_importers::retire::purge_expired(&state.pool, &sweeper).await
                {
                    tracing::warn!(error = %e, "purging expired retired layers failed");
                }
                // The change log keeps a week: what CDN purge jobs and caches may lag by.
                if let Err(e) = sqlx::query("SELECT bando.prune_changes($1::interval)")
                    .bind(CHANGES_KEPT)
                    .execute(&state.pool)
                    .await
                {
                    tracing::warn!(error = %e, "pruning the change log failed");
                }
            }
            Err(e) => tracing::debug!(error = %e, "job sweep skipped: no database connection"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// How long the change log (`bando.changes`, `GET /v1/changes`) keeps a change.
pub const CHANGES_KEPT: &str = "7 days";

async fn work(state: AppState, worker: u32) {
    let runner = format!("{}#{worker}", state.config.instance_id);
    let wake = state.jobs_queued.clone();
    loop {
        match queue::claim(&state.pool, &runner).await {
            Ok(Some(job)) => run(&state, job).await,
            Ok(None) => {
                // Woken by a queued job's notification (from any instance), or when a job queued
                // again after a wait is due; IDLE_POLL covers notifications lost while away.
                let wait = match queue::next_due_in(&state.pool).await {
                    Ok(Some(due)) => due.min(IDLE_POLL),
                    _ => IDLE_POLL,
                };
                let _ = tokio::time::timeout(wait, wake.notified()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "taking a queued job failed");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
}

/// Runs one claimed job to its outcome; its failures are recorded on the job, not raised.
async fn run(state: &AppState, mut job: ClaimedJob) {
    let id = job.id;
    tracing::info!(job = id, attempt = job.attempt, of = job.max_attempts, layer = %job.request.layer, "import job started");
    let folder = match tempfile::Builder::new()
        .prefix(&bando_core::scratch::prefix("job"))
        .tempdir_in(&state.config.upload_dir)
    {
        Ok(folder) => folder,
        Err(e) => {
            let error = bando_importers::ImportError::Source {
                path: state.config.upload_dir.clone(),
                reason: format!("no room for the job's file: {e}"),
            };
            queue::finish_unrun(&mut job, error).await;
            return;
        }
    };
    let fetched = match queue::fetch_file(&mut job, folder.path()).await {
        Ok(file) => file,
        Err(e) => {
            queue::finish_unrun(&mut job, e).await;
            return;
        }
    };
    let limit = state.config.upload_max_bytes;
    let path = if crate::upload_files::has_extension(&fetched, "zip") {
        let into = folder.path().join("unzipped");
        let archive = fetched.clone();
        match tokio::task::spawn_blocking(move || {
            crate::upload_files::unzip_dataset(&archive, &into, limit)
        })
        .await
        {
            Ok(Ok(path)) => path,
            Ok(Err(e)) => {
                let error = bando_importers::ImportError::InvalidOption {
                    field: "file",
                    reason: e.to_string(),
                };
                queue::finish_unrun(&mut job, error).await;
                return;
            }
            Err(e) => {
                let error = bando_importers::ImportError::ReaderStopped(e.to_string());
                queue::finish_unrun(&mut job, error).await;
                return;
            }
        }
    } else {
        fetched
    };
    match queue::run(&state.pool, job, path, Arc::new(|_, _| {})).await {
        Ok(outcome) => {
            tracing::info!(job = id, status = ?outcome.status, version = ?outcome.version, "import job ended");
        }
        Err(e) => tracing::info!(job = id, error = %e, "import job failed"),
    }
    drop(folder);
}
