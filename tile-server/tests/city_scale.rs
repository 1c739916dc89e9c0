//! The fleet at city scale, end to end: two `bando serve` processes (A and B) sharing one Redis,
//! reading one PostgreSQL primary and (where said) its streaming replica — and what users rely on
//! from it:
//! - a tile is built once for the fleet: the other instance serves it from Redis without a query,
//!   and concurrent misses on both instances build each tile once;
//! - a change (an SQL edit, a republish) shows in the tiles of both instances within a second,
//!   while untouched tiles stay cached;
//! - a tile asked for at a revision (`?v=` from TileJSON) is never older than that revision,
//!   whichever instance gave the revision and whichever serves the tile, while edits keep coming;
//! - a replica that stops replaying never makes an instance serve a tile older than a change it
//!   heard of; it leaves the rotation, and comes back when it has caught up;
//! - with the primary down, tiles nobody holds are built on the replica instead of failing;
//! - Redis killed and restarted under load fails no request, and the shared cache comes back;
//!   an instance killed behind nginx fails at most the requests it had in flight;
//! - a restricted layer's tile warmed into Redis by its owner reaches nobody else.
//!
//! Everything is real: a private primary cluster (`.bando/city-test-pg`, port 55480) and its
//! streaming replica (`.bando/city-test-replica`, port 55481), made once and reused across runs;
//! per test a database, a `redis-server` and the `bando` processes. The tests run one at a time:
//! they share the replica, and one pauses its replay.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bando_core::api_key::Scope;
use bando_core::db::PoolSettings;
use bando_core::embedded::{EmbeddedCluster, cluster_root};
use bando_core::layer::Visibility;
use bando_core::testing::{agency_key, mvt, shared_data};
use bando_core::tile::TileCoord;
use bando_importers::ImportRequest;
use bytes::Bytes;
use reqwest::StatusCode;
use sqlx::PgPool;

/// The layer every test serves: the two wards below.
const LAYER: &str = "wards_2025";
/// Ward code of Bến Thành (the ward the tests edit).
const BEN_THANH: &str = "26743";
/// Bến Thành market (in ward 26743), WGS84.
const MARKET: (f64, f64) = (106.6981, 10.7725);
/// Thủ Dầu Một (ward 25747), 25 km north: tiles there are never touched by an edit of Bến Thành.
const THU_DAU_MOT: (f64, f64) = (106.6643, 10.9682);
/// WGS84 bounds `[west, south, east, north]` of the two wards in the data set.
const BEN_THANH_BOUNDS: [f64; 4] = [106.684_494, 10.763_416, 106.702_652, 10.779_586];
const THU_DAU_MOT_BOUNDS: [f64; 4] = [106.629_773, 10.939_776, 106.689_268, 10.996_653];

const PRIMARY_PORT: u16 = 55480;
const REPLICA_PORT: u16 = 55481;

/// One test at a time (a tokio mutex: it does not poison, so one failure does not fail the rest).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Numbers the databases of this process.
static DATABASES: AtomicU32 = AtomicU32::new(0);

// ---------------------------------------------------------------------------------------------
// The topology
// ---------------------------------------------------------------------------------------------

/// The private primary and its streaming replica.
struct Clusters {
    primary: EmbeddedCluster,
    replica: EmbeddedCluster,
}

/// Starts (creating on first use) the primary and its replica; both are reused across runs.
async fn clusters() -> Clusters {
    let home = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.bando");
    let clusters = tokio::task::spawn_blocking(move || {
        let mut primary =
            EmbeddedCluster::new(cluster_root(&home, "city-test-pg"), PRIMARY_PORT, false);
        primary.ensure_running().unwrap();
        let mut replica = EmbeddedCluster::new(
            cluster_root(&home, "city-test-replica"),
            REPLICA_PORT,
            false,
        );
        replica.ensure_replica_of(&primary).unwrap();
        Clusters { primary, replica }
    })
    .await
    .unwrap();
    // A run killed while replay was paused would leave the replica behind for good.
    resume_replay(clusters.replica.port());
    clusters
}

/// A database of its own on the primary, holding the two wards as `wards_2025`, replicated.
struct CityDatabase {
    url: String,
    replica_url: String,
    /// On the primary.
    pool: PgPool,
    /// On the replica (read-only).
    replica: PgPool,
    replica_port: u16,
    /// GeoJSON files made for imports.
    files: tempfile::TempDir,
}

