//! The shared tile cache: Redis, behind the in-memory one, so that a tile is built once for the
//! whole fleet and a fresh instance starts warm.
//!
//! Each entry holds the tile gzip-compressed (the bytes most clients get), its ETag and the
//! revisions it was built from (`change_log::Stamps`); readers check those against what they know
//! before serving it. Keys are the in-memory cache's keys (tileset id, `z/x/y`), so the access
//! rules are the same: a composite drawn with non-public layers has its own id, and access is
//! checked before any cache is asked.
//!
//! Redis's memory is bounded by its own `maxmemory` with `allkeys-lru` (README, "Running at city
//! scale"); entries also expire after `--redis-ttl-hours`. Every operation has a deadline: a Redis
//! that is down, slow or flushed costs a miss, never an error to a client. The connection is made
//! in the background, and replaced when calls keep failing; the shared cache is skipped meanwhile.
//!
//! # Built once, Redis slow or not
//! A slow answer is not a missing one. The first read of a miss waits `--redis-timeout-ms`
//! (a hot path: past it, the tile is looked for under the build lock). Everything that decides
//! whether to build waits up to [`BUILD_LOCK`] for Redis: taking the lock (`SET NX PX … GET`, so an
//! attempt whose answer came late is recognised as this instance's own), looking again under it,
//! storing the tile before letting go, and a waiter's polls. The holder renews its lock while it
//! builds, so a slow build never lets a second instance in; a holder that dies lets it expire
//! within [`BUILD_LOCK`]. Only when Redis fails or stays silent for [`BUILD_LOCK`] does an
//! instance build without the lock (`bando_tile_unlocked_builds_total`). The bound: while Redis
//! answers within [`BUILD_LOCK`], a tile is built once for the whole fleet (per change); beyond
//! that, builds ≤ tiles + unlocked builds (at most one per instance per tile, as the in-memory
//! tier lets one miss per key through at a time). Needs Redis 7 (`SET NX GET`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::tiles::cache::TileKey;
use crate::tiles::change_log::Stamps;

/// How long a tile's build lock lasts unless its holder renews it (every third of it, while it
/// builds): what a dead holder costs the others. Also how long a call that saves a build (lock,
/// store, a waiter's look) waits for Redis before taking it for down.
pub const BUILD_LOCK: Duration = Duration::from_secs(3);
/// How often a waiting instance first looks for the tile another one is building (doubling to
/// [`WAIT_POLL_MAX`]).
const WAIT_POLL: Duration = Duration::from_millis(10);
const WAIT_POLL_MAX: Duration = Duration::from_millis(100);

/// Settings of the shared cache.
#[derive(Debug, Clone)]
pub struct SharedCacheSettings {
    /// `redis://host:port/db`.
    pub url: String,
    /// Entries expire after this.
    pub ttl: Duration,
    /// Deadline of each operation.
    pub timeout: Duration,
    /// Key prefix (several deployments may share one Redis).
    pub prefix: String,
    /// The longest a tile build may take (the query timeout): how long a miss waits for another
    /// instance's build, beyond [`BUILD_LOCK`].
    pub longest_build: Duration,
}

/// What a Redis call came to.
enum Answer<T> {
    /// It answered in time.
    Value(T),
    /// No answer within the deadline (it may come later: the command may have run).
    Slow,
    /// An error, or no connection.
    Failed,
}

/// The outcome of asking for a tile's build lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// This instance holds it: build, store, let go.
    Taken,
    /// Another instance holds it: wait for its tile.
    HeldElsewhere,
    /// Redis failed or stayed silent: build without it.
    Unavailable,
}

/// The outcome of waiting for another instance's build.
#[derive(Debug)]
pub enum Waited {
    /// Its tile, accepted.
    Tile(SharedTile),
    /// The lock is free and no acceptable tile was stored: ask for the lock again.
    Free,
    /// Redis failed, stayed silent, or the build took longer than a build may: build.
    Unavailable,
}

/// Renews a build lock while alive (aborted when dropped).
#[derive(Debug)]
pub struct HeldLock(tokio::task::JoinHandle<()>);

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A tile as stored: what a reader needs to serve it and to judge whether it is current.
#[derive(Debug, Clone)]
pub struct SharedTile {
    /// Gzip-compressed MVT (empty for an empty tile).
    pub gzip: Bytes,
    /// The tile's ETag, quoted.
    pub etag: String,
    /// Revisions it was built from.
    pub stamps: Stamps,
}

