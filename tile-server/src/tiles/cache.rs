//! The tile cache tiers behind one call, [`TileCache::get_or_build`]: the in-memory cache (moka,
//! weighted by bytes, keyed by tileset and tile), then the shared cache (Redis, when configured),
//! then a build. Each in-memory entry keeps the tile raw and gzip-compressed (compressed once),
//! brotli-compressed on the first request that asks for it, its ETag and the revisions it was
//! built from. Concurrent misses of one key run the query once: later callers wait for the first
//! (and across the fleet, instances wait for the one holding the tile's build lock).
//!
//! Entries are not keyed by data revision: a publish or an edit drops exactly the tiles of the
//! affected tilesets whose area intersects the change ([`TileCache::invalidate_areas`]), so
//! untouched tiles stay warm across publishes. What makes that exact — no tier ever serves a tile
//! older than a change known here, whoever built it and whenever — is the rule in
//! [`super::change_log`], checked on every tier.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bando_core::tile::{MERCATOR_HALF_SIZE, TileCoord};
use bytes::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use super::change_log::{ChangeLog, Stamps};
use super::shared_cache::{Lock, SharedCache, SharedTile, Waited};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::read_pools::ReadFrom;

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
    /// Revisions it was built from.
    pub stamps: Stamps,
    /// The change log generation at which it was last found current (see `ChangeLog`).
    verified: Arc<AtomicU64>,
}

/// A tile as a source builds it: the MVT bytes and the revisions they show.
#[derive(Debug, Clone, Default)]
pub struct BuiltTile {
    /// MVT bytes; empty for a tile with no feature.
    pub raw: Bytes,
    /// `(layer, revision)` of each layer drawn, read in the same snapshot as the rows.
    pub stamps: Stamps,
}

/// Where a served tile came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// This instance's memory.
    Memory = 0,
    /// The shared cache (Redis).
    Shared = 1,
    /// Built by a query just now.
    Built = 2,
}

impl Tier {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Shared,
            2 => Self::Built,
            _ => Self::Memory,
        }
    }
}

/// Brotli quality: 5 compresses MVT within a few percent of 11 at a fraction of the time.
const BROTLI_QUALITY: u32 = 5;

impl EncodedTile {
    /// Compresses and fingerprints a built tile.
    pub fn from_built(built: BuiltTile) -> Self {
        Self::encode(built.raw, built.stamps)
    }

    /// A tile from the shared cache: stored gzip-compressed, inflated here for clients that do
    /// not take gzip (and for brotli).
    fn from_shared(tile: SharedTile) -> Option<Self> {
        let raw = if tile.gzip.is_empty() {
            Bytes::new()
        } else {
            use std::io::Read;
            let mut raw = Vec::with_capacity(tile.gzip.len() * 3);
            flate2::read::GzDecoder::new(&tile.gzip[..])
                .read_to_end(&mut raw)
                .ok()?;
            Bytes::from(raw)
        };
        Some(Self {
            raw,
            gzip: tile.gzip,
            brotli: Arc::default(),
            etag_header: axum::http::HeaderValue::from_str(&tile.etag).ok()?,
            etag: tile.etag.into(),
            stamps: tile.stamps,
            verified: unverified(),
        })
    }

    fn to_shared(&self) -> SharedTile {
        SharedTile {
            gzip: self.gzip.clone(),
            etag: self.etag.to_string(),
            stamps: self.stamps.clone(),
        }
    }