impl CityDatabase {
    async fn create(clusters: &Clusters) -> Self {
        let name = format!(
            "city_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let admin = PgPool::connect(&clusters.primary.url("postgres"))
            .await
            .unwrap();
        // The clusters are this file's and its tests run one at a time: any database left here
        // (by an earlier test or run) is done with.
        let leftovers: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'city\\_%'")
                .fetch_all(&admin)
                .await
                .unwrap();
        for leftover in leftovers.iter().chain([&name]) {
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{leftover}\" WITH (FORCE)"
            ))
            .execute(&admin)
            .await
            .unwrap();
        }
        admin.close().await;
        // CREATE DATABASE and CREATE EXTENSION postgis.
        let url = clusters.primary.ensure_database(&name).await.unwrap();
        let pool = bando_core::db::connect(
            &url,
            &PoolSettings {
                max_connections: 8,
                application_name: "city-test".to_owned(),
                ..PoolSettings::default()
            },
        )
        .await
        .unwrap();
        bando_core::db::migrate(&pool).await.unwrap();
        let files = tempfile::tempdir().unwrap();
        publish_wards(
            &pool,
            files.path(),
            LAYER,
            "Bến Thành",
            ImportRequest::default(),
        )
        .await;
        let replica_url = clusters.replica.url(&name);
        let replica = replicated(&pool, &replica_url).await;
        Self {
            url,
            replica_url,
            pool,
            replica,
            replica_port: clusters.replica.port(),
            files,
        }
    }

    /// Renames Bến Thành by a direct SQL edit of the layer table.
    async fn rename_ben_thanh(&self, name: &str) {
        sqlx::query("UPDATE layers.wards_2025 SET name = $1 WHERE code = $2")
            .bind(name)
            .bind(BEN_THANH)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// The layer's revision in the catalog now.
    async fn revision(&self) -> i64 {
        sqlx::query_scalar("SELECT revision FROM bando.layers WHERE slug = $1")
            .bind(LAYER)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// Waits until the replica has replayed everything the primary wrote so far (the database's
/// creation, migrations and import included: replication is asynchronous); returns a pool on it.
async fn replicated(primary: &PgPool, replica_url: &str) -> PgPool {
    let written: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(primary)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The database does not exist on the replica until its creation is replayed.
        if let Ok(replica) = PgPool::connect(replica_url).await {
            let caught_up: bool =
                sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
                    .bind(&written)
                    .fetch_one(&replica)
                    .await
                    .unwrap();
            if caught_up {
                return replica;
            }
            replica.close().await;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not replay the new database (up to {written}) within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Imports the two wards as `layer`, Bến Thành named `ben_thanh_name`; `request` gives the
/// other settings (agency, visibility).
async fn publish_wards(
    pool: &PgPool,
    dir: &Path,
    layer: &str,
    ben_thanh_name: &str,
    request: ImportRequest,
) {
    let wards = shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards");
    let mut features = Vec::new();
    for file in ["26743_ben_thanh.geojson", "25747_thu_dau_mot.geojson"] {
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(wards.join(file)).unwrap()).unwrap();
        let mut list = match value["type"].as_str() {
            Some("FeatureCollection") => value["features"].as_array().unwrap().clone(),
            _ => vec![value],
        };
        for feature in &mut list {
            if feature["properties"]["code"] == BEN_THANH {
                feature["properties"]["name"] = ben_thanh_name.into();
            }
        }
        features.extend(list);
    }
    let path = dir.join(format!("{layer}.geojson"));
    std::fs::write(
        &path,
        serde_json::json!({ "type": "FeatureCollection", "features": features }).to_string(),
    )
    .unwrap();
    let request = ImportRequest {
        path,
        layer: layer.to_owned(),
        force: true,
        ..request
    };
    bando_importers::import(pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

/// A `redis-server` of a test's own, on a free loopback port; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn_redis(port, dir.path());
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `SIGKILL`: no shutdown, connections reset.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// A new, empty Redis on the same port.
    fn restart(&mut self) {
        self.child = spawn_redis(self.port, self.dir.path());
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `redis-server` as the README advises for the shared cache (no persistence, bounded
/// memory, LRU) and waits until it answers `PING`.
fn spawn_redis(port: u16, dir: &Path) -> Child {
    let mut child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if !answers_ping(port, Duration::from_secs(10)) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server on {port} never answered");
    }
    child
}

/// Whether a Redis on `port` answers `PING` within `within`.
fn answers_ping(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let pong = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(1)))?;
            stream.write_all(b"PING\r\n")?;
            let mut answer = [0; 7];
            stream.read_exact(&mut answer)?;
            Ok(answer == *b"+PONG\r\n")
        });
        if pong.is_ok_and(|p| p) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A `bando serve` process, killed with `SIGKILL` when dropped. Its log is kept for failure
/// messages.
struct Server {
    name: &'static str,
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
    /// Probe tiles asked so far (each probe is a tile not asked before).
    probes: AtomicU32,
}

/// An answer to a tile request.
#[derive(Debug)]
struct TileAnswer {
    status: StatusCode,
    /// `x-tile-cache`: `hit`, `shared` or `miss`.
    cache: String,
    etag: Option<String>,
    cache_control: String,
    /// The MVT bytes (reqwest inflates the gzip the server sends).
    body: Bytes,
}

impl TileAnswer {
    /// The name of ward `code` drawn in the tile, if it is there.
    fn ward_name(&self, layer: &str, code: &str) -> Option<String> {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        ward_name(&self.body, layer, code)
    }
}

/// The name of ward `code` in MVT layer `layer` of `tile`, if it is there.
fn ward_name(tile: &[u8], layer: &str, code: &str) -> Option<String> {
    mvt::decode(tile)
        .into_iter()
        .filter(|l| l.name == layer)
        .flat_map(|l| l.features)
        .find(|f| f.properties.get("code").and_then(|c| c.as_str()) == Some(code))
        .and_then(|f| f.properties.get("name")?.as_str().map(str::to_owned))
}

impl Server {
    fn spawn(name: &'static str, database_url: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bando"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("FAILPOINTS")
            .env_remove("BANDO_CONFIG")
            .env_remove("BANDO_REDIS_URL")
            .env_remove("BANDO_REPLICA_URLS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (listening, base) = std::sync::mpsc::channel();
        let keep = log.clone();
        // Reads the log to its end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line.trim().strip_prefix("bando listening on ") {
                    let _ = listening.send(address.to_owned());
                }
                keep.lock().unwrap().push(line);
            }
        });
        let Ok(base) = base.recv_timeout(Duration::from_secs(60)) else {
            panic!(
                "instance {name} did not start listening:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        Self {
            name,
            child,
            base,
            log,
            client: http_client(),
            probes: AtomicU32::new(0),
        }
    }

    /// `host:port`.
    fn address(&self) -> &str {
        self.base.strip_prefix("http://").unwrap()
    }

    /// The last lines of its log, for failure messages.
    fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        let tail = &log[log.len().saturating_sub(30)..];
        format!("--- log of instance {} ---\n{}", self.name, tail.join("\n"))
    }

    /// `SIGKILL`.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn tile(&self, path: &str) -> TileAnswer {
        self.tile_as(path, None).await
    }

    /// A tile requested with API key `key` (`None`: anonymously).
    async fn tile_as(&self, path: &str, key: Option<&str>) -> TileAnswer {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {path}: {e}", self.name));
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        TileAnswer {
            status: response.status(),
            cache: header("x-tile-cache").unwrap_or_default(),
            etag: header("etag"),
            cache_control: header("cache-control").unwrap_or_default(),
            body: response.bytes().await.unwrap(),
        }
    }

    /// The value of `name` (with its labels, as `/metrics` prints them), if it is there.
    async fn metric_if_any(&self, name: &str) -> Option<f64> {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    async fn metric(&self, name: &str) -> f64 {
        self.metric_if_any(name)
            .await
            .unwrap_or_else(|| panic!("instance {} has no metric {name}", self.name))
    }

    /// Tiles built by a database query on this instance so far.
    async fn builds(&self) -> f64 {
        self.metric("bando_tile_builds_total").await
    }

    /// Polls `/metrics` until `name` is at least `value` (for effects that follow a response).
    async fn metric_reaches(&self, name: &str, value: f64) {
        eventually(
            Duration::from_secs(5),
            || format!("{} {name} ≥ {value}", self.name),
            || async { self.metric_if_any(name).await.is_some_and(|v| v >= value) },
        )
        .await;
    }

    /// Waits until the instance serves the layer and its shared cache answers. Redis is
    /// connected in the background and skipped until then; a tile nobody asked for is looked
    /// up in Redis, and the lookup marks it up. The probes are empty tiles at the Arctic edge
    /// of zoom 12 (`row` keeps each instance's apart); they count as builds, so tests compare
    /// counts before and after.
    async fn wait_until_ready(&self, row: u32) {
        eventually(
            Duration::from_secs(20),
            || format!("instance {} serves tiles with Redis up", self.name),
            || {
                let column = self.probes.fetch_add(1, Ordering::Relaxed);
                let probe = format!("/tiles/{LAYER}/12/{column}/{row}.mvt");
                async move {
                    let answer = self.tile(&probe).await;
                    answer.status == StatusCode::NO_CONTENT
                        && self.metric("bando_tile_shared_up").await == 1.0
                }
            },
        )
        .await;
    }

    async fn replica_in_rotation(&self) -> Option<f64> {
        self.metric_if_any("bando_replica_in_rotation{target=\"replica0\"}")
            .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the instances may read from the replica.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reads {
    PrimaryOnly,
    WithReplica,
}

/// The database, Redis and instances A and B of one test; all stopped when dropped.
struct Topology {
    db: CityDatabase,
    redis: Redis,
    a: Server,
    b: Server,
}

impl Topology {
    /// A fresh database with the wards, and the fleet serving it.
    async fn start(reads: Reads) -> Self {
        let db = CityDatabase::create(&clusters().await).await;
        Self::serve(db, reads).await
    }

    /// Redis and instances A and B serving `db`, ready.
    async fn serve(db: CityDatabase, reads: Reads) -> Self {
        let redis = Redis::start();
        let redis_url = redis.url();
        let mut args = vec!["--redis-url", &redis_url];
        if reads == Reads::WithReplica {
            args.extend(["--replica-url", &db.replica_url]);
        }
        let a = Server::spawn("A", &db.url, &args);
        let b = Server::spawn("B", &db.url, &args);
        a.wait_until_ready(0).await;
        b.wait_until_ready(1).await;
        if reads == Reads::WithReplica {
            for server in [&a, &b] {
                eventually(
                    Duration::from_secs(10),
                    || format!("instance {} puts the replica in rotation", server.name),
                    || async { server.replica_in_rotation().await == Some(1.0) },
                )
                .await;
            }
        }
        Self { db, redis, a, b }
    }

    fn both(&self) -> [&Server; 2] {
        [&self.a, &self.b]
    }

    /// Waits (until `deadline`) for both instances to serve the tile at `path` with the Bến Thành
    /// ward named `name`.
    async fn both_show(&self, path: &str, name: &str, deadline: Instant) {
        for server in self.both() {
            until(
                deadline,
                || {
                    format!(
                        "instance {} shows {name:?} at {path}\n{}",
                        server.name,
                        server.log_tail()
                    )
                },
                || async {
                    server
                        .tile(path)
                        .await
                        .ward_name(LAYER, BEN_THANH)
                        .as_deref()
                        == Some(name)
                },
            )
            .await;
        }
    }

    async fn builds(&self) -> f64 {
        self.summed("bando_tile_builds_total").await
    }

    /// Metric `name` summed over A and B.
    async fn summed(&self, name: &str) -> f64 {
        self.a.metric(name).await + self.b.metric(name).await
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tile_at((lon, lat): (f64, f64), z: u8) -> TileCoord {
    TileCoord::containing(lon, lat, z).unwrap()
}

fn tile_path(layer: &str, tile: TileCoord) -> String {
    format!("/tiles/{layer}/{tile}.mvt")
}

/// The tiles covering WGS84 `bounds` at zoom `z`.
fn tiles_over([west, south, east, north]: [f64; 4], z: u8) -> Vec<TileCoord> {
    let (nw, se) = (tile_at((west, north), z), tile_at((east, south), z));
    (nw.x..=se.x)
        .flat_map(|x| (nw.y..=se.y).map(move |y| TileCoord::new(z.into(), x, y).unwrap()))
        .collect()
}

/// Paths of the tiles of `LAYER` over `bounds` at `zooms`.
fn tiles_of(bounds: [f64; 4], zooms: std::ops::RangeInclusive<u8>) -> Vec<String> {
    zooms
        .flat_map(|z| tiles_over(bounds, z))
        .map(|t| tile_path(LAYER, t))
        .collect()
}

/// Paths of the tiles of `LAYER` over both wards at `zooms`.
fn ward_tiles(zooms: std::ops::RangeInclusive<u8>) -> Vec<String> {
    let mut paths = tiles_of(BEN_THANH_BOUNDS, zooms.clone());
    paths.extend(tiles_of(THU_DAU_MOT_BOUNDS, zooms));
    paths
}

/// Polls `check` until it holds; panics saying `what` (made then, so logs are current) once
/// `deadline` has passed.
async fn until<F, Fut>(deadline: Instant, what: impl Fn() -> String, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "{}: not by the deadline", what());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`until`] `within` from now.
async fn eventually<F, Fut>(within: Duration, what: impl Fn() -> String, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until(Instant::now() + within, what, check).await;
}

/// A tiny xorshift generator: which instance a reader asks (no `rand` in the workspace).
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Readers requesting tiles in a loop until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    readers: Vec<tokio::task::JoinHandle<Tally>>,
}

/// What the readers of a [`Load`] saw.
#[derive(Debug, Default)]
struct Tally {
    requests: usize,
    /// Statuses other than 200 and 204, and requests without an answer.
    failures: Vec<String>,
}

impl Load {
    /// `concurrency` readers, each walking `paths` (from its own offset) and asking each tile of
    /// `bases` in turn, so a tile one instance built is soon asked of the other.
    fn start(bases: &[&str], paths: &[String], concurrency: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let client = http_client();
        let urls: Arc<Vec<Vec<String>>> = Arc::new(
            paths
                .iter()
                .map(|p| bases.iter().map(|b| format!("{b}{p}")).collect())
                .collect(),
        );
        let readers = (0..concurrency)
            .map(|reader| {
                let (stop, client, urls) = (stop.clone(), client.clone(), urls.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    let mut n = reader * urls.len() / concurrency;
                    while !stop.load(Ordering::Relaxed) {
                        let per_tile = &urls[n % urls.len()];
                        for url in per_tile {
                            tally.requests += 1;
                            match client.get(url).send().await {
                                Ok(r) if matches!(r.status().as_u16(), 200 | 204) => {
                                    // Read the body too: a reset mid-body is a failure.
                                    if let Err(e) = r.bytes().await {
                                        tally.failures.push(format!("{url}: body: {e}"));
                                    }
                                }
                                Ok(r) => tally.failures.push(format!("{url}: {}", r.status())),
                                Err(e) => tally.failures.push(format!("{url}: {e}")),
                            }
                        }
                        n += 1;
                    }
                    tally
                })
            })
            .collect();
        Self { stop, readers }
    }

    async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for reader in self.readers {
            let tally = reader.await.unwrap();
            all.requests += tally.requests;
            all.failures.extend(tally.failures);
        }
        all
    }
}

