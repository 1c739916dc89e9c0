//! The tile cache: moka, weighted by bytes, keyed by tileset, data version and tile. Each entry
//! keeps the tile raw and gzip-compressed (compressed once, on the miss), plus its ETag.
//! Concurrent misses of one key run the query once: later callers wait for the first.

use std::future::Future;
use std::sync::Arc;

use bando_core::tile::TileCoord;
use bytes::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    /// Tileset id.
    pub tileset: Arc<str>,
    /// Data version the tile was built from.
    pub version: i32,
    /// The tile.
    pub coord: TileCoord,
}

/// A built tile, ready to send.
#[derive(Debug, Clone)]
pub struct EncodedTile {
    /// MVT bytes; empty for a tile with no feature.
    pub raw: Bytes,
    /// The same, gzip-compressed (empty when `raw` is).
    pub gzip: Bytes,
    /// Strong ETag, quoted.
    pub etag: Arc<str>,
}

impl EncodedTile {
    /// Compresses and fingerprints `raw`.
    pub fn encode(raw: Bytes) -> Self {
        let etag = format!("\"{}\"", &hex_digest(&raw)[..32]);
        let gzip = if raw.is_empty() {
            Bytes::new()
        } else {
            use std::io::Write;
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw.len() / 2),
                flate2::Compression::fast(),
            );
            // Writing into a Vec cannot fail.
            let _ = encoder.write_all(&raw);
            Bytes::from(encoder.finish().unwrap_or_default())
        };
        Self {
            raw,
            gzip,
            etag: etag.into(),
        }
    }

    fn weight(&self) -> u32 {
        // Key and bookkeeping overhead counted too, so empty tiles are not free.
        u32::try_from(self.raw.len() + self.gzip.len() + 128).unwrap_or(u32::MAX)
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The cache; capacity 0 disables it (every request runs its query).
#[derive(Debug, Clone)]
pub struct TileCache {
    inner: Option<Cache<TileKey, EncodedTile>>,
}

impl TileCache {
    /// A cache holding at most `capacity_bytes`.
    pub fn new(capacity_bytes: u64) -> Self {
        let inner = (capacity_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|_key: &TileKey, tile: &EncodedTile| tile.weight())
                .support_invalidation_closures()
                .build()
        });
        Self { inner }
    }

    /// The cached tile, or the one `build` makes (stored before it is returned). The flag tells
    /// whether it came from the cache.
    pub async fn get_or_build<F>(
        &self,
        key: TileKey,
        build: F,
    ) -> Result<(EncodedTile, bool), ApiError>
    where
        F: Future<Output = Result<Bytes, ApiError>>,
    {
        let Some(cache) = &self.inner else {
            return Ok((EncodedTile::encode(build.await?), false));
        };
        let entry = cache
            .entry(key)
            .or_try_insert_with(async { build.await.map(EncodedTile::encode) })
            .await
            .map_err(Arc::unwrap_or_clone)?;
        let hit = !entry.is_fresh();
        Ok((entry.into_value(), hit))
    }

    /// Drops every cached tile of `tileset` built from a version below `version`.
    pub fn invalidate_older(&self, tileset: &str, version: i32) {
        if let Some(cache) = &self.inner {
            let tileset: Arc<str> = tileset.into();
            if let Err(e) =
                cache.invalidate_entries_if(move |k, _| k.tileset == tileset && k.version < version)
            {
                tracing::warn!(error = %e, "tile cache invalidation failed; clearing the cache");
                cache.invalidate_all();
            }
        }
    }

    /// Bytes held (weighted size).
    pub fn weighted_size(&self) -> u64 {
        self.inner.as_ref().map_or(0, Cache::weighted_size)
    }

    /// Entries held.
    pub fn entry_count(&self) -> u64 {
        self.inner.as_ref().map_or(0, Cache::entry_count)
    }
}
