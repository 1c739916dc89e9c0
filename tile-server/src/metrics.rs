//! Prometheus metrics: requests and latency by route, tile cache hits/misses/size, pool use,
//! the database circuit breaker, the shared tile cache, builds and read replicas.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of request metrics: the route template (never the raw path, to bound cardinality).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route template, e.g. `/tiles/{layer}/{z}/{x}/{y}`.
    pub route: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Status code.
    pub status: u16,
}

/// Labels of latency histograms.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    /// Route template.
    pub route: &'static str,
}

/// Labels of pool gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `in_use` or `idle`.
    pub state: &'static str,
}

/// All metrics of one server instance (its own registry, so tests can run several servers).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    /// Tile cache hits.
    pub cache_hits: Counter,
    /// Tile cache misses (tiles built by a query).
    pub cache_misses: Counter,
    /// Bytes held by the tile cache.
    pub cache_bytes: Gauge,
    /// Entries in the tile cache.
    pub cache_entries: Gauge,
    pool: Family<PoolLabels, Gauge>,
    /// 1 while the database circuit breaker is open (the database known to be down).
    pub db_breaker_open: Gauge,
    /// Times the breaker opened.
    pub db_breaker_trips: Counter,
    /// Requests refused at once because the breaker was open.
    pub db_breaker_refused: Counter,
    /// The shared tile cache (Redis) and where tiles come from.
    pub tiers: TierMetrics,
    /// Route templates seen, interned: labels are then built without allocating.
    routes: RwLock<HashMap<Arc<str>, &'static str>>,
}

/// Where tiles come from beyond the in-memory cache: the shared cache (Redis), builds, replicas.
#[derive(Debug)]
pub struct TierMetrics {
    /// Tiles built by a database query (summed over instances: the fleet's build count).
    pub tile_builds: Counter,
    /// Builds that read data older than a change this instance knew of (a replica behind) and
    /// were built again on the primary.
    pub stale_builds: Counter,
    /// Tiles found current in the shared cache.
    pub shared_hits: Counter,
    /// Tiles not in the shared cache.
    pub shared_misses: Counter,
    /// Tiles found in the shared cache but older than a known change (not served).
    pub shared_stale: Counter,
    /// Tiles written to the shared cache.
    pub shared_writes: Counter,
    /// Misses that waited for another instance building the same tile.
    pub shared_waits: Counter,
    /// Shared cache operations that failed or got no answer in time (the tile came from
    /// elsewhere).
    pub shared_errors: Counter,
    /// Shared cache answers later than `--redis-timeout-ms` (a read given up as a miss; the
    /// build lock and the waits wait longer, see `tiles::shared_cache`).
    pub shared_slow: Counter,
    /// Tiles built without the fleet's build lock (the shared cache down or silent for
    /// `BUILD_LOCK`): the only builds beyond one per tile per change for the fleet.
    pub unlocked_builds: Counter,
    /// 1 while the shared cache answers.
    pub shared_up: Gauge,
    /// Latency of shared cache reads.
    pub shared_seconds: Histogram,
    /// 1 per replica while it is in rotation.
    pub replica_in_rotation: Family<ReplicaLabels, Gauge>,
    /// Tile builds by where they read (`primary` or a replica's index).
    pub reads: Family<ReplicaLabels, Counter>,
}

/// Labels of per-replica metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplicaLabels {
    /// `primary`, or `replica<N>` (its position among `--replica-url`s).
    pub target: String,
}