/// Resumes WAL replay on the replica (idempotent), from synchronous code: a test's guard drop
/// runs it even when the test fails.
fn resume_replay(replica_port: u16) {
    let psql = bando_core::embedded::find_bin_dir().unwrap().join("psql");
    let out = Command::new(psql)
        .args(["-h", "127.0.0.1", "-p", &replica_port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-Atc"])
        .arg("SELECT pg_wal_replay_resume()")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "resuming replay: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Replay paused on the replica while it lives.
struct ReplayPaused {
    replica_port: u16,
}

impl ReplayPaused {
    async fn pause(db: &CityDatabase) -> Self {
        let guard = Self {
            replica_port: db.replica_port,
        };
        sqlx::query("SELECT pg_wal_replay_pause()")
            .execute(&db.replica)
            .await
            .unwrap();
        let state: String = sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
            .fetch_one(&db.replica)
            .await
            .unwrap();
        // "pause requested" until the next WAL record arrives: that record is not replayed.
        assert_ne!(state, "not paused");
        guard
    }
}

impl Drop for ReplayPaused {
    fn drop(&mut self) {
        resume_replay(self.replica_port);
    }
}

/// nginx in front of the instances, as the README's fault drills run it; stopped when dropped.
struct Nginx {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstreams: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers (`nobody` when run as root) create their temporary files under it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let tmp = dir.path().display();
        let servers: String = upstreams.iter().map(|a| format!("server {a}; ")).collect();
        let conf = format!(
            r#"daemon off;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream bando {{ {servers} keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://bando;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_connect_timeout 1s;
        }}
    }}
}}
"#
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master (by its id): it stops its workers; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// 1. A tile built on A is served by B from Redis, with no query of B's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tile_built_on_one_instance_is_served_by_the_other_from_redis() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(Reads::PrimaryOnly).await;
    let path = tile_path(LAYER, tile_at(MARKET, 15));
    let b_builds = t.b.builds().await;
    let a_writes = t.a.metric("bando_tile_shared_writes_total").await;

    let on_a = t.a.tile(&path).await;
    assert_eq!((on_a.status, on_a.cache.as_str()), (StatusCode::OK, "miss"));
    // A writes to Redis after answering: wait for the write, not for a guessed time.
    t.a.metric_reaches("bando_tile_shared_writes_total", a_writes + 1.0)
        .await;

    let on_b = t.b.tile(&path).await;
    assert_eq!(
        (on_b.status, on_b.cache.as_str()),
        (StatusCode::OK, "shared")
    );
    assert!(on_a.etag.is_some());
    assert_eq!(on_b.etag, on_a.etag);
    assert_eq!(on_b.body, on_a.body);
    assert_eq!(t.b.builds().await - b_builds, 0.0, "B queried the database");
    // B keeps it in memory from then on.
    assert_eq!(t.b.tile(&path).await.cache, "hit");
}

