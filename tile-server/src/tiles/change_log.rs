//! What every instance knows of the changes to layers, and the rule that keeps every cache tier
//! exact across the fleet.
//!
//! # The rule
//! A tile is built by one SQL statement that also reads the revision of every layer it draws
//! (`sources::tile_sql`): one statement, one snapshot, so the tile shows exactly those
//! revisions — on the primary or on a replica that lags. The tile is cached (in memory and in
//! Redis) with those *stamps*. A cached tile is **current** when no change known to this
//! instance, of one of its layers, with a revision above the tile's stamp for that layer,
//! intersects the tile. Every cache read from a tier that other instances write (Redis) and
//! every cache write is checked against it.
//!
//! # Why it is race-free
//! - Per layer, revisions grow in commit order: every change updates the layer's catalog row,
//!   whose row lock serialises them, and takes its revision while holding it. So "the changes of
//!   L above revision s" are exactly the changes a tile stamped `s` does not show.
//! - A builder that read old rows (instance B, a replica behind) stamps its tile with the old
//!   revision. Whoever writes or reads it later, once the change is known, finds a known change
//!   above the stamp over the tile and does not serve or keep it. A stale tile written to Redis
//!   after another instance dropped it is therefore harmless: no instance takes it for current.
//! - The log is complete: changes are rows of `bando.changes`, written in the changing
//!   transaction, and notified; an instance that was disconnected reads the rows it missed
//!   ([`ChangeLog::catch_up`]) by transaction id below the oldest running transaction, so a
//!   change that commits late is read on the next catch-up, never skipped.
//! - What an instance says is current (the revisions in its catalog, hence its TileJSON's `?v=`)
//!   is never ahead of its log: a catalog reload that reads a layer's revision before that
//!   change's notification arrived first reads the layer's changes up to it
//!   ([`ChangeLog::catch_up_layers`]; `publish_listener::reload`). Found by the fleet test that
//!   republishes in a loop: without it, an instance could answer `?v=R` with a tile stamped just
//!   below R.
//! - The log is bounded: per layer, changes older than the last [`KEEP_PER_LAYER`] are dropped
//!   and the layer's *floor* rises to the highest revision dropped; a tile stamped below the
//!   floor is no longer provably current and is rebuilt (the database prunes its rows the same
//!   way, recording floors in `bando.change_floors`).
//!
//! # A revision asked for is never answered older
//! A tile URL with `?v=R` (from any instance's TileJSON) is answered with a tile showing every
//! change up to `R` over it, whatever the interleaving of notifications, catch-ups, replica lag,
//! Redis latency and catalog reloads:
//! - `R` was read from the database's catalog by the instance that wrote the URL, so the change
//!   that made it was committed before the request was sent.
//! - An instance whose catalog is below `R` does not answer from what it holds: the request
//!   waits for a catch-up that *started after the request arrived* ([`ChangeLog::catch_up_after`]:
//!   numbered catch-ups, one at a time, shared by every request waiting). That catch-up's catalog
//!   reload reads the layer at `R` or later and records every change up to there (the point
//!   above: the catalog is never ahead of the log). There is no rate limit on this step — an
//!   earlier design caught up "at most every 100 ms" and answered a request arriving during a
//!   catch-up that had already read the catalog with the tile it held: that was the stale tile
//!   the fleet test saw. Waiting is bounded by two catch-ups (the one running and the next);
//!   bogus `?v=` values from many clients share them, so they cost the database one catch-up at
//!   a time, never one per request.
//! - From then on every tier's tile is judged by the log (the rule above), and a built tile is
//!   checked too: a replica that has not replayed the change produces a tile stamped below it,
//!   which is built again on the primary.
//! - If the catch-up cannot read the database, the request is answered 503 (retry), never with
//!   what the instance held. If it can and the catalog is still below `R`, no such revision
//!   exists: the current tile is served, not as immutable.
//!
//! What it does not promise: an instance serves what it knows. Until a change's notification
//! reaches it (milliseconds), a request *without* `?v=` (or with an older one) gets the tiles it
//! held — as any instance does before it has heard.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bando_core::tile::TileCoord;
use sqlx::PgPool;

use crate::tiles::cache::lonlat_to_mercator_bounds;