#[derive(Serialize, Deserialize)]
struct Header {
    etag: String,
    stamps: Vec<(String, i64)>,
}

impl SharedTile {
    /// `[header length: u32 LE][header JSON][gzip bytes]`.
    fn encode(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&Header {
            etag: self.etag.clone(),
            stamps: self
                .stamps
                .iter()
                .map(|(l, r)| (l.to_string(), *r))
                .collect(),
        })
        .unwrap_or_default();
        let mut out = Vec::with_capacity(4 + header.len() + self.gzip.len());
        out.extend_from_slice(&u32::try_from(header.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.gzip);
        out
    }

    fn decode(bytes: Vec<u8>) -> Option<Self> {
        let length = usize::try_from(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?)).ok()?;
        let header: Header = serde_json::from_slice(bytes.get(4..4 + length)?).ok()?;
        let gzip = Bytes::from(bytes).slice(4 + length..);
        Some(Self {
            gzip,
            etag: header.etag,
            stamps: header
                .stamps
                .into_iter()
                .map(|(l, r)| (Arc::from(l), r))
                .collect(),
        })
    }
}

/// The shared cache client (cheap to clone).
#[derive(Clone)]
pub struct SharedCache {
    settings: Arc<SharedCacheSettings>,
    client: redis::Client,
    /// `None` until the first connection is made.
    connection: Arc<RwLock<Option<ConnectionManager>>>,
    /// A connection is being made in the background.
    connecting: Arc<AtomicBool>,
    /// Since when every call has failed (`None` while calls succeed).
    failing_since: Arc<Mutex<Option<Instant>>>,
    metrics: Arc<Metrics>,
    up: Arc<AtomicBool>,
    instance: Arc<str>,
}

/// Calls failing for this long make the client replace its connection: the connection manager
/// remakes its connection only after errors it takes for I/O errors, and after some failed
/// attempts (Redis down for a while) it may keep answering its last error.
const REPLACE_AFTER: Duration = Duration::from_secs(1);

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache")
            .field("prefix", &self.settings.prefix)
            .finish_non_exhaustive()
    }
}

/// A client of `url`, or why the URL cannot be used (checked by `Config::load`).
pub fn client(url: &str) -> Result<redis::Client, String> {
    redis::Client::open(url).map_err(|e| format!("{url:?} is not a Redis URL ({e})"))
}

impl SharedCache {
    /// A client of the Redis at `settings.url`; connects in the background (until it does, the
    /// shared cache is skipped).
    pub fn connect(settings: SharedCacheSettings, metrics: Arc<Metrics>) -> Result<Self, String> {
        let client = client(&settings.url)?;
        let cache = Self {
            client,
            connection: Arc::default(),
            connecting: Arc::default(),
            failing_since: Arc::default(),
            metrics,
            up: Arc::default(),
            instance: format!("{}-{}", std::process::id(), rand_suffix()).into(),
            settings: Arc::new(settings),
        };
        cache.connect_in_background();
        Ok(cache)
    }