impl TierMetrics {
    fn new(registry: &mut Registry) -> Self {
        let tiers = Self {
            tile_builds: Counter::default(),
            stale_builds: Counter::default(),
            shared_hits: Counter::default(),
            shared_misses: Counter::default(),
            shared_stale: Counter::default(),
            shared_writes: Counter::default(),
            shared_waits: Counter::default(),
            shared_errors: Counter::default(),
            shared_slow: Counter::default(),
            unlocked_builds: Counter::default(),
            shared_up: Gauge::default(),
            shared_seconds: Histogram::new([
                0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
            ]),
            replica_in_rotation: Family::default(),
            reads: Family::default(),
        };
        let counters = [
            (
                "tile_builds",
                "Tiles built by a database query",
                &tiers.tile_builds,
            ),
            (
                "tile_stale_builds",
                "Builds older than a known change (a replica behind), built again on the primary",
                &tiers.stale_builds,
            ),
            (
                "tile_shared_hits",
                "Tiles served from the shared cache (Redis)",
                &tiers.shared_hits,
            ),
            (
                "tile_shared_misses",
                "Tiles not in the shared cache",
                &tiers.shared_misses,
            ),
            (
                "tile_shared_stale",
                "Tiles in the shared cache older than a known change (not served)",
                &tiers.shared_stale,
            ),
            (
                "tile_shared_writes",
                "Tiles written to the shared cache",
                &tiers.shared_writes,
            ),
            (
                "tile_shared_waits",
                "Misses that waited for another instance building the same tile",
                &tiers.shared_waits,
            ),
            (
                "tile_shared_errors",
                "Shared cache operations that failed or timed out",
                &tiers.shared_errors,
            ),
            (
                "tile_shared_slow",
                "Shared cache answers later than --redis-timeout-ms",
                &tiers.shared_slow,
            ),
            (
                "tile_unlocked_builds",
                "Tiles built without the fleet's build lock (the shared cache down or silent)",
                &tiers.unlocked_builds,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "tile_shared_up",
            "1 while the shared tile cache (Redis) answers",
            tiers.shared_up.clone(),
        );
        registry.register(
            "tile_shared_read_seconds",
            "Latency of shared tile cache reads",
            tiers.shared_seconds.clone(),
        );
        registry.register(
            "replica_in_rotation",
            "1 while a read replica is up and has replayed every change this instance knows of",
            tiers.replica_in_rotation.clone(),
        );
        registry.register(
            "tile_reads",
            "Tile builds by the database they read",
            tiers.reads.clone(),
        );
        tiers
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("bando");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "tile_cache_hits",
            "Tiles served from the cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "tile_cache_misses",
            "Tiles built by a database query",
            cache_misses.clone(),
        );
        let cache_bytes = Gauge::default();
        registry.register(
            "tile_cache_bytes",
            "Bytes held by the tile cache",
            cache_bytes.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "tile_cache_entries",
            "Tiles held by the cache",
            cache_entries.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state",
            pool.clone(),
        );
        let db_breaker_open = Gauge::default();
        registry.register(
            "db_breaker_open",
            "1 while the database is known to be down and requests needing it fail fast",
            db_breaker_open.clone(),
        );
        let db_breaker_trips = Counter::default();
        registry.register(
            "db_breaker_trips",
            "Times the database circuit breaker opened",
            db_breaker_trips.clone(),
        );
        let db_breaker_refused = Counter::default();
        registry.register(
            "db_breaker_refused",
            "Requests refused at once while the database was down",
            db_breaker_refused.clone(),
        );
        let tiers = TierMetrics::new(&mut registry);
        Arc::new(Self {
            tiers,
            registry,
            db_breaker_open,
            db_breaker_trips,
            db_breaker_refused,
            requests,
            latency,
            cache_hits,
            cache_misses,
            cache_bytes,
            cache_entries,
            pool,
            routes: RwLock::default(),
        })
    }

    /// The interned route template. Routes are a fixed set, so the leaked strings are bounded.
    fn route(&self, path: Option<&MatchedPath>) -> &'static str {
        let Some(path) = path else { return "unmatched" };
        let known = self
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(path.as_str())
            .copied();
        known.unwrap_or_else(|| {
            let mut routes = self
                .routes
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *routes
                .entry(Arc::from(path.as_str()))
                .or_insert_with(|| Box::leak(path.as_str().to_owned().into_boxed_str()))
        })
    }

    /// Sets the pool gauges.
    pub fn set_pool(&self, size: u32, idle: usize) {
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.pool
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(i64::from(size) - idle);
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(idle);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

/// Middleware recording every request's route, status and latency.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = metrics.route(request.extensions().get::<MatchedPath>());
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&LatencyLabels { route })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RouteLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