    /// Compresses and fingerprints `raw`, built from `stamps`.
    pub fn encode(raw: Bytes, stamps: Stamps) -> Self {
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
            stamps,
            verified: unverified(),
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

/// Never equal to a change log generation: a new entry is checked on its first use.
fn unverified() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(u64::MAX))
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
        tileset_matches && crate::tiles::change_log::tile_intersects(key.coord, &self.areas)
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

/// The cache tiers; an in-memory capacity of 0 disables that tier (every request goes on to the
/// shared cache or a query).
#[derive(Debug, Clone)]
pub struct TileCache {
    inner: Option<Cache<TileKey, EncodedTile>>,
    shared: Option<SharedCache>,
    log: Arc<ChangeLog>,
    metrics: Arc<Metrics>,
}

/// Times a tile found older than a change known now is fetched again before it is built on the
/// primary without caching (changes arriving faster than tiles build).
const CURRENT_ATTEMPTS: usize = 3;

/// Times a miss asks for a tile's build lock (a holder may let go without a current tile)
/// before it builds without it.
const LOCK_ROUNDS: usize = 3;

impl TileCache {
    /// A cache holding at most `capacity_bytes` in memory, then `shared` (when set), judged by
    /// `log`.
    pub fn new(
        capacity_bytes: u64,
        shared: Option<SharedCache>,
        log: Arc<ChangeLog>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let inner = (capacity_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|_key: &TileKey, tile: &EncodedTile| tile.weight())
                .support_invalidation_closures()
                .build()
        });
        Self {
            inner,
            shared,
            log,
            metrics,
        }
    }

    /// The change log the tiers are judged by.
    pub fn change_log(&self) -> &Arc<ChangeLog> {
        &self.log
    }

    /// The cached tile, or the one `build` makes (stored before it is returned), and the tier it
    /// came from. `build` is called only on a miss (making a source's future allocates, which a
    /// hit should not pay for); it reads where it is told ([`ReadFrom`]).
    pub async fn get_or_build<B, F>(
        &self,
        key: TileKey,
        build: B,
    ) -> Result<(EncodedTile, Tier), ApiError>
    where
        B: Fn(ReadFrom) -> F,
        F: Future<Output = Result<BuiltTile, ApiError>>,
    {
        let Some(cache) = &self.inner else {
            return self.fill(&key, &build).await;
        };
        for _ in 0..CURRENT_ATTEMPTS {
            let tier = AtomicU8::new(Tier::Memory as u8);
            let entry = cache
                .entry(key.clone())
                .or_try_insert_with(async {
                    let (tile, from) = self.fill(&key, &build).await?;
                    tier.store(from as u8, Ordering::Relaxed);
                    Ok::<_, ApiError>(tile)
                })
                .await
                .map_err(Arc::unwrap_or_clone)?;
            let tile = entry.into_value();
            if self.is_current(key.coord, &tile) {
                return Ok((tile, Tier::from_u8(tier.load(Ordering::Relaxed))));
            }
            // A change over it was heard of after it was stored (or while it was built): its
            // drop may not have reached this entry yet.
            cache.invalidate(&key).await;
        }
        let built = build(ReadFrom::Primary).await?;
        self.metrics.tiers.tile_builds.inc();
        Ok((EncodedTile::from_built(built), Tier::Built))
    }

    /// Whether `tile` shows every change known here over it; cheap while nothing changed since
    /// it was last found current.
    fn is_current(&self, coord: TileCoord, tile: &EncodedTile) -> bool {
        let generation = self.log.generation();
        if tile.verified.load(Ordering::Acquire) == generation {
            return true;
        }
        let current = self.log.is_current(coord, &tile.stamps);
        if current {
            tile.verified.store(generation, Ordering::Release);
        }
        current
    }

    /// A tile from the shared cache when it holds a current one, else built once for the fleet:
    /// under the tile's build lock, or by waiting for the instance holding it (see
    /// `shared_cache` for what a slow Redis does to this).
    async fn fill<B, F>(&self, key: &TileKey, build: &B) -> Result<(EncodedTile, Tier), ApiError>
    where
        B: Fn(ReadFrom) -> F,
        F: Future<Output = Result<BuiltTile, ApiError>>,
    {
        let Some(shared) = &self.shared else {
            return Ok((self.build_current(key.coord, build).await?, Tier::Built));
        };
        let current = |tile: &SharedTile| self.log.is_current(key.coord, &tile.stamps);
        let from_shared = |tile: SharedTile| {
            EncodedTile::from_shared(tile).map(|tile| {
                self.metrics.tiers.shared_hits.inc();
                (tile, Tier::Shared)
            })
        };
        match shared.get(key).await {
            Some(tile) if current(&tile) => {
                if let Some(found) = from_shared(tile) {
                    return Ok(found);
                }
            }
            Some(_) => {
                self.metrics.tiers.shared_stale.inc();
            }
            None => {
                self.metrics.tiers.shared_misses.inc();
            }
        }
        // A holder that lets go without a current tile (its build failed, or a change came
        // meanwhile) sends the waiters back for the lock; a few rounds, then build.
        for _ in 0..LOCK_ROUNDS {
            match shared.lock(key).await {
                Lock::Taken => {
                    // The lock may have been free because another instance just stored the
                    // tile and let go of it: look once more before building.
                    if let Some(found) = shared
                        .get_patiently(key)
                        .await
                        .filter(current)
                        .and_then(from_shared)
                    {
                        shared.unlock(key);
                        return Ok(found);
                    }
                    let held = shared.keep_locked(key);
                    let built = self.build_current(key.coord, build).await;
                    drop(held);
                    return match built {
                        Ok(tile) => {
                            // Stored before the lock is let go, so a waiter finds it.
                            shared.put_then_unlock(key, tile.to_shared());
                            Ok((tile, Tier::Built))
                        }
                        Err(e) => {
                            shared.unlock(key);
                            Err(e)
                        }
                    };
                }
                Lock::HeldElsewhere => match shared.wait_for(key, current).await {
                    Waited::Tile(tile) => match from_shared(tile) {
                        Some(found) => return Ok(found),
                        None => break,
                    },
                    Waited::Free => {}
                    Waited::Unavailable => break,
                },
                Lock::Unavailable => break,
            }
        }
        self.metrics.tiers.unlocked_builds.inc();
        Ok((self.build_current(key.coord, build).await?, Tier::Built))
    }

    /// Builds a tile where `build` reads best; one found older than a change known here (a
    /// replica behind) is built again on the primary.
    async fn build_current<B, F>(
        &self,
        coord: TileCoord,
        build: &B,
    ) -> Result<EncodedTile, ApiError>
    where
        B: Fn(ReadFrom) -> F,
        F: Future<Output = Result<BuiltTile, ApiError>>,
    {
        let mut built = build(ReadFrom::AnyCurrent).await?;
        self.metrics.tiers.tile_builds.inc();
        if !self.log.is_current(coord, &built.stamps) {
            self.metrics.tiers.stale_builds.inc();
            built = build(ReadFrom::Primary).await?;
            self.metrics.tiers.tile_builds.inc();
        }
        Ok(EncodedTile::from_built(built))
    }

    /// Drops the cached tiles a change made stale.
    pub fn invalidate_area(&self, stale: Staleness) {
        self.invalidate_areas(vec![stale]);
    }

    /// Drops the cached tiles any of several changes made stale, in one pass over the cache
    /// (a catch-up may bring thousands of changes).
    pub fn invalidate_areas(&self, stale: Vec<Staleness>) {
        if stale.is_empty() {
            return;
        }
        if let Some(cache) = &self.inner
            && let Err(e) =
                cache.invalidate_entries_if(move |k, _| stale.iter().any(|s| s.matches(k)))
        {
            tracing::warn!(error = %e, "tile cache invalidation failed; clearing the cache");
            cache.invalidate_all();
        }
    }

    /// Drops every cached tile.
    pub fn clear(&self) {
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
        let tile = EncodedTile::encode(raw.clone(), Stamps::default());
        let compressed = tile.brotli();
        assert!(compressed.len() < 100);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &compressed[..], &mut out).unwrap();
        assert_eq!(out, raw);
    }
}