/// 2. Concurrent misses of the same tiles on both instances build each tile once: every build
/// under the tile's fleet-wide lock, none beside it unless Redis failed or stayed silent for
/// the lock's lifetime (counted, and allowed for by the bound asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_across_the_fleet_build_each_tile_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(Reads::PrimaryOnly).await;
    // Bến Thành at z12–15 and Thủ Dầu Một at z12–14: 38 distinct tiles.
    let mut tiles = tiles_of(BEN_THANH_BOUNDS, 12..=15);
    tiles.extend(tiles_of(THU_DAU_MOT_BOUNDS, 12..=14));
    assert_eq!(tiles.len(), 38);
    let builds_before = t.builds().await;
    let waits_before = t.summed("bando_tile_shared_waits_total").await;
    let errors_before = t.summed("bando_tile_shared_errors_total").await;
    let slow_before = t.summed("bando_tile_shared_slow_total").await;
    let unlocked_before = t.summed("bando_tile_unlocked_builds_total").await;

    const EACH: usize = 4;
    let servers = t.both();
    let requests = tiles
        .iter()
        .flat_map(|path| (0..EACH).flat_map(move |_| servers.map(|s| (s, path))))
        .map(|(server, path)| async move { (server.name, path, server.tile(path).await) });
    let answers = futures::future::join_all(requests).await;

    let mut tiers = std::collections::BTreeMap::<&str, usize>::new();
    let mut built_by = std::collections::BTreeMap::<&str, Vec<&str>>::new();
    for (server, path, answer) in &answers {
        assert!(
            matches!(answer.status.as_u16(), 200 | 204),
            "{server} {path}: {answer:?}"
        );
        *tiers.entry(&answer.cache).or_default() += 1;
        if answer.cache == "miss" {
            built_by.entry(path).or_default().push(server);
        }
    }
    let builds = t.builds().await - builds_before;
    let waits = t.summed("bando_tile_shared_waits_total").await - waits_before;
    let errors = t.summed("bando_tile_shared_errors_total").await - errors_before;
    let slow = t.summed("bando_tile_shared_slow_total").await - slow_before;
    let unlocked = t.summed("bando_tile_unlocked_builds_total").await - unlocked_before;
    built_by.retain(|_, servers| servers.len() > 1);
    println!(
        "{} distinct tiles, {} requests: tiers {tiers:?}, builds {builds}, waits for another \
         instance {waits}, shared cache errors {errors}, slow answers {slow}, builds without \
         the lock {unlocked}; built more than once: {built_by:?}",
        tiles.len(),
        answers.len()
    );
    // The design's bound (`tiles::shared_cache`): every build made under the tile's fleet-wide
    // lock is the only one; only a Redis failing or silent for the lock's lifetime lets an
    // instance build without it, and each such build is counted. A slow Redis (answers later
    // than --redis-timeout-ms, counted as `slow`) costs waiting, not builds.
    let tiles = tiles.len() as f64;
    assert!(
        builds >= tiles && builds <= tiles + unlocked,
        "{builds} builds on A and B for {tiles} distinct tiles, {unlocked} of them without the \
         lock (tiers {tiers:?}, shared cache errors {errors}, slow {slow}, built more than \
         once: {built_by:?})"
    );
}

