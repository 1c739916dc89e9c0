//! Shared state of the HTTP handlers.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use std::sync::RwLock;

use crate::admin_lookup::AdminIndex;
use crate::cache::TileCache;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::glyphs::GlyphServer;
use crate::metrics::Metrics;
use crate::nearest_index::NearestIndexes;

/// Everything handlers need; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
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
    /// Glyphs for map labels.
    pub glyphs: GlyphServer,
    /// Boundary index for ward lookups; replaced whole when a boundary layer is republished.
    pub admin: Arc<RwLock<Arc<AdminIndex>>>,
}

impl AppState {
    /// State over `pool` with an empty catalog (load it with `catalog.refresh()`).
    pub fn new(pool: PgPool, config: Config) -> Self {
        Self {
            catalog: Catalog::new(pool.clone(), config.composites.clone()),
            cache: TileCache::new(config.cache_bytes),
            glyphs: GlyphServer::new(config.fonts_dirs.clone()),
            nearest: Arc::default(),
            metrics: Metrics::new(),
            config: Arc::new(config),
            admin: Arc::default(),
            pool,
        }
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
