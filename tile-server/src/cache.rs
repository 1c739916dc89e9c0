//! The tile cache: moka, weighted by bytes, keyed by tileset and tile. Each entry keeps the tile
//! raw and gzip-compressed (compressed once, on the miss), brotli-compressed on the first request
//! that asks for it, and its ETag. Concurrent misses of one key run the query once: later
//! callers wait for the first.
//!
//! Entries are not keyed by data revision: a publish or an edit drops exactly the tiles of the
//! affected tilesets whose area intersects the change ([`TileCache::invalidate_area`]), so
//! untouched tiles stay warm across publishes.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bando_core::tile::{MERCATOR_HALF_SIZE, TileCoord};
use bytes::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    /// Tileset id (layer slug, composite id, or `a,b` list).
    pub tileset: Arc<str>,
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
    /// The same, brotli-compressed, made on first use.
    brotli: Arc<OnceLock<Bytes>>,
    /// Strong ETag, quoted.
    pub etag: Arc<str>,
    /// The same as a header value, made once.
    pub etag_header: axum::http::HeaderValue,
}

/// Brotli quality: 5 compresses MVT within a few percent of 11 at a fraction of the time.
const BROTLI_QUALITY: u32 = 5;

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
            brotli: Arc::default(),
            // A hex digest in quotes is always a valid header value.
            etag_header: axum::http::HeaderValue::from_str(&etag)
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("\"\"")),
            etag: etag.into(),
        }
    }

    /// The brotli-compressed tile (compressed on the first call, kept after).
    pub fn brotli(&self) -> Bytes {
        self.brotli
            .get_or_init(|| {
                let mut out = Vec::with_capacity(self.raw.len() / 2);
                let params = brotli::enc::BrotliEncoderParams {
                    quality: BROTLI_QUALITY as i32,
                    ..Default::default()
                };
                // Reading from a slice and writing into a Vec cannot fail.
                let _ = brotli::BrotliCompress(&mut &self.raw[..], &mut out, &params);
                Bytes::from(out)
            })
            .clone()
    }

    fn weight(&self) -> u32 {
        // The brotli copy is made later, so it is budgeted up front at the gzip size; key and
        // bookkeeping overhead are counted too, so empty tiles are not free.
        u32::try_from(self.raw.len() + 2 * self.gzip.len() + 128).unwrap_or(u32::MAX)
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which cached tiles a change makes stale.
#[derive(Debug, Clone)]
pub struct Staleness {
    /// Tilesets drawing the changed layer (its own, configured composites); ad-hoc composites
    /// naming `layer` are matched too.
    pub tilesets: Vec<Arc<str>>,
    /// The changed layer.
    pub layer: Arc<str>,
    /// EPSG:3857 `[min_x, min_y, max_x, max_y]` boxes the change lies in; `None` for everywhere.
    pub areas: Option<Vec<[f64; 4]>>,
}

impl Staleness {
    fn matches(&self, key: &TileKey) -> bool {
        // A composite variant drawn with non-public layers is cached as `<composite>@<layers>`.
        let base = key
            .tileset
            .split_once('@')
            .map_or(&*key.tileset, |(base, _)| base);
        let tileset_matches = self.tilesets.iter().any(|t| **t == *base)
            || (key.tileset.contains(',') && key.tileset.split(',').any(|s| *s == *self.layer));
        tileset_matches
            && self.areas.as_ref().is_none_or(|areas| {
                let [tx0, ty0, tx1, ty1] = key.coord.mercator_bounds();
                // Tiles draw 64/4096 of their width beyond their edges.
                let margin = (tx1 - tx0) * 64.0 / 4096.0;
                areas.iter().any(|&[x0, y0, x1, y1]| {
                    x0 <= tx1 + margin
                        && tx0 - margin <= x1
                        && y0 <= ty1 + margin
                        && ty0 - margin <= y1
                })
            })
    }
}

/// WGS84 bounds to EPSG:3857, clamped to the Mercator square.
pub fn lonlat_to_mercator_bounds([w, s, e, n]: [f64; 4]) -> [f64; 4] {
    let project = |lon: f64, lat: f64| {
        let lat = lat.clamp(
            -bando_core::tile::MAX_MERCATOR_LATITUDE,
            bando_core::tile::MAX_MERCATOR_LATITUDE,
        );
        let x = lon / 180.0 * MERCATOR_HALF_SIZE;
        let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
            .tan()
            .ln()
            / std::f64::consts::PI
            * MERCATOR_HALF_SIZE;
        (x, y)
    };
    let (x0, y0) = project(w, s);
    let (x1, y1) = project(e, n);
    [x0, y0, x1, y1]
}

/// The cache; capacity 0 disables it (every request runs its query).
#[derive(Debug, Clone)]
pub struct TileCache {
    inner: Option<Cache<TileKey, EncodedTile>>,
    /// Counts invalidations: a tile whose build overlapped one may hold data from before the
    /// change, so it is not kept.
    invalidations: Arc<AtomicU64>,
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
        Self {
            inner,
            invalidations: Arc::default(),
        }
    }

    /// The cached tile, or the one `build` makes (stored before it is returned). The flag tells
    /// whether it came from the cache. `build` is called only on a miss: making a tile source's
    /// future allocates, which a hit (most requests) should not pay for.
    pub async fn get_or_build<B, F>(
        &self,
        key: TileKey,
        build: B,
    ) -> Result<(EncodedTile, bool), ApiError>
    where
        B: FnOnce() -> F,
        F: Future<Output = Result<Bytes, ApiError>>,
    {
        let Some(cache) = &self.inner else {
            return Ok((EncodedTile::encode(build().await?), false));
        };
        let epoch = self.invalidations.load(Ordering::Acquire);
        let entry = cache
            .entry(key.clone())
            .or_try_insert_with(async { build().await.map(EncodedTile::encode) })
            .await
            .map_err(Arc::unwrap_or_clone)?;
        let hit = !entry.is_fresh();
        if !hit && self.invalidations.load(Ordering::Acquire) != epoch {
            // Built while a change was being announced: may predate it. Serve it this once.
            cache.invalidate(&key).await;
        }
        Ok((entry.into_value(), hit))
    }

    /// Drops the cached tiles a change made stale.
    pub fn invalidate_area(&self, stale: Staleness) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.inner
            && let Err(e) = cache.invalidate_entries_if(move |k, _| stale.matches(k))
        {
            tracing::warn!(error = %e, "tile cache invalidation failed; clearing the cache");
            cache.invalidate_all();
        }
    }

    /// Drops every cached tile.
    pub fn clear(&self) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.inner {
            cache.invalidate_all();
        }
    }

    /// Whether a tile is cached now (for tests and diagnostics; does not count as a use).
    pub fn contains(&self, key: &TileKey) -> bool {
        self.inner.as_ref().is_some_and(|c| c.contains_key(key))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tileset: &str, z: u32, x: u32, y: u32) -> TileKey {
        TileKey {
            tileset: tileset.into(),
            coord: TileCoord::new(z, x, y).unwrap(),
        }
    }

    #[test]
    fn staleness_matches_tilesets_and_area() {
        // Bến Thành market, a few metres around it.
        let area = lonlat_to_mercator_bounds([106.6980, 10.7724, 106.6982, 10.7726]);
        let stale = Staleness {
            tilesets: vec!["wards".into(), "basemap".into()],
            layer: "wards".into(),
            areas: Some(vec![area]),
        };
        assert!(stale.matches(&key("wards", 14, 13047, 7698)));
        assert!(stale.matches(&key("basemap", 10, 815, 481)));
        assert!(stale.matches(&key("basemap@plans", 10, 815, 481)));
        assert!(!stale.matches(&key("other@wards", 10, 815, 481)));
        assert!(stale.matches(&key("roads,wards", 14, 13047, 7698)));
        assert!(!stale.matches(&key("roads,wards2", 14, 13047, 7698)));
        assert!(!stale.matches(&key("roads", 14, 13047, 7698)));
        // The neighbouring z14 tiles two columns away are untouched.
        assert!(!stale.matches(&key("wards", 14, 13049, 7698)));
        assert!(!stale.matches(&key("wards", 14, 13047, 7700)));
        // Two boxes far apart stale the tiles around each, not those between.
        let far = lonlat_to_mercator_bounds([106.7900, 10.8400, 106.7901, 10.8401]);
        let two = Staleness {
            areas: Some(vec![area, far]),
            ..stale
        };
        assert!(two.matches(&key("wards", 14, 13047, 7698)));
        assert!(two.matches(&key("wards", 14, 13052, 7695)));
        assert!(!two.matches(&key("wards", 14, 13049, 7697)));
    }

    #[test]
    fn brotli_round_trips() {
        let raw = Bytes::from(vec![7u8; 10_000]);
        let tile = EncodedTile::encode(raw.clone());
        let compressed = tile.brotli();
        assert!(compressed.len() < 100);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &compressed[..], &mut out).unwrap();
        assert_eq!(out, raw);
    }
}