    /// Makes a new connection in the background (unless one is being made) and puts it in place
    /// of the present one, retrying until Redis answers.
    fn connect_in_background(&self) {
        if self.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(1))
                .set_response_timeout(this.settings.timeout)
                .set_number_of_retries(2)
                .set_max_delay(1000);
            let mut backoff = Duration::from_millis(250);
            loop {
                match ConnectionManager::new_with_config(this.client.clone(), config.clone()).await
                {
                    Ok(manager) => {
                        *this
                            .connection
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(manager);
                        *this
                            .failing_since
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                        this.connecting.store(false, Ordering::Release);
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, retry_in = ?backoff, "shared tile cache (Redis) not reachable");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
        });
    }

    fn key(&self, key: &TileKey) -> String {
        format!(
            "{}tile:{}:{}/{}/{}",
            self.settings.prefix, key.tileset, key.coord.z, key.coord.x, key.coord.y
        )
    }

    fn lock_key(&self, key: &TileKey) -> String {
        format!(
            "{}lock:{}:{}/{}/{}",
            self.settings.prefix, key.tileset, key.coord.z, key.coord.x, key.coord.y
        )
    }

    /// Runs `op` on the connection within `deadline`. A failure (and a silence as long as
    /// [`BUILD_LOCK`]) is counted, logged when Redis goes from answering to not, and replaces the
    /// connection when calls keep failing; a late answer within that is only counted as slow.
    async fn call<T, F, Fut>(&self, deadline: Duration, op: F) -> Answer<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self
            .connection
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(connection) = connection else {
            return Answer::Failed;
        };
        let outcome = tokio::time::timeout(deadline, op(connection)).await;
        let failed = match &outcome {
            Ok(Ok(_)) => false,
            Ok(Err(_)) => true,
            Err(_) => deadline >= BUILD_LOCK,
        };
        self.note(!failed, &outcome);
        let mut failing_since = self
            .failing_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !failed {
            *failing_since = None;
        } else if failing_since.get_or_insert_with(Instant::now).elapsed() > REPLACE_AFTER {
            *failing_since = None;
            drop(failing_since);
            self.connect_in_background();
        }
        match outcome {
            Ok(Ok(value)) => Answer::Value(value),
            Ok(Err(_)) => Answer::Failed,
            Err(_) if failed => Answer::Failed,
            Err(_) => {
                self.metrics.tiers.shared_slow.inc();
                Answer::Slow
            }
        }
    }

    fn note<T>(
        &self,
        ok: bool,
        outcome: &Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) {
        use std::sync::atomic::Ordering;
        let was = self.up.swap(ok, Ordering::AcqRel);
        self.metrics.tiers.shared_up.set(i64::from(ok));
        if !ok {
            self.metrics.tiers.shared_errors.inc();
        }
        if was != ok {
            if ok {
                tracing::info!("shared tile cache (Redis) answering again");
            } else {
                let reason = match outcome {
                    Err(_) => "no answer".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                tracing::warn!(
                    reason,
                    "shared tile cache (Redis) failing; tiles come from memory and PostgreSQL"
                );
            }
        }
    }

    async fn get_within(&self, key: &TileKey, deadline: Duration) -> Option<SharedTile> {
        let started = Instant::now();
        let redis_key = self.key(key);
        let value = self
            .call(deadline, |mut c| async move {
                c.get::<_, Option<Vec<u8>>>(redis_key).await
            })
            .await;
        self.metrics
            .tiers
            .shared_seconds
            .observe(started.elapsed().as_secs_f64());
        match value {
            Answer::Value(Some(bytes)) => SharedTile::decode(bytes),
            _ => None,
        }
    }

    /// The stored tile, if Redis answers within `--redis-timeout-ms`.
    pub async fn get(&self, key: &TileKey) -> Option<SharedTile> {
        self.get_within(key, self.settings.timeout).await
    }

    /// The stored tile, waiting up to [`BUILD_LOCK`] for Redis (under the build lock: a late
    /// answer is worth more than a build).
    pub async fn get_patiently(&self, key: &TileKey) -> Option<SharedTile> {
        self.get_within(key, BUILD_LOCK).await
    }

    /// Stores a tile, then lets go of its build lock (in the background: the client does not
    /// wait for either; in this order, so an instance waiting for the lock finds the tile).
    pub fn put_then_unlock(&self, key: &TileKey, tile: SharedTile) {
        let this = self.clone();
        let redis_key = self.key(key);
        let lock_key = self.lock_key(key);
        let ttl = self.settings.ttl.as_millis().try_into().unwrap_or(u64::MAX);
        tokio::spawn(async move {
            let value = tile.encode();
            let stored = this
                .call(BUILD_LOCK, |mut c| async move {
                    c.pset_ex::<_, _, ()>(redis_key, value, ttl).await
                })
                .await;
            if matches!(stored, Answer::Value(())) {
                this.metrics.tiers.shared_writes.inc();
            }
            this.release(lock_key).await;
        });
    }

    /// Asks for the fleet-wide build lock of a tile (for [`BUILD_LOCK`], renewed by
    /// [`SharedCache::keep_locked`]). `GET` makes the answer tell an attempt of this instance
    /// whose answer came too late from another instance's lock.
    pub async fn lock(&self, key: &TileKey) -> Lock {
        let lock_key = self.lock_key(key);
        let owner = self.instance.to_string();
        let ms = u64::try_from(BUILD_LOCK.as_millis()).unwrap_or(u64::MAX);
        let token = owner.clone();
        let answer: Answer<Option<String>> = self
            .call(BUILD_LOCK, |mut c| async move {
                redis::cmd("SET")
                    .arg(lock_key)
                    .arg(token)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms)
                    .arg("GET")
                    .query_async(&mut c)
                    .await
            })
            .await;
        match answer {
            // Set now (nothing was there), or already ours.
            Answer::Value(None) => Lock::Taken,
            Answer::Value(Some(holder)) if holder == owner => Lock::Taken,
            Answer::Value(Some(_)) => Lock::HeldElsewhere,
            Answer::Slow | Answer::Failed => Lock::Unavailable,
        }
    }

    /// Renews this instance's build lock of a tile every third of [`BUILD_LOCK`] until the
    /// returned guard is dropped: a build slower than the lock does not let another instance in.
    pub fn keep_locked(&self, key: &TileKey) -> HeldLock {
        let this = self.clone();
        let lock_key = self.lock_key(key);
        HeldLock(tokio::spawn(async move {
            let script = redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
            );
            let ms = u64::try_from(BUILD_LOCK.as_millis()).unwrap_or(u64::MAX);
            loop {
                tokio::time::sleep(BUILD_LOCK / 3).await;
                let (script, key, owner) =
                    (script.clone(), lock_key.clone(), this.instance.to_string());
                this.call(BUILD_LOCK / 3, |mut c| async move {
                    script
                        .key(key)
                        .arg(owner)
                        .arg(ms)
                        .invoke_async::<i64>(&mut c)
                        .await
                })
                .await;
            }
        }))
    }

    /// Releases a tile's build lock if this instance still holds it (in the background).
    pub fn unlock(&self, key: &TileKey) {
        let this = self.clone();
        let lock_key = self.lock_key(key);
        tokio::spawn(async move { this.release(lock_key).await });
    }

    async fn release(&self, lock_key: String) {
        // Only the holder's token deletes it: a lock that expired and was taken by another
        // instance stays theirs.
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        let owner = self.instance.to_string();
        self.call(BUILD_LOCK, |mut c| async move {
            script
                .key(lock_key)
                .arg(owner)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await;
    }

    /// Waits for the instance holding the tile's build lock to store it: returns it when it
    /// appears and `accept` takes it; [`Waited::Free`] when the lock is let go (or expires)
    /// without such a tile; [`Waited::Unavailable`] when Redis fails or stays silent for
    /// [`BUILD_LOCK`], or the wait outlasts the longest build. One round trip a look: the tile
    /// and the lock read together (`MGET`), so a tile stored just before its lock was let go is
    /// never missed.
    pub async fn wait_for(&self, key: &TileKey, accept: impl Fn(&SharedTile) -> bool) -> Waited {
        self.metrics.tiers.shared_waits.inc();
        let deadline = Instant::now() + self.settings.longest_build + BUILD_LOCK;
        let mut pause = WAIT_POLL;
        loop {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(WAIT_POLL_MAX);
            let keys = [self.key(key), self.lock_key(key)];
            let answer: Answer<(Option<Vec<u8>>, Option<String>)> = self
                .call(BUILD_LOCK, |mut c| async move { c.mget(&keys).await })
                .await;
            let Answer::Value((tile, holder)) = answer else {
                return Waited::Unavailable;
            };
            if let Some(tile) = tile.and_then(SharedTile::decode)
                && accept(&tile)
            {
                return Waited::Tile(tile);
            }
            if holder.is_none() {
                return Waited::Free;
            }
            if Instant::now() >= deadline {
                return Waited::Unavailable;
            }
        }
    }
}

/// A few random hex digits, so two processes with the same pid (two machines) hold distinct locks.
fn rand_suffix() -> String {
    use std::hash::{BuildHasher, RandomState};
    format!("{:08x}", RandomState::new().hash_one(Instant::now()) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        let tile = SharedTile {
            gzip: Bytes::from_static(b"\x1f\x8b gzip bytes"),
            etag: "\"abc\"".into(),
            stamps: vec![(Arc::from("wards"), 12), (Arc::from("roads"), 7)].into(),
        };
        let back = SharedTile::decode(tile.encode()).unwrap();
        assert_eq!(back.gzip, tile.gzip);
        assert_eq!(back.etag, tile.etag);
        assert_eq!(back.stamps, tile.stamps);
        assert!(SharedTile::decode(vec![9, 0, 0, 0, b'{']).is_none());
    }
}