/// 3. An SQL edit, then a republish, show on both instances within a second; the tiles they
/// do not touch stay cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_shows_on_both_instances_within_a_second_and_untouched_tiles_stay_cached() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(Reads::PrimaryOnly).await;
    let ben_thanh = tile_path(LAYER, tile_at(MARKET, 14));
    let thu_dau_mot = tile_path(LAYER, tile_at(THU_DAU_MOT, 14));
    for server in t.both() {
        for path in [&ben_thanh, &thu_dau_mot] {
            assert_eq!(server.tile(path).await.status, StatusCode::OK);
            assert_eq!(server.tile(path).await.cache, "hit", "{path} not cached");
        }
    }

    let mut changes = Vec::new();
    for (how, name) in [
        ("SQL edit", "Chợ Bến Thành"),
        ("republish", "Phường Bến Thành (tái bản)"),
    ] {
        let changed = Instant::now();
        if how == "SQL edit" {
            t.db.rename_ben_thanh(name).await;
        } else {
            publish_wards(
                &t.db.pool,
                t.db.files.path(),
                LAYER,
                name,
                ImportRequest::default(),
            )
            .await;
        }
        // Measured from the commit: the republish's own import time is not the servers'.
        t.both_show(&ben_thanh, name, Instant::now() + Duration::from_secs(1))
            .await;
        changes.push(format!("{how} seen after {:?}", changed.elapsed()));
        for server in t.both() {
            let answer = server.tile(&thu_dau_mot).await;
            assert_eq!(
                answer.cache, "hit",
                "{how}: instance {} dropped the untouched Thủ Dầu Một tile",
                server.name
            );
        }
    }
    println!("{changes:?}");
}

