//! Runs queued import jobs (uploads) on this instance: `import_workers` loops, each taking the
//! oldest due job from the queue in PostgreSQL (`bando_importers::queue`), fetching its stored
//! file into a folder of its own and importing it — the file read in a confined reader process
//! (`bando_importers::reading`), the rows loaded and published here; and a sweeper that, at start and every
//! [`SWEEP_EVERY`], queues again or fails the jobs of runners that died (on any instance) and
//! drops what they left, and purges retired layers kept past `retired_keep_days`. Any instance of a fleet may take any job: the file is in the database.

use std::sync::Arc;
use std::time::Duration;

use bando_importers::queue::{self, ClaimedJob};
use bando_importers::reading::Reading;
use tokio::task::JoinSet;

use crate::state::AppState;

/// How often dead runners' jobs are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// How long an idle worker waits for a new job's notification before looking anyway (a job
/// queued again after its wait, a notification lost while the database was away).
const IDLE_POLL: Duration = Duration::from_secs(5);

/// The shortest wait between two looks at the queue.
const RECHECK_FLOOR: Duration = Duration::from_millis(50);

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
                // A due job the claim skipped is one another runner is taking: look again
                // shortly, not at once (never a loop without a wait).
                let wait = match queue::next_due_in(&state.pool).await {
                    Ok(Some(due)) => due.clamp(RECHECK_FLOOR, IDLE_POLL),
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
    // The file is read — a zip unpacked, then opened by GDAL — in a confined reader process
    // working in this folder, never in the server (`bando_importers::reading`).
    let reading = Reading::Confined {
        program: state.config.import_reader.clone(),
        limits: state.config.import_limits,
    };
    let path = fetched;
    match queue::run(&state.pool, job, path, Arc::new(|_, _| {}), &reading).await {
        Ok(outcome) => {
            tracing::info!(job = id, status = ?outcome.status, version = ?outcome.version, "import job ended");
        }
        Err(e) => tracing::info!(job = id, error = %e, "import job failed"),
    }
    drop(folder);
}