/// Revisions a tile was built from: `(layer slug, revision)` of each layer it draws.
pub type Stamps = Arc<[(Arc<str>, i64)]>;

/// Changes kept per layer; older ones raise the layer's floor.
pub const KEEP_PER_LAYER: usize = 1024;

/// One recorded change of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `bando.changes.seq`.
    pub seq: i64,
    /// Layer slug.
    pub layer: Arc<str>,
    /// The layer's revision after it.
    pub revision: i64,
    /// EPSG:3857 boxes it lies in; `None` for anywhere.
    pub areas: Option<Vec<[f64; 4]>>,
}

impl Change {
    /// A change from its stored form (WGS84 boxes).
    pub fn new(seq: i64, layer: &str, revision: i64, areas: Option<Vec<[f64; 4]>>) -> Self {
        Self {
            seq,
            layer: layer.into(),
            revision,
            areas: areas.map(|a| a.into_iter().map(lonlat_to_mercator_bounds).collect()),
        }
    }
}

#[derive(Debug, Default)]
struct LayerLog {
    /// Complete above this revision only.
    floor: i64,
    /// Every change up to this revision is recorded (read from the table by revision).
    confirmed: i64,
    /// Revision → areas (`None`: anywhere).
    changes: BTreeMap<i64, Option<Vec<[f64; 4]>>>,
}

#[derive(Debug, Default)]
struct Known {
    layers: HashMap<Arc<str>, LayerLog>,
    /// Transaction id below which every change row has been read (see `catch_up`).
    horizon: i64,
}

/// The changes this instance knows of.
#[derive(Debug, Default)]
pub struct ChangeLog {
    known: RwLock<Known>,
    /// Counts changes recorded: a tile found current at generation `g` still is while it is `g`.
    generation: AtomicU64,
    /// One catch-up at a time.
    catching_up: tokio::sync::Mutex<()>,
    /// Catch-ups requests wait for (see [`ChangeLog::catch_up_after`]).
    requested: RequestedCatchUps,
}

/// Catch-ups run for requests, numbered as they start.
#[derive(Debug, Default)]
struct RequestedCatchUps {
    /// Taken by the request running one; the others queue here.
    turn: tokio::sync::Mutex<()>,
    /// Number of the last one started.
    started: AtomicU64,
    /// Number of the last one finished.
    finished: AtomicU64,
    /// Whether the last one finished could read the database.
    succeeded: std::sync::atomic::AtomicBool,
}

/// Whether a change over `areas` (EPSG:3857 boxes; `None` for anywhere) touches the tile at
/// `coord`, including the margin a tile draws beyond its edges.
pub fn tile_intersects(coord: TileCoord, areas: &Option<Vec<[f64; 4]>>) -> bool {
    let Some(areas) = areas else { return true };
    let [tx0, ty0, tx1, ty1] = coord.mercator_bounds();
    // Tiles draw 64/4096 of their width beyond their edges.
    let margin = (tx1 - tx0) * 64.0 / 4096.0;
    areas.iter().any(|&[x0, y0, x1, y1]| {
        x0 <= tx1 + margin && tx0 - margin <= x1 && y0 <= ty1 + margin && ty0 - margin <= y1
    })
}

impl ChangeLog {
    /// Records a change (idempotent: the same change from a notification and a catch-up counts
    /// once).
    pub fn record(&self, change: Change) {
        let mut known = self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let log = known.layers.entry(change.layer.clone()).or_default();
        if change.revision <= log.floor {
            return;
        }
        log.changes.insert(change.revision, change.areas);
        self.generation.fetch_add(1, Ordering::AcqRel);
        while log.changes.len() > KEEP_PER_LAYER {
            if let Some((revision, _)) = log.changes.pop_first() {
                log.floor = log.floor.max(revision);
            }
        }
    }