/// 4. Edits in a loop under concurrent readers: a tile asked for at revision `v` never shows an
/// edit older than `v`'s, whichever instance gave `v` and whichever answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tile_asked_for_at_a_revision_is_never_older_than_it_while_edits_keep_coming() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(Reads::PrimaryOnly).await;
    let tile = tile_path(LAYER, tile_at(MARKET, 14));
    const EDITS: i64 = 40;
    const READERS: u64 = 6;

    // Checks each revision gets before the next edit: the run's coverage does not depend on how
    // fast this machine is.
    const CHECKS_PER_EDIT: usize = 5;

    let done = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bases = [t.a.base.clone(), t.b.base.clone()];
    let readers: Vec<_> = (0..READERS)
        .map(|reader| {
            let (done, bases, tile) = (done.clone(), bases.clone(), tile.clone());
            let checked = checked.clone();
            tokio::spawn(async move {
                let client = http_client();
                let mut dice = Dice::new(reader + 1);
                // (revision asked for, edit seen, instance asked for TileJSON, for the tile)
                let mut seen = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let (from, at) = (dice.below(2), dice.below(2));
                    let tilejson: serde_json::Value = client
                        .get(format!("{}/tiles/{LAYER}.json", bases[from]))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let url = tilejson["tiles"][0].as_str().unwrap();
                    let v: i64 = url.split("?v=").nth(1).unwrap().parse().unwrap();
                    let response = client
                        .get(format!("{}{tile}?v={v}", bases[at]))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    let body = response.bytes().await.unwrap();
                    let name = ward_name(&body, LAYER, BEN_THANH).unwrap();
                    // Before the first edit it has its real name: "edit -1".
                    let edit = name
                        .strip_prefix("loop ")
                        .map_or(-1, |i| i.parse::<i64>().unwrap());
                    seen.push((v, edit, from, at));
                    checked.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();

    // Each edit waits for the readers to check a few tiles after the previous one (this paces
    // the load; no result waits on it).
    let mut edits = Vec::new();
    for i in 0..EDITS {
        let target = checked.load(Ordering::Relaxed) + CHECKS_PER_EDIT;
        until(
            Instant::now() + Duration::from_secs(30),
            || format!("readers checking tiles after edit {i}"),
            || async { checked.load(Ordering::Relaxed) >= target },
        )
        .await;
        t.db.rename_ben_thanh(&format!("loop {i}")).await;
        edits.push((t.db.revision().await, i));
    }
    done.store(true, Ordering::Relaxed);
    let mut checks = Vec::new();
    for reader in readers {
        checks.extend(reader.await.unwrap());
    }

    let names = ["A", "B"];
    let mut older = Vec::new();
    for &(v, edit, from, at) in &checks {
        // The newest edit whose revision the tile URL names.
        let due = edits
            .iter()
            .filter(|(revision, _)| *revision <= v)
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(-1);
        if edit < due {
            older.push(format!(
                "v={v} (TileJSON of {}) → tile of {} shows edit {edit}, older than edit {due}",
                names[from], names[at]
            ));
        }
    }
    println!(
        "{} checks over {EDITS} edits (revisions {:?}..={:?}); {} tiles older than their revision",
        checks.len(),
        edits.first().map(|e| e.0),
        edits.last().map(|e| e.0),
        older.len()
    );
    // Every revision of the run was checked several times.
    assert!(
        checks.len() >= EDITS as usize * CHECKS_PER_EDIT,
        "too few checks ran: {}",
        checks.len()
    );
    assert!(
        older.is_empty(),
        "{} of {} tiles older than the revision asked for, e.g.:\n{}\n{}\n{}",
        older.len(),
        checks.len(),
        older[..older.len().min(10)].join("\n"),
        t.a.log_tail(),
        t.b.log_tail()
    );
    // And once the edits stop, both instances show the last one.
    let last = format!("loop {}", EDITS - 1);
    t.both_show(&tile, &last, Instant::now() + Duration::from_secs(1))
        .await;
}

/// Starts the primary again when dropped (a test that stops it must not leave it down).
struct PrimaryStopped {
    primary: Option<EmbeddedCluster>,
}

impl PrimaryStopped {
    async fn stop() -> Self {
        let mut primary = clusters().await.primary;
        primary = tokio::task::spawn_blocking(move || {
            primary.stop().unwrap();
            primary
        })
        .await
        .unwrap();
        Self {
            primary: Some(primary),
        }
    }
}

impl Drop for PrimaryStopped {
    fn drop(&mut self) {
        if let Some(mut primary) = self.primary.take() {
            // Blocking, as a drop must; the next test finds it running.
            std::thread::spawn(move || primary.ensure_running().unwrap())
                .join()
                .unwrap();
        }
    }
}

/// 9. With the primary down, a tile neither instance holds is built on the replica (in rotation:
/// it replayed everything the instances heard of) instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_primary_down_tiles_are_built_on_the_replica() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(Reads::WithReplica).await;
    let replica_reads = async || {
        let mut sum = 0.0;
        for server in t.both() {
            let name = "bando_tile_reads_total{target=\"replica0\"}";
            // Absent until the first read there.
            sum += server.metric_if_any(name).await.unwrap_or(0.0);
        }
        sum
    };
    let before = replica_reads().await;
    let down = PrimaryStopped::stop().await;
    // Both instances know the primary is down (their breakers are open): without the replica,
    // a miss would be refused at once.
    for server in t.both() {
        eventually(
            Duration::from_secs(10),
            || format!("instance {} opens its breaker", server.name),
            || async { server.metric("bando_db_breaker_open").await == 1.0 },
        )
        .await;
    }
    // Tiles of the market at street zooms, never asked for before, half through each instance.
    let tiles = tiles_of(BEN_THANH_BOUNDS, 16..=16);
    for (i, path) in tiles.iter().enumerate() {
        let server = t.both()[i % 2];
        let answer = server.tile(path).await;
        // 204: a corner tile of the ward's box may hold nothing.
        assert!(
            answer.status == StatusCode::OK || answer.status == StatusCode::NO_CONTENT,
            "{} {path} with the primary down: {}\n{}",
            server.name,
            answer.status,
            server.log_tail()
        );
        assert_ne!(answer.cache, "hit", "{path} was cached already");
    }
    let built_on_replica = replica_reads().await - before;
    assert!(
        built_on_replica >= tiles.len() as f64,
        "{built_on_replica} builds on the replica for {} tiles never asked for",
        tiles.len()
    );
    drop(down);
}

/// 5. With replay paused on the replica, a change made on the primary still shows on both
/// instances (never the replica's old rows); the replica leaves the rotation, and rejoins it
/// once replay resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_paused_behind_a_change_serves_no_stale_tile_and_rejoins_when_it_catches_up() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Topology::start(Reads::WithReplica).await;
    let market_z14 = tile_path(LAYER, tile_at(MARKET, 14));
    for server in t.both() {
        let answer = server.tile(&market_z14).await;
        assert_eq!(
            answer.ward_name(LAYER, BEN_THANH).as_deref(),
            Some("Bến Thành")
        );
    }
    let replica_reads = "bando_tile_reads_total{target=\"replica0\"}";
    let stale_builds = "bando_tile_stale_builds_total";
    let stale_before = t.summed(stale_builds).await;

    let paused = ReplayPaused::pause(&t.db).await;
    t.db.rename_ben_thanh("Chợ Bến Thành").await;
    t.both_show(
        &market_z14,
        "Chợ Bến Thành",
        Instant::now() + Duration::from_secs(1),
    )
    .await;
    // The replica really is behind: the instances did not show its rows.
    let on_replica: String =
        sqlx::query_scalar("SELECT name FROM layers.wards_2025 WHERE code = $1")
            .bind(BEN_THANH)
            .fetch_one(&t.db.replica)
            .await
            .unwrap();
    assert_eq!(on_replica, "Bến Thành", "replay was not paused");
    // Tiles nobody cached yet show the change too, on either instance.
    for (server, z) in [(&t.a, 13), (&t.b, 15), (&t.a, 16), (&t.b, 12)] {
        let answer = server.tile(&tile_path(LAYER, tile_at(MARKET, z))).await;
        assert_eq!(answer.cache, "miss", "{z}");
        assert_eq!(
            answer.ward_name(LAYER, BEN_THANH).as_deref(),
            Some("Chợ Bến Thành"),
            "instance {} z{z}",
            server.name
        );
    }
    // Builds that read the replica, found older than the change, and were built again on the
    // primary: what a replica left in rotation behind a known change costs.
    let stale = t.summed(stale_builds).await - stale_before;
    for server in t.both() {
        // Still the new name.
        assert_eq!(
            server
                .tile(&market_z14)
                .await
                .ward_name(LAYER, BEN_THANH)
                .as_deref(),
            Some("Chợ Bến Thành")
        );
        eventually(
            Duration::from_secs(2),
            || {
                format!(
                    "instance {} takes the replica (replay paused, behind the change) out of \
                     rotation; builds found stale meanwhile: {stale}\n{}",
                    server.name,
                    server.log_tail()
                )
            },
            || async { server.replica_in_rotation().await == Some(0.0) },
        )
        .await;
    }

    drop(paused);
    for server in t.both() {
        eventually(
            Duration::from_secs(5),
            || format!("instance {} puts the replica back", server.name),
            || async { server.replica_in_rotation().await == Some(1.0) },
        )
        .await;
    }
    // A tile nobody asked for yet is built from the replica again.
    let reads_before = t.a.metric_if_any(replica_reads).await.unwrap_or(0.0);
    let fresh = t.a.tile(&tile_path(LAYER, tile_at(THU_DAU_MOT, 15))).await;
    assert_eq!(
        (fresh.status, fresh.cache.as_str()),
        (StatusCode::OK, "miss")
    );
    let reads_after = t.a.metric(replica_reads).await;
    println!(
        "builds found stale and rebuilt on the primary while paused: {stale}; replica reads {reads_before} → {reads_after}"
    );
    assert!(
        reads_after > reads_before,
        "the build did not read the replica"
    );
}

/// 6. Redis killed (`SIGKILL`) and started again under load: no request fails, the errors are
/// counted, and the shared cache works again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_and_restarted_under_load_fails_no_request() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut t = Topology::start(Reads::PrimaryOnly).await;
    // ~800 tiles (z14–z17 over both wards): most are still uncached when Redis goes.
    let paths = ward_tiles(14..=17);
    let errors_before = t.summed("bando_tile_shared_errors_total").await;
    let load = Load::start(&[&t.a.base, &t.b.base], &paths, 8);
    tokio::time::sleep(Duration::from_secs(1)).await;
    t.redis.kill();
    // Redis stays down a moment under load.
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.redis.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tally = load.finish().await;
    let errors = t.summed("bando_tile_shared_errors_total").await - errors_before;
    println!(
        "{} requests over {} tiles, {} failed; shared cache errors {errors}",
        tally.requests,
        paths.len(),
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} failed requests, e.g. {:?}",
        tally.failures.len(),
        &tally.failures[..tally.failures.len().min(10)]
    );
    assert!(
        errors > 0.0,
        "no shared cache error counted while Redis was down"
    );

    // Up again on both (a probe tile makes each look Redis up), and sharing tiles again: one
    // built on A is served to B from the new Redis.
    t.a.wait_until_ready(0).await;
    t.b.wait_until_ready(1).await;
    let path = tile_path(LAYER, tile_at(MARKET, 18));
    let writes = t.a.metric("bando_tile_shared_writes_total").await;
    assert_eq!(t.a.tile(&path).await.cache, "miss");
    t.a.metric_reaches("bando_tile_shared_writes_total", writes + 1.0)
        .await;
    assert_eq!(t.b.tile(&path).await.cache, "shared");
}

