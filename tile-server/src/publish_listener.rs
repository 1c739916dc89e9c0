//! Keeps the catalog and the tile cache in step with publishes: `LISTEN`s to the importers'
//! notifications (and wakes the job runner for queued uploads), and reloads the catalog after every (re)connection, since notifications sent
//! while disconnected are lost. A periodic reload bounds staleness should anything else slip.

use std::time::Duration;

use bando_core::access::ACCESS_CHANNEL;
use bando_core::notify::{PUBLISH_CHANNEL, PublishNotice};
use bando_importers::queue::JOBS_CHANNEL;
use sqlx::postgres::PgListener;

use std::sync::Arc;

use crate::query::admin_lookup::AdminIndex;
use crate::state::AppState;
use crate::tiles::cache::{Staleness, lonlat_to_mercator_bounds};
use crate::tiles::change_log::Change;

/// Longest the catalog may lag behind the database when notifications are missed.
const PERIODIC_REFRESH: Duration = Duration::from_secs(60);

/// Runs until the task is aborted.
pub async fn run(state: AppState) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match listen(&state).await {
            Ok(()) => backoff = Duration::from_millis(250),
            Err(e) => {
                // Often the first sign that the database went away: the breaker checks at once.
                state.breaker.suspect();
                tracing::warn!(error = %e, retry_in = ?backoff, "publish listener disconnected");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn listen(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(&state.pool).await?;
    listener
        .listen_all([PUBLISH_CHANNEL, ACCESS_CHANNEL, JOBS_CHANNEL])
        .await?;
    refresh(state).await;
    loop {
        match tokio::time::timeout(PERIODIC_REFRESH, listener.try_recv()).await {
            Err(_elapsed) => {
                refresh(state).await;
            }
            Ok(Ok(Some(notification))) if notification.channel() == ACCESS_CHANNEL => {
                reload_access(state).await;
            }
            // An upload queued (on any instance) or a job queued again: an idle worker takes it.
            Ok(Ok(Some(notification))) if notification.channel() == JOBS_CHANNEL => {
                state.jobs_queued.notify_one();
            }
            Ok(Ok(Some(notification))) => {
                match serde_json::from_str::<PublishNotice>(notification.payload()) {
                    Ok(notice) => {
                        tracing::info!(layer = %notice.layer, version = notice.version,
                            bounds = ?notice.bounds, unchanged = notice.unchanged, "layer changed");
                        apply(state, &notice).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "malformed publish notification");
                        refresh(state).await;
                    }
                }
            }
            // The connection dropped: reconnect (and reload, to catch what was missed).
            Ok(Ok(None)) => {
                state.breaker.suspect();
                return Ok(());
            }
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// Applies one announced change: records it in the change log (from then on no tier serves a
/// tile it makes stale), notes that replicas must replay it, reloads the catalog, then drops the
/// cached tiles of the layer and of the composites drawing it over the changed area only.
pub async fn apply(state: &AppState, notice: &PublishNotice) {
    if let (Some(revision), Some(seq), false) = (notice.revision, notice.seq, notice.unchanged) {
        let areas = notice.bounds.map(|bounds| {
            if notice.areas.is_empty() {
                vec![bounds]
            } else {
                notice.areas.clone()
            }
        });
        state
            .cache
            .change_log()
            .record(Change::new(seq, &notice.layer, revision, areas));
    }
    state.reads.require_current().await;
    let stale = Staleness {
        tilesets: tilesets_drawing(state, &notice.layer),
        layer: notice.layer.as_str().into(),
        areas: match (&notice.bounds, notice.areas.is_empty()) {
            (None, _) => None,
            (Some(bounds), true) => Some(vec![lonlat_to_mercator_bounds(*bounds)]),
            (Some(_), false) => Some(
                notice
                    .areas
                    .iter()
                    .copied()
                    .map(lonlat_to_mercator_bounds)
                    .collect(),
            ),
        },
    };
    // Reload first, so tiles rebuilt after the drop use the new catalog.
    let changed = reload(state).await;
    if !notice.unchanged {
        state.cache.invalidate_area(stale);
    }
    if let Some(changed) = changed {
        after_reload(state, changed, &[notice.layer.as_str()]).await;
    }
}

/// The tilesets whose tiles draw `layer`: its own and the configured composites.
fn tilesets_drawing(state: &AppState, layer: &str) -> Vec<Arc<str>> {
    std::iter::once(layer.to_owned())
        .chain(state.catalog.composites_drawing(layer))
        .map(Arc::from)
        .collect()
}

/// Reloads the catalog, never ahead of the change log: a layer whose new revision the catalog
/// reads before its notification arrived has its changes read first, so no tile is ever taken
/// for current at a revision whose changes this instance does not know. Returns the layers that
/// changed, or `None` (catalog kept) when the database could not be read.
async fn reload(state: &AppState) -> Option<Vec<String>> {
    let layers = match bando_core::catalog::list_layers(&state.pool).await {
        Ok(layers) => layers,
        Err(e) => {
            tracing::warn!(error = %e, "catalog refresh failed");
            return None;
        }
    };
    let log = state.cache.change_log();
    let behind: Vec<(String, i64)> = layers
        .iter()
        .filter(|l| l.revision > log.latest(&l.slug))
        .map(|l| (l.slug.clone(), l.revision))
        .collect();
    if !behind.is_empty() {
        match log.catch_up_layers(&state.pool, &behind).await {
            Ok(changes) => {
                if !changes.is_empty() {
                    state.reads.require_current().await;
                }
                invalidate(state, &changes);
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the change log failed; catalog kept");
                return None;
            }
        }
    }
    Some(state.catalog.replace(layers))
}

/// Drops the cached tiles (in memory) of recorded changes.
fn invalidate(state: &AppState, changes: &[Change]) {
    state.cache.invalidate_areas(
        changes
            .iter()
            .map(|change| Staleness {
                tilesets: tilesets_drawing(state, &change.layer),
                layer: change.layer.clone(),
                areas: change.areas.clone(),
            })
            .collect(),
    );
}

/// Brings this instance up to every change committed before the call: returns once a catch-up
/// that started after it has read the change log and reloaded the catalog (a request named a
/// revision this instance had not heard of; see `ChangeLog::catch_up_after`). `false` when
/// the database could not be read: the caller cannot know what is current.
pub async fn catch_up_to_now(state: &AppState) -> bool {
    let log = state.cache.change_log().clone();
    let state = state.clone();
    log.catch_up_after(|| async move {
        // Run apart from the request: a client hanging up does not cut a catch-up short.
        tokio::spawn(async move { refresh(&state).await })
            .await
            .unwrap_or(false)
    })
    .await
}

/// Reloads API keys and grants: a revocation applies from the next request on.
pub async fn reload_access(state: &AppState) {
    if let Err(e) = state.access.reload(&state.pool).await {
        tracing::warn!(error = %e, "reloading API keys and grants failed");
    }
}

/// Reads the changes missed (all of them at start) from the change log table and applies them
/// precisely, then reloads the catalog (and keys and grants) and drops every cached tile of
/// layers that changed without a recorded change (or all that changed, when the log could not be
/// read). `true` when the catalog was reloaded.
pub async fn refresh(state: &AppState) -> bool {
    reload_access(state).await;
    let caught = match state.cache.change_log().catch_up(&state.pool).await {
        Ok(changes) => changes,
        Err(e) => {
            tracing::warn!(error = %e, "reading the change log failed; dropping changed layers' tiles");
            Vec::new()
        }
    };
    state.reads.require_current().await;
    invalidate(state, &caught);
    let Some(changed) = reload(state).await else {
        return false;
    };
    let announced: Vec<&str> = caught.iter().map(|c| &*c.layer).collect();
    after_reload(state, changed, &announced).await;
    true
}

/// Drops the tiles of changed layers other than `announced` (already handled precisely) and
/// rebuilds the boundary index when a boundary layer changed.
async fn after_reload(state: &AppState, changed: Vec<String>, announced: &[&str]) {
    // Indexes hold every layer; each request filters what its caller may see.
    let layers = state.catalog.all_layers();
    // A boundary layer changed, or a layer went away (it may have been one).
    let boundaries_changed = changed.iter().any(|slug| {
        layers
            .iter()
            .find(|l| &l.slug == slug)
            .is_none_or(|l| l.admin_level.is_some())
    });
    state.cache.invalidate_areas(
        changed
            .iter()
            .filter(|c| !announced.contains(&c.as_str()))
            .map(|layer| Staleness {
                tilesets: tilesets_drawing(state, layer),
                layer: layer.as_str().into(),
                areas: None,
            })
            .collect(),
    );
    state.nearest.sync(&state.pool, &layers).await;
    state.sync_search_index().await;
    if boundaries_changed {
        match AdminIndex::load(&state.pool, &layers).await {
            Ok(index) => {
                *state
                    .admin
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(index);
                tracing::info!("boundary index rebuilt");
            }
            Err(e) => tracing::warn!(error = %e, "boundary index rebuild failed"),
        }
    }
}
