//! Shared state of the HTTP handlers.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use std::sync::RwLock;

use crate::access::AccessControl;
use crate::assets::glyphs::GlyphServer;
use crate::assets::sprites::SpriteServer;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::db_breaker::DbBreaker;
use crate::metrics::Metrics;
use crate::query::admin_lookup::AdminIndex;
use crate::query::nearest_index::NearestIndexes;
use crate::query::search_index::SearchIndex;
use crate::read_pools::ReadPools;
use crate::tiles::cache::TileCache;
use crate::tiles::shared_cache::{SharedCache, SharedCacheSettings};

/// Everything handlers need, behind one `Arc`: extractors clone the state for every request,
/// and one reference count is cheaper than one per part.
#[derive(Debug, Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug, Clone)]
pub struct SharedState {
    /// Database pool.
    pub pool: PgPool,
    /// Layers served.
    pub catalog: Catalog,
    /// Tile cache.
    pub cache: TileCache,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Validated configuration.
    pub config: Arc<Config>,
    /// In-memory nearest-neighbour indexes of point layers.
    pub nearest: Arc<NearestIndexes>,
    /// In-memory name search; replaced whole when the served layers change.
    pub search: Arc<RwLock<Arc<SearchIndex>>>,
    /// Glyphs for map labels.
    pub glyphs: GlyphServer,
    /// Sprite sheets for map icons.
    pub sprites: SpriteServer,
    /// Boundary index for ward lookups; replaced whole when a boundary layer is republished.
    pub admin: Arc<RwLock<Arc<AdminIndex>>>,
    /// API keys and grants in force.
    pub access: Arc<AccessControl>,
    /// Wakes this instance's import workers when an upload is queued (here or elsewhere).
    pub jobs_queued: Arc<tokio::sync::Notify>,
    /// Open while the database is known to be down: requests needing it fail fast.
    pub breaker: Arc<DbBreaker>,
    /// The primary and the read replicas tile builds may use.
    pub reads: ReadPools,
}

impl AppState {
    /// State over `pool` (the primary) with an empty catalog (load it with
    /// `catalog.refresh()`), the replicas and shared cache `config` names. The replicas' pools
    /// and Redis connect in the background.
    pub fn new(pool: PgPool, config: Config) -> Self {
        let metrics = Metrics::new();
        let replicas = config
            .replica_urls
            .iter()
            .filter_map(|url| {
                let settings = bando_core::db::PoolSettings {
                    max_connections: config.pool_size,
                    statement_timeout: config.query_timeout,
                    acquire_timeout: config.query_timeout,
                    application_name: "bando-server".to_owned(),
                };
                // Checked by `Config::load`.
                bando_core::db::pool_lazy(url, &settings).ok()
            })
            .collect();
        let reads = ReadPools::new(pool.clone(), replicas, metrics.clone());
        let shared = config.redis_url.as_ref().and_then(|url| {
            let settings = SharedCacheSettings {
                url: url.clone(),
                ttl: config.redis_ttl,
                timeout: config.redis_timeout,
                prefix: "bando:".to_owned(),
                longest_build: config.query_timeout,
            };
            // Checked by `Config::load`.
            SharedCache::connect(settings, metrics.clone()).ok()
        });
        Self::from_parts(SharedState {
            breaker: Arc::new(DbBreaker::new(&metrics)),
            catalog: Catalog::new(reads.clone(), config.composites.clone()),
            cache: TileCache::new(config.cache_bytes, shared, Arc::default(), metrics.clone()),
            reads,
            glyphs: GlyphServer::new(config.fonts_dirs.clone()),
            sprites: SpriteServer::new(config.styles_dir.join("sprites")),
            nearest: Arc::default(),
            search: Arc::default(),
            metrics,
            config: Arc::new(config),
            admin: Arc::default(),
            access: Arc::default(),
            jobs_queued: Arc::default(),
            pool,
        })
    }

    /// State made of `parts` (tests swap one part, e.g. the pool).
    pub fn from_parts(parts: SharedState) -> Self {
        Self(Arc::new(parts))
    }
}

impl AppState {
    /// The pool, for a request that needs the database; a 503 at once while it is known to be
    /// down (background work uses `pool` directly and meets the pool's own timeouts).
    pub fn db(&self) -> crate::error::ApiResult<&PgPool> {
        self.breaker.check()?;
        Ok(&self.pool)
    }

    /// A pool for a read of layer data (features, spatial queries): a replica that has replayed
    /// every change this instance knows of — also while the primary is down — else the primary;
    /// a 503 at once when only the primary could answer and it is known to be down.
    pub fn read_db(&self) -> crate::error::ApiResult<&PgPool> {
        self.read_gate(crate::read_pools::ReadFrom::AnyCurrent)?;
        Ok(self.reads.pick(crate::read_pools::ReadFrom::AnyCurrent))
    }

    /// Whether a read from `from` may be tried now: always when a current replica can take it,
    /// else as the breaker says of the primary.
    pub fn read_gate(&self, from: crate::read_pools::ReadFrom) -> crate::error::ApiResult<()> {
        if from == crate::read_pools::ReadFrom::AnyCurrent && self.reads.replica_in_rotation() {
            return Ok(());
        }
        self.breaker.check()
    }

    /// The search index, if it was built from the layers served now.
    pub fn current_search_index(&self) -> Option<Arc<SearchIndex>> {
        let index = self
            .search
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let served = self.catalog.snapshot();
        let current = index.revisions.len() == served.layers.len()
            && served
                .layers
                .iter()
                .all(|(slug, t)| index.revisions.get(slug) == Some(&t.layer().revision));
        current.then_some(index)
    }

    /// Rebuilds the search index when the served layers changed since it was built.
    pub async fn sync_search_index(&self) {
        let layers = self.catalog.all_layers();
        if self
            .search
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .revisions
            == SearchIndex::revisions_of(&layers)
        {
            return;
        }
        match SearchIndex::load(&self.pool, &layers).await {
            Ok(index) => {
                *self
                    .search
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(index);
            }
            Err(e) => tracing::warn!(error = %e, "search index not rebuilt"),
        }
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
