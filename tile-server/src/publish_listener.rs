//! Keeps the catalog and the tile cache in step with publishes: `LISTEN`s to the importers'
//! notifications, and reloads the catalog after every (re)connection, since notifications sent
//! while disconnected are lost. A periodic reload bounds staleness should anything else slip.

use std::time::Duration;

use bando_core::notify::{PUBLISH_CHANNEL, PublishNotice};
use sqlx::postgres::PgListener;

use std::sync::Arc;

use crate::admin_lookup::AdminIndex;
use crate::state::AppState;

/// Longest the catalog may lag behind the database when notifications are missed.
const PERIODIC_REFRESH: Duration = Duration::from_secs(60);

/// Runs until the task is aborted.
pub async fn run(state: AppState) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match listen(&state).await {
            Ok(()) => backoff = Duration::from_millis(250),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "publish listener disconnected");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn listen(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(&state.pool).await?;
    listener.listen(PUBLISH_CHANNEL).await?;
    refresh(state).await;
    loop {
        match tokio::time::timeout(PERIODIC_REFRESH, listener.try_recv()).await {
            Err(_elapsed) => refresh(state).await,
            Ok(Ok(Some(notification))) => {
                match serde_json::from_str::<PublishNotice>(notification.payload()) {
                    Ok(notice) => {
                        tracing::info!(layer = %notice.layer, version = notice.version, "layer published");
                    }
                    Err(e) => tracing::warn!(error = %e, "malformed publish notification"),
                }
                refresh(state).await;
            }
            // The connection dropped: reconnect (and reload, to catch what was missed).
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// Reloads the catalog and drops cached tiles of versions that are no longer live.
pub async fn refresh(state: &AppState) {
    match state.catalog.refresh().await {
        Ok(changed) => {
            let layers = state.catalog.layers();
            let boundaries_changed = changed.iter().any(|(slug, _)| {
                layers
                    .iter()
                    .any(|l| &l.slug == slug && l.admin_level.is_some())
            });
            for (layer, version) in changed {
                state.cache.invalidate_older(&layer, version);
            }
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
        Err(e) => tracing::warn!(error = %e, "catalog refresh failed"),
    }
}