    /// Raises `layer`'s floor (its older changes were pruned where they are stored).
    pub fn raise_floor(&self, layer: &str, revision: i64) {
        let mut known = self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let log = known.layers.entry(layer.into()).or_default();
        log.floor = log.floor.max(revision);
        log.changes = log.changes.split_off(&(log.floor + 1));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Changes recorded so far (see [`ChangeLog::is_current`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether a tile at `coord` built from `stamps` shows every known change over it.
    pub fn is_current(&self, coord: TileCoord, stamps: &[(Arc<str>, i64)]) -> bool {
        let known = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stamps.iter().all(|(layer, stamp)| {
            let Some(log) = known.layers.get(layer) else {
                return true;
            };
            *stamp >= log.floor
                && !log
                    .changes
                    .range((Bound::Excluded(*stamp), Bound::Unbounded))
                    .any(|(_, areas)| tile_intersects(coord, areas))
        })
    }

    /// The latest revision of `layer` this instance knows of (0 when it knows no change).
    pub fn latest(&self, layer: &str) -> i64 {
        let known = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known.layers.get(layer).map_or(0, |log| {
            log.changes
                .last_key_value()
                .map_or(log.floor, |(revision, _)| *revision)
                .max(log.confirmed)
        })
    }

    /// Returns once a catch-up that started after this call has finished, running `catch_up`
    /// (the caller's whole refresh; `true` when it could read the database) if none has; callers
    /// arriving meanwhile share the next one. Returns whether that catch-up succeeded.
    pub async fn catch_up_after<F, Fut>(&self, catch_up: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        let requested = &self.requested;
        // A catch-up numbered above this one started after this call.
        let wanted = requested.started.load(Ordering::SeqCst) + 1;
        let _turn = requested.turn.lock().await;
        if requested.finished.load(Ordering::SeqCst) >= wanted {
            return requested.succeeded.load(Ordering::SeqCst);
        }
        let number = requested.started.fetch_add(1, Ordering::SeqCst) + 1;
        let succeeded = catch_up().await;
        requested.succeeded.store(succeeded, Ordering::SeqCst);
        requested.finished.store(number, Ordering::SeqCst);
        succeeded
    }

    /// Reads the change rows this instance has not seen (all of them on the first call, with the
    /// floors): rows of transactions below the oldest one still running, from the last such
    /// horizon on. Returns the changes read, for the caller to apply to its own tier.
    pub async fn catch_up(&self, pool: &PgPool) -> Result<Vec<Change>, sqlx::Error> {
        let _one_at_a_time = self.catching_up.lock().await;
        let since = self
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .horizon;
        let mut connection = pool.acquire().await?;
        let horizon: i64 = sqlx::query_scalar(include_str!("sql/change_horizon.sql"))
            .fetch_one(&mut *connection)
            .await?;
        if since == 0 {
            let floors: Vec<(String, i64)> = sqlx::query_as(
                "SELECT layer, revision FROM bando.change_floors WHERE layer <> '*'",
            )
            .fetch_all(&mut *connection)
            .await?;
            for (layer, revision) in floors {
                self.raise_floor(&layer, revision);
            }
        }
        let rows: Vec<ChangeRow> = sqlx::query_as(include_str!("sql/changes_between.sql"))
            .bind(since)
            .bind(horizon)
            .fetch_all(&mut *connection)
            .await?;
        let changes: Vec<Change> = rows.into_iter().map(ChangeRow::into_change).collect();
        for change in &changes {
            self.record(change.clone());
        }
        self.known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .horizon = horizon;
        Ok(changes)
    }
}

impl ChangeLog {
    /// Reads the changes of each `(layer, revision)` in `behind` above the revision this log
    /// knows, up to that revision: what a catalog that got ahead of the log (it read a layer's
    /// new revision before its notification arrived) needs first. Exact, whatever runs
    /// concurrently: per layer, changes commit in revision order, so a layer's revision being
    /// committed means every change of it up to there is. Returns the changes read.
    pub async fn catch_up_layers(
        &self,
        pool: &PgPool,
        behind: &[(String, i64)],
    ) -> Result<Vec<Change>, sqlx::Error> {
        let (layers, known): (Vec<String>, Vec<i64>) = behind
            .iter()
            .map(|(layer, _)| (layer.clone(), self.latest(layer)))
            .unzip();
        let rows: Vec<ChangeRow> = sqlx::query_as(include_str!("sql/changes_of_layers.sql"))
            .bind(&layers)
            .bind(&known)
            .fetch_all(pool)
            .await?;
        let changes: Vec<Change> = rows.into_iter().map(ChangeRow::into_change).collect();
        for change in &changes {
            self.record(change.clone());
        }
        let mut known = self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (layer, revision) in behind {
            let log = known.layers.entry(layer.as_str().into()).or_default();
            log.confirmed = log.confirmed.max(*revision);
        }
        Ok(changes)
    }
}

/// A row of `bando.changes` as the catch-up and the change feed read it.
#[derive(Debug, sqlx::FromRow)]
pub struct ChangeRow {
    /// Row id.
    pub seq: i64,
    /// Layer slug.
    pub layer: String,
    /// Revision after the change.
    pub revision: i64,
    /// WGS84 boxes; `None` for anywhere.
    pub areas: Option<sqlx::types::Json<Vec<[f64; 4]>>>,
    /// Transaction id (the feed's cursor).
    pub xid: i64,
    /// When.
    pub changed_at: chrono::DateTime<chrono::Utc>,
}

impl ChangeRow {
    fn into_change(self) -> Change {
        Change::new(
            self.seq,
            &self.layer,
            self.revision,
            self.areas.map(|a| a.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coord(z: u32, x: u32, y: u32) -> TileCoord {
        TileCoord::new(z, x, y).unwrap()
    }

    fn stamps(layer: &str, revision: i64) -> Vec<(Arc<str>, i64)> {
        vec![(layer.into(), revision)]
    }

    #[test]
    fn a_tile_is_current_unless_a_later_change_of_its_layers_covers_it() {
        let log = ChangeLog::default();
        // Bến Thành market.
        let market = [106.6980, 10.7724, 106.6982, 10.7726];
        log.record(Change::new(1, "wards", 10, Some(vec![market])));
        let here = coord(14, 13047, 7698);
        let elsewhere = coord(14, 13049, 7698);
        // Built before the change, over it: stale; beside it: current.
        assert!(!log.is_current(here, &stamps("wards", 9)));
        assert!(log.is_current(elsewhere, &stamps("wards", 9)));
        // Built from the change on: current.
        assert!(log.is_current(here, &stamps("wards", 10)));
        // Another layer's change does not matter.
        assert!(log.is_current(here, &stamps("roads", 3)));
        // A change anywhere stales every older tile of the layer.
        log.record(Change::new(2, "wards", 12, None));
        assert!(!log.is_current(elsewhere, &stamps("wards", 10)));
        assert_eq!(log.latest("wards"), 12);
    }

    #[tokio::test]
    async fn a_request_waits_for_a_catch_up_that_started_after_it_arrived() {
        let log = Arc::new(ChangeLog::default());
        let runs = Arc::new(AtomicU64::new(0));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        // A catch-up in progress (it has read the catalog: a revision asked for now may be
        // newer than what it read) ...
        let first = {
            let (log, runs) = (Arc::clone(&log), Arc::clone(&runs));
            tokio::spawn(async move {
                log.catch_up_after(|| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _ = started_tx.send(());
                    let _ = release_rx.await;
                    true
                })
                .await
            })
        };
        started_rx.await.unwrap();
        // ... so requests arriving now wait for the next one, which they share.
        let later: Vec<_> = (0..5)
            .map(|_| {
                let (log, runs) = (Arc::clone(&log), Arc::clone(&runs));
                tokio::spawn(async move {
                    log.catch_up_after(|| async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        true
                    })
                    .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "none runs before the first ends"
        );
        release_tx.send(()).unwrap();
        assert!(first.await.unwrap());
        for request in later {
            assert!(request.await.unwrap());
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "the later requests shared one catch-up"
        );
        // A failed catch-up is reported to those who waited for it.
        assert!(!log.catch_up_after(|| async { false }).await);
    }

    #[test]
    fn below_the_floor_nothing_is_provably_current() {
        let log = ChangeLog::default();
        for revision in 1..=(KEEP_PER_LAYER as i64 + 5) {
            log.record(Change::new(
                revision,
                "roads",
                revision,
                Some(vec![[0.0; 4]]),
            ));
        }
        // The five oldest changes were dropped: a tile stamped before them cannot be judged.
        let far = coord(14, 13047, 7698);
        assert!(!log.is_current(far, &stamps("roads", 4)));
        assert!(log.is_current(far, &stamps("roads", 5)));
        log.raise_floor("roads", 100);
        assert!(!log.is_current(far, &stamps("roads", 99)));
        assert!(log.is_current(far, &stamps("roads", 100)));
    }
}
