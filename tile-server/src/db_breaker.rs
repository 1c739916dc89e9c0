//! Fail fast while PostgreSQL is down: a circuit breaker in front of everything a request asks
//! of the database.
//!
//! Without it, every request that needs the database while it is down waits for the pool's
//! acquire timeout (seconds) before its 503, holding a connection slot of the client and a task
//! here. With it:
//! - the prober ([`run`]) holds one connection of its own and pings it every [`HEARTBEAT`]; a
//!   sign that the database may be gone — a request failing to reach it (its response carries
//!   [`DatabaseUnreachable`], seen by [`watch`]), the `LISTEN` connection dropping, `/ready`
//!   failing its ping — makes it ping at once; a failed ping makes it try a fresh connection;
//! - if that fails, the breaker opens: requests that need the database are refused at once with
//!   `503` and `Retry-After` ([`DbBreaker::check`], through [`AppState::db`]); cached tiles and
//!   the in-memory indexes keep answering;
//! - the prober keeps trying every [`PROBE_EVERY`] and closes the breaker on the first success,
//!   so recovery takes at most that long after the database is back.
//!
//! A probe connects outside the pool, so a busy pool (all connections in use, acquire timing
//! out under load) never opens the breaker by itself: only a database that refuses a new
//! connection, or ignores one for [`PATIENCE`], does. A slow answer is not an outage: on a
//! machine whose cores are all busy a connection can take seconds to set up, and the database
//! is still there — so a ping slower than [`HEARTBEAT`] makes the prober try a fresh connection
//! and *wait* for it, and a real stop (connections refused at once) still opens the breaker in
//! milliseconds. Its state is in `/metrics` (`bando_db_breaker_open`, `…_trips_total`,
//! `…_refused_total`) and in the logs (one line when it opens, one when it closes).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::state::AppState;

/// How often an open breaker tries the database again.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Longest the heartbeat's ping is waited for before a fresh connection decides.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest a fresh connection is waited for: a database that neither answers nor refuses for
/// this long (a host dropping packets, a stopped process) counts as down.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How often the prober's own connection is pinged while the breaker is closed: a database gone
/// without any other sign (no request needed it, the listener is reconnecting through the pool)
/// is found within this.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Marks a response whose request could not reach the database (set by [`ApiError`]).
#[derive(Debug, Clone, Copy)]
pub struct DatabaseUnreachable;

/// Whether the database is known to be down, and since when.
#[derive(Debug)]
pub struct DbBreaker {
    open: AtomicBool,
    opened_at: Mutex<Option<Instant>>,
    suspect: tokio::sync::Notify,
    open_gauge: Gauge,
    trips: Counter,
    refused: Counter,
}

impl DbBreaker {
    /// A closed breaker reporting to `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            open: AtomicBool::new(false),
            opened_at: Mutex::new(None),
            suspect: tokio::sync::Notify::new(),
            open_gauge: metrics.db_breaker_open.clone(),
            trips: metrics.db_breaker_trips.clone(),
            refused: metrics.db_breaker_refused.clone(),
        }
    }

    /// `Err` (a 503 with `Retry-After`) while the database is known to be down.
    pub fn check(&self) -> ApiResult<()> {
        if self.open.load(Ordering::Acquire) {
            self.refused.inc();
            return Err(ApiError::DatabaseDown);
        }
        Ok(())
    }

    /// Whether the breaker is open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Something failed to reach the database: the prober checks at once.
    pub fn suspect(&self) {
        // A stored permit if the prober is busy: one check follows, however many suspicions.
        self.suspect.notify_one();
    }

    fn trip(&self, reason: &str) {
        if !self.open.swap(true, Ordering::AcqRel) {
            self.trips.inc();
            self.open_gauge.set(1);
            *self
                .opened_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
            tracing::warn!(%reason, "database unreachable: requests that need it fail fast until it is back");
        }
    }

    fn close(&self) {
        if self.open.swap(false, Ordering::AcqRel) {
            self.open_gauge.set(0);
            let down_for = self
                .opened_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .map(|since| since.elapsed());
            tracing::warn!(?down_for, "database reachable again");
        }
    }
}

/// The prober: holds one connection of its own and pings it every [`HEARTBEAT`] (or at once when
/// something suspects the database); when the ping fails, tries a fresh connection, opens the
/// breaker if that fails too, and closes it once a connection succeeds again. Runs until
/// aborted.
pub async fn run(state: AppState) {
    loop {
        let mut conn = match connect(&state.pool).await {
            Ok(conn) => conn,
            Err(reason) => {
                state.breaker.trip(&reason);
                tokio::time::sleep(PROBE_EVERY).await;
                continue;
            }
        };
        state.breaker.close();
        loop {
            let _ = tokio::time::timeout(HEARTBEAT, state.breaker.suspect.notified()).await;
            if tokio::time::timeout(PROBE_TIMEOUT, conn.ping())
                .await
                .map_or(true, |pinged| pinged.is_err())
            {
                // Gone, or too slow to answer: a fresh connection decides.
                break;
            }
        }
    }
}

/// A fresh connection outside the pool, checked with a round trip: refused at once when the
/// database is gone, waited for up to [`PATIENCE`] when it is only slow.
async fn connect(pool: &PgPool) -> Result<PgConnection, String> {
    let options = pool.connect_options();
    let attempt = async {
        let mut conn = PgConnection::connect_with(&options).await?;
        conn.ping().await?;
        Ok::<_, sqlx::Error>(conn)
    };
    match tokio::time::timeout(PATIENCE, attempt).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {PATIENCE:?}")),
    }
}

/// Middleware: a response that says the database was unreachable makes the prober check.
pub async fn watch(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.extensions().get::<DatabaseUnreachable>().is_some() {
        state.breaker.suspect();
    }
    response
}