/// 7. Instance A `SIGKILL`ed under load behind nginx: at most the requests it had in flight fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_behind_nginx_fails_at_most_its_requests_in_flight() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut t = Topology::start(Reads::PrimaryOnly).await;
    let nginx = Nginx::start(&[t.a.address(), t.b.address()]);
    let client = http_client();
    let probe = format!("{}/tiles/{LAYER}.json", nginx.base);
    eventually(
        Duration::from_secs(10),
        || "nginx answers".into(),
        || async {
            client
                .get(&probe)
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        },
    )
    .await;

    const CONCURRENCY: usize = 8;
    let paths = ward_tiles(14..=17);
    let load = Load::start(&[&nginx.base], &paths, CONCURRENCY);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let served_by_b = t.b.metric("bando_tile_cache_hits_total").await
        + t.b.metric("bando_tile_cache_misses_total").await;
    t.a.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tally = load.finish().await;
    let served_by_b_after = t.b.metric("bando_tile_cache_hits_total").await
        + t.b.metric("bando_tile_cache_misses_total").await;
    println!(
        "{} requests through nginx, {} failed (concurrency {CONCURRENCY}); B served {} tiles after A died",
        tally.requests,
        tally.failures.len(),
        served_by_b_after - served_by_b
    );
    assert!(
        tally.failures.len() <= CONCURRENCY,
        "{} failed requests, e.g. {:?}\nnginx: {}",
        tally.failures.len(),
        &tally.failures[..tally.failures.len().min(10)],
        nginx.error_log()
    );
    assert!(served_by_b_after > served_by_b, "B took over no request");
}

