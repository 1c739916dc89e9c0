//! The server's view of the layer catalog: one [`TableSource`] per visible layer, swapped whole
//! on every refresh so requests never see a half-updated catalog.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bando_core::layer::{Layer, Visibility};
use sqlx::PgPool;

use crate::sources::TableSource;

/// An immutable set of sources by slug; replaced whole on refresh.
pub type SourceMap = Arc<HashMap<String, Arc<TableSource>>>;

/// Layers served, by slug.
#[derive(Debug, Clone)]
pub struct Catalog {
    pool: PgPool,
    sources: Arc<RwLock<SourceMap>>,
}

impl Catalog {
    /// An empty catalog reading from `pool`; call [`Catalog::refresh`] to load it.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            sources: Arc::default(),
        }
    }

    /// Reloads every layer from the database. Only public layers are served until per-agency
    /// access control exists: a restricted or private layer is as absent as a missing one.
    /// Returns the layers whose version changed or that appeared.
    pub async fn refresh(&self) -> Result<Vec<(String, i32)>, bando_core::CoreError> {
        let layers = bando_core::catalog::list_layers(&self.pool).await?;
        Ok(self.replace(layers))
    }

    /// Replaces the served layers with `layers` (non-public ones are left out); returns the
    /// layers whose version changed or that appeared.
    pub fn replace(&self, layers: Vec<Layer>) -> Vec<(String, i32)> {
        let old = self.snapshot();
        let mut changed = Vec::new();
        let mut fresh = HashMap::with_capacity(layers.len());
        for layer in layers
            .into_iter()
            .filter(|l| l.visibility == Visibility::Public)
        {
            if old
                .get(&layer.slug)
                .is_none_or(|s| s.layer().version != layer.version)
            {
                changed.push((layer.slug.clone(), layer.version));
            }
            fresh.insert(
                layer.slug.clone(),
                Arc::new(TableSource::new(layer, self.pool.clone())),
            );
        }
        *self
            .sources
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        changed
    }

    /// The current set of sources.
    pub fn snapshot(&self) -> SourceMap {
        self.sources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// One source by slug.
    pub fn get(&self, slug: &str) -> Option<Arc<TableSource>> {
        self.snapshot().get(slug).cloned()
    }

    /// The catalog entry of one served layer.
    pub fn layer(&self, slug: &str) -> Option<Layer> {
        self.get(slug).map(|s| s.layer().clone())
    }

    /// Catalog entries of all served layers, by slug.
    pub fn layers(&self) -> Vec<Layer> {
        let mut layers: Vec<Layer> = self
            .snapshot()
            .values()
            .map(|s| s.layer().clone())
            .collect();
        layers.sort_by(|a, b| a.slug.cmp(&b.slug));
        layers
    }
}