/// 8. A restricted layer's tile, warmed into Redis through A by its owner, is refused through B
/// to anyone else, and served to the owner from Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restricted_tile_warmed_into_redis_by_its_owner_reaches_nobody_else() {
    let _one = ONE_AT_A_TIME.lock().await;
    let db = CityDatabase::create(&clusters().await).await;
    let owner = agency_key(&db.pool, "construction", "construction", &[Scope::Read]).await;
    let other = agency_key(&db.pool, "transport", "transport", &[Scope::Read]).await;
    publish_wards(
        &db.pool,
        db.files.path(),
        "construction_wards",
        "Bến Thành",
        ImportRequest {
            agency: Some("construction".to_owned()),
            visibility: Some(Visibility::Restricted),
            ..ImportRequest::default()
        },
    )
    .await;
    let t = Topology::serve(db, Reads::PrimaryOnly).await;
    let path = tile_path("construction_wards", tile_at(MARKET, 14));

    let writes = t.a.metric("bando_tile_shared_writes_total").await;
    let warmed = t.a.tile_as(&path, Some(&owner)).await;
    assert_eq!(
        (warmed.status, warmed.cache.as_str()),
        (StatusCode::OK, "miss")
    );
    assert!(
        warmed.cache_control.starts_with("private"),
        "a restricted tile may be kept by shared HTTP caches: {:?}",
        warmed.cache_control
    );
    t.a.metric_reaches("bando_tile_shared_writes_total", writes + 1.0)
        .await;

    for (server, who, key) in [
        (&t.b, "anonymous", None),
        (&t.b, "another agency", Some(other.as_str())),
        (&t.a, "anonymous", None),
        (&t.a, "another agency", Some(other.as_str())),
    ] {
        let answer = server.tile_as(&path, key).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{who} through {}: {answer:?}",
            server.name
        );
    }
    let owner_on_b = t.b.tile_as(&path, Some(&owner)).await;
    assert_eq!(
        (owner_on_b.status, owner_on_b.cache.as_str()),
        (StatusCode::OK, "shared")
    );
    assert_eq!(owner_on_b.body, warmed.body);
}
