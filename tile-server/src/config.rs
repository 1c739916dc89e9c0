//! Server configuration: defaults, then a TOML file, then environment variables, then command-line
//! flags (each later source overrides the earlier). Validated once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::tiles::composite::CompositeConfig;

/// Why the configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown keys included).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value out of its allowed range.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// `bando serve` options; each may also come from an environment variable or the config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "BANDO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BANDO_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Public base URL used in TileJSON and styles (default: from the request's Host header).
    #[arg(long, env = "BANDO_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Tile cache size in MiB; 0 disables the cache [default: 512].
    #[arg(long, env = "BANDO_CACHE_SIZE_MB")]
    pub cache_size_mb: Option<u64>,
    /// Most database connections the server opens [default: 16].
    #[arg(long, env = "BANDO_POOL_SIZE")]
    pub pool_size: Option<u32>,
    /// Longest a tile query may run, in milliseconds [default: 10000].
    #[arg(long, env = "BANDO_QUERY_TIMEOUT_MS")]
    pub query_timeout_ms: Option<u64>,
    /// Base map definition (TOML) replacing the built-in `styles/basemap.toml`.
    #[arg(long, env = "BANDO_BASEMAP")]
    pub basemap: Option<PathBuf>,
    /// More composite tileset definitions (TOML, same schema as the base map); repeatable.
    #[arg(long = "composite")]
    pub composites: Vec<PathBuf>,
    /// PMTiles or MBTiles files to serve as tilesets (id = file stem); repeatable.
    #[arg(long = "tiles-file")]
    pub tile_files: Vec<PathBuf>,
    /// Folders searched for the TTF/OTF fonts served as glyphs [default: Debian's font folders].
    #[arg(long = "fonts-dir", env = "BANDO_FONTS_DIR")]
    pub fonts_dirs: Vec<PathBuf>,
    /// Folder of the web viewer, with its npm packages installed [default: viewer/ of the checkout].
    #[arg(long, env = "BANDO_VIEWER_DIR")]
    pub viewer_dir: Option<PathBuf>,
    /// Folder of the MapLibre styles served at /styles [default: styles/ of the checkout].
    #[arg(long, env = "BANDO_STYLES_DIR")]
    pub styles_dir: Option<PathBuf>,
    /// Largest file agencies may upload, in MiB [default: 512].
    #[arg(long, env = "BANDO_UPLOAD_MAX_MB")]
    pub upload_max_mb: Option<u64>,
    /// Folder uploads are streamed to before import [default: the system's temporary folder].
    #[arg(long, env = "BANDO_UPLOAD_DIR")]
    pub upload_dir: Option<PathBuf>,
    /// Import jobs this instance runs at once; 0: it queues uploads but leaves running them to
    /// other instances [default: 1].
    #[arg(long, env = "BANDO_IMPORT_WORKERS")]
    pub import_workers: Option<u32>,
    /// Times an upload's job is tried when the server running it stops [default: 3].
    #[arg(long, env = "BANDO_JOB_ATTEMPTS")]
    pub job_attempts: Option<u32>,
    /// This instance's name in job records [default: host name and process id].
    #[arg(long, env = "BANDO_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Days a retired (deleted) layer stays restorable before it is purged [default: 30].
    #[arg(long, env = "BANDO_RETIRED_KEEP_DAYS")]
    pub retired_keep_days: Option<u32>,
    /// Redis holding the tile cache shared by every instance (`redis://host:port/db`); none: each
    /// instance caches in memory only.
    #[arg(long, env = "BANDO_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Hours a tile stays in the shared cache [default: 24].
    #[arg(long, env = "BANDO_REDIS_TTL_HOURS")]
    pub redis_ttl_hours: Option<u64>,
    /// Longest a shared cache operation may take before the tile comes from elsewhere, in
    /// milliseconds [default: 50].
    #[arg(long, env = "BANDO_REDIS_TIMEOUT_MS")]
    pub redis_timeout_ms: Option<u64>,
    /// A streaming replica tile builds may read from (repeatable); writes, imports and `LISTEN`
    /// stay on the primary (`DATABASE_URL`).
    #[arg(
        long = "replica-url",
        env = "BANDO_REPLICA_URLS",
        value_delimiter = ','
    )]
    pub replica_urls: Vec<String>,
    /// The program that reads uploaded files, each in a confined process of its own
    /// (`PROGRAM read-source`) [default: this `bando` executable].
    #[arg(long, env = "BANDO_IMPORT_READER")]
    pub import_reader: Option<PathBuf>,
    /// Memory (address space) a reader of an uploaded file may use, in MiB [default: 2048].
    #[arg(long, env = "BANDO_IMPORT_MEMORY_MB")]
    pub import_memory_mb: Option<u64>,
    /// CPU time a reader may use, in seconds [default: 600].
    #[arg(long, env = "BANDO_IMPORT_CPU_SECONDS")]
    pub import_cpu_seconds: Option<u64>,
    /// Largest file a reader may write (an unpacked zip entry), in MiB [default: 4096].
    #[arg(long, env = "BANDO_IMPORT_FILE_MB")]
    pub import_file_mb: Option<u64>,
    /// Files a reader may have open at once [default: 256].
    #[arg(long, env = "BANDO_IMPORT_OPEN_FILES")]
    pub import_open_files: Option<u64>,
    /// Wall time a reader may take, waiting included, in seconds [default: 3600].
    #[arg(long, env = "BANDO_IMPORT_WALL_SECONDS")]
    pub import_wall_seconds: Option<u64>,
}

/// The file's schema: the same keys as the flags, in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    database_url: Option<String>,
    cache_size_mb: Option<u64>,
    pool_size: Option<u32>,
    query_timeout_ms: Option<u64>,
    basemap: Option<PathBuf>,
    #[serde(default)]
    composites: Vec<PathBuf>,
    #[serde(default)]
    tile_files: Vec<PathBuf>,
    #[serde(default)]
    fonts_dirs: Vec<PathBuf>,
    viewer_dir: Option<PathBuf>,
    styles_dir: Option<PathBuf>,
    upload_max_mb: Option<u64>,
    upload_dir: Option<PathBuf>,
    import_workers: Option<u32>,
    job_attempts: Option<u32>,
    instance_id: Option<String>,
    retired_keep_days: Option<u32>,
    redis_url: Option<String>,
    redis_ttl_hours: Option<u64>,
    redis_timeout_ms: Option<u64>,
    #[serde(default)]
    replica_urls: Vec<String>,
    import_reader: Option<PathBuf>,
    import_memory_mb: Option<u64>,
    import_cpu_seconds: Option<u64>,
    import_file_mb: Option<u64>,
    import_open_files: Option<u64>,
    import_wall_seconds: Option<u64>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Public base URL without a trailing slash, if fixed.
    pub public_url: Option<String>,
    /// Database URL from the file (flags and `DATABASE_URL` take precedence).
    pub database_url: Option<String>,
    /// Tile cache capacity in bytes.
    pub cache_bytes: u64,
    /// Pool size.
    pub pool_size: u32,
    /// Per-query timeout.
    pub query_timeout: Duration,
    /// Composite tilesets: the base map first.
    pub composites: Vec<CompositeConfig>,
    /// Tileset files (PMTiles, MBTiles).
    pub tile_files: Vec<PathBuf>,
    /// Font folders.
    pub fonts_dirs: Vec<PathBuf>,
    /// Viewer folder.
    pub viewer_dir: PathBuf,
    /// Styles folder.
    pub styles_dir: PathBuf,
    /// Largest upload, in bytes.
    pub upload_max_bytes: u64,
    /// Where uploads are written.
    pub upload_dir: PathBuf,
    /// Import jobs run at once by this instance (0: none).
    pub import_workers: u32,
    /// Attempts of an upload's job.
    pub job_attempts: u32,
    /// This instance's name in job records.
    pub instance_id: String,
    /// Days a retired layer stays restorable.
    pub retired_keep_days: u32,
    /// The shared tile cache, if any.
    pub redis_url: Option<String>,
    /// How long a tile stays in the shared cache.
    pub redis_ttl: Duration,
    /// Deadline of a shared cache operation.
    pub redis_timeout: Duration,
    /// Read replicas.
    pub replica_urls: Vec<String>,
    /// The program run (`read-source`) to read each uploaded file in a confined process.
    pub import_reader: PathBuf,
    /// The limits of those processes.
    pub import_limits: bando_importers::reading::ReaderLimits,
}

/// The `bando` executable that runs reader processes: this one, or for a server run inside
/// another program (the tests' binaries, under `target/*/deps/`), the `bando` built beside it.
pub fn default_import_reader() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    if exe.file_name().is_some_and(|n| n == "bando") {
        return exe;
    }
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("bando"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("bando"))
}

/// `host:pid`: unique among the instances of a fleet, and says where to look.
fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "bando".to_owned()
    } else {
        host
    };
    format!("{host}:{}", std::process::id())
}

/// Debian's font folders (Noto from `fonts-noto-core`, DejaVu as a fallback).
const DEFAULT_FONT_DIRS: [&str; 2] = [
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/truetype/dejavu",
];

/// A folder of the checkout (`viewer/`, `styles/`).
fn checkout_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: None,
            cache_bytes: 512 * 1024 * 1024,
            pool_size: 16,
            query_timeout: Duration::from_secs(10),
            composites: vec![CompositeConfig::builtin_basemap()],
            tile_files: Vec::new(),
            fonts_dirs: DEFAULT_FONT_DIRS.iter().map(PathBuf::from).collect(),
            viewer_dir: checkout_dir("viewer"),
            styles_dir: checkout_dir("styles"),
            upload_max_bytes: 512 * 1024 * 1024,
            upload_dir: std::env::temp_dir(),
            import_workers: 1,
            job_attempts: 3,
            instance_id: default_instance_id(),
            retired_keep_days: 30,
            redis_url: None,
            redis_ttl: Duration::from_secs(24 * 3600),
            redis_timeout: Duration::from_millis(50),
            replica_urls: Vec::new(),
            import_reader: default_import_reader(),
            import_limits: bando_importers::reading::ReaderLimits::default(),
        }
    }
}

impl Config {
    /// Merges defaults, the file named by `args.config` and `args`, then validates.
    pub fn load(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let defaults = Self::default();
        let cache_mb = args.cache_size_mb.or(file.cache_size_mb);
        let config = Self {
            listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
            public_url: args.public_url.clone().or(file.public_url),
            database_url: file.database_url,
            cache_bytes: cache_mb.map_or(defaults.cache_bytes, |mb| mb.saturating_mul(1024 * 1024)),
            pool_size: args
                .pool_size
                .or(file.pool_size)
                .unwrap_or(defaults.pool_size),
            query_timeout: args
                .query_timeout_ms
                .or(file.query_timeout_ms)
                .map_or(defaults.query_timeout, Duration::from_millis),
            composites: {
                let basemap = match args.basemap.as_ref().or(file.basemap.as_ref()) {
                    Some(path) => CompositeConfig::load(path)?,
                    None => CompositeConfig::builtin_basemap(),
                };
                let mut composites = vec![basemap];
                for path in args.composites.iter().chain(&file.composites) {
                    composites.push(CompositeConfig::load(path)?);
                }
                composites
            },
            tile_files: args
                .tile_files
                .iter()
                .chain(&file.tile_files)
                .cloned()
                .collect(),
            fonts_dirs: if !args.fonts_dirs.is_empty() {
                args.fonts_dirs.clone()
            } else if !file.fonts_dirs.is_empty() {
                file.fonts_dirs
            } else {
                defaults.fonts_dirs
            },
            viewer_dir: args
                .viewer_dir
                .clone()
                .or(file.viewer_dir)
                .unwrap_or(defaults.viewer_dir),
            styles_dir: args
                .styles_dir
                .clone()
                .or(file.styles_dir)
                .unwrap_or(defaults.styles_dir),
            upload_max_bytes: args
                .upload_max_mb
                .or(file.upload_max_mb)
                .map_or(defaults.upload_max_bytes, |mb| {
                    mb.saturating_mul(1024 * 1024)
                }),
            upload_dir: args
                .upload_dir
                .clone()
                .or(file.upload_dir)
                .unwrap_or(defaults.upload_dir),
            import_workers: args
                .import_workers
                .or(file.import_workers)
                .unwrap_or(defaults.import_workers),
            job_attempts: args
                .job_attempts
                .or(file.job_attempts)
                .unwrap_or(defaults.job_attempts),
            instance_id: args
                .instance_id
                .clone()
                .or(file.instance_id)
                .unwrap_or(defaults.instance_id),
            retired_keep_days: args
                .retired_keep_days
                .or(file.retired_keep_days)
                .unwrap_or(defaults.retired_keep_days),
            redis_url: args.redis_url.clone().or(file.redis_url),
            redis_ttl: args
                .redis_ttl_hours
                .or(file.redis_ttl_hours)
                .map_or(defaults.redis_ttl, |h| {
                    Duration::from_secs(h.saturating_mul(3600))
                }),
            redis_timeout: args
                .redis_timeout_ms
                .or(file.redis_timeout_ms)
                .map_or(defaults.redis_timeout, Duration::from_millis),
            replica_urls: if args.replica_urls.is_empty() {
                file.replica_urls
            } else {
                args.replica_urls.clone()
            },
            import_reader: args
                .import_reader
                .clone()
                .or(file.import_reader)
                .unwrap_or(defaults.import_reader),
            import_limits: {
                let d = defaults.import_limits;
                let mib = |v: u64| v.saturating_mul(1024 * 1024);
                bando_importers::reading::ReaderLimits {
                    memory_bytes: args
                        .import_memory_mb
                        .or(file.import_memory_mb)
                        .map_or(d.memory_bytes, mib),
                    cpu_seconds: args
                        .import_cpu_seconds
                        .or(file.import_cpu_seconds)
                        .unwrap_or(d.cpu_seconds),
                    file_bytes: args
                        .import_file_mb
                        .or(file.import_file_mb)
                        .map_or(d.file_bytes, mib),
                    open_files: args
                        .import_open_files
                        .or(file.import_open_files)
                        .unwrap_or(d.open_files),
                    wall_seconds: args
                        .import_wall_seconds
                        .or(file.import_wall_seconds)
                        .unwrap_or(d.wall_seconds),
                }
            },
        };
        config.validate()
    }

    fn validate(mut self) -> Result<Self, ConfigError> {
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).map_err(|e| ConfigError::Invalid {
                key: "public_url",
                reason: format!("{url:?} is not a URL: {e}"),
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(ConfigError::Invalid {
                    key: "public_url",
                    reason: format!("{url:?} must be an absolute http(s) URL"),
                });
            }
            self.public_url = Some(url.trim_end_matches('/').to_owned());
        }
        if self.cache_bytes > 64 * 1024 * 1024 * 1024 {
            return Err(ConfigError::Invalid {
                key: "cache_size_mb",
                reason: "must be at most 65536 (64 GiB)".to_owned(),
            });
        }
        if !(1..=512).contains(&self.pool_size) {
            return Err(ConfigError::Invalid {
                key: "pool_size",
                reason: format!("{} is outside 1..=512", self.pool_size),
            });
        }
        let mut ids = std::collections::HashSet::new();
        for id in self
            .composites
            .iter()
            .map(|c| c.id.clone())
            .chain(self.tile_files.iter().map(|p| {
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }))
        {
            if !ids.insert(id.clone()) {
                return Err(ConfigError::Invalid {
                    key: "composites",
                    reason: format!("two tilesets are named {id:?}"),
                });
            }
        }
        if self.import_workers > 16 {
            return Err(ConfigError::Invalid {
                key: "import_workers",
                reason: format!("{} is outside 0..=16", self.import_workers),
            });
        }
        if let Some(url) = &self.redis_url {
            crate::tiles::shared_cache::client(url).map_err(|reason| ConfigError::Invalid {
                key: "redis_url",
                reason,
            })?;
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(30 * 24 * 3600))
            .contains(&self.redis_ttl)
        {
            return Err(ConfigError::Invalid {
                key: "redis_ttl_hours",
                reason: format!("{} h is outside 1..=720", self.redis_ttl.as_secs() / 3600),
            });
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(10)).contains(&self.redis_timeout) {
            return Err(ConfigError::Invalid {
                key: "redis_timeout_ms",
                reason: format!("{} ms is outside 1..=10000", self.redis_timeout.as_millis()),
            });
        }
        for url in &self.replica_urls {
            // sqlx parses any scheme as PostgreSQL's; a MySQL or HTTP URL is a mistake.
            let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
            if !postgres || url.parse::<sqlx::postgres::PgConnectOptions>().is_err() {
                return Err(ConfigError::Invalid {
                    key: "replica_urls",
                    reason: format!("{url:?} is not a PostgreSQL URL"),
                });
            }
        }
        if !(1..=10).contains(&self.job_attempts) {
            return Err(ConfigError::Invalid {
                key: "job_attempts",
                reason: format!("{} is outside 1..=10", self.job_attempts),
            });
        }
        if !(1..=3650).contains(&self.retired_keep_days) {
            return Err(ConfigError::Invalid {
                key: "retired_keep_days",
                reason: format!("{} is outside 1..=3650", self.retired_keep_days),
            });
        }
        if self.instance_id.trim().is_empty() || self.instance_id.len() > 200 {
            return Err(ConfigError::Invalid {
                key: "instance_id",
                reason: "must be 1 to 200 characters".to_owned(),
            });
        }
        let limits = &self.import_limits;
        let mib = 1024 * 1024;
        for (key, value, range) in [
            (
                "import_memory_mb",
                limits.memory_bytes / mib,
                64..=1_048_576,
            ),
            ("import_cpu_seconds", limits.cpu_seconds, 1..=86_400),
            ("import_file_mb", limits.file_bytes / mib, 1..=1_048_576),
            ("import_open_files", limits.open_files, 32..=65_536),
            ("import_wall_seconds", limits.wall_seconds, 10..=604_800),
        ] {
            if !range.contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!("{value} is outside {}..={}", range.start(), range.end()),
                });
            }
        }
        if self.import_workers > 0 && !self.import_reader.is_file() {
            return Err(ConfigError::Invalid {
                key: "import_reader",
                reason: format!(
                    "{} is not a file; uploads are read by running it",
                    self.import_reader.display()
                ),
            });
        }
        let ms = self.query_timeout.as_millis();
        if !(100..=600_000).contains(&ms) {
            return Err(ConfigError::Invalid {
                key: "query_timeout_ms",
                reason: format!("{ms} is outside 100..=600000"),
            });
        }
        Ok(self)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim().replace('\n', " "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file = write("listen = \"127.0.0.1:9000\"\ncache_size_mb = 8\npool_size = 4\n");
        let args = ServeArgs {
            config: Some(file.path().to_path_buf()),
            pool_size: Some(6),
            ..ServeArgs::default()
        };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.cache_bytes, 8 * 1024 * 1024);
        assert_eq!(config.pool_size, 6);
        assert_eq!(config.query_timeout, Duration::from_secs(10));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let file = write("cache_size = 8\n");
        let args = ServeArgs {
            config: Some(file.path().to_path_buf()),
            ..ServeArgs::default()
        };
        let err = Config::load(&args).unwrap_err().to_string();
        assert!(err.contains("cache_size"), "{err}");

        let args = ServeArgs {
            public_url: Some("ftp://x".into()),
            ..ServeArgs::default()
        };
        let err = Config::load(&args).unwrap_err().to_string();
        assert!(err.contains("public_url"), "{err}");

        let args = ServeArgs {
            pool_size: Some(0),
            ..ServeArgs::default()
        };
        assert!(
            Config::load(&args)
                .unwrap_err()
                .to_string()
                .contains("pool_size")
        );
    }

    #[test]
    fn shared_cache_and_replica_settings_are_checked_and_named() {
        let file = write(
            "redis_url = \"redis://127.0.0.1:6380/0\"\nreplica_urls = [\"postgres://r1/bando\"]\n",
        );
        let args = ServeArgs {
            config: Some(file.path().to_path_buf()),
            replica_urls: vec!["postgres://r2/bando".into(), "postgres://r3/bando".into()],
            ..ServeArgs::default()
        };
        let config = Config::load(&args).unwrap();
        assert_eq!(
            config.redis_url.as_deref(),
            Some("redis://127.0.0.1:6380/0")
        );
        // Flags replace the file's list, as for every other setting.
        assert_eq!(
            config.replica_urls,
            ["postgres://r2/bando", "postgres://r3/bando"]
        );
        assert_eq!(config.redis_ttl, Duration::from_secs(24 * 3600));

        for (args, key) in [
            (
                ServeArgs {
                    redis_url: Some("http://cache".into()),
                    ..ServeArgs::default()
                },
                "redis_url",
            ),
            (
                ServeArgs {
                    redis_ttl_hours: Some(0),
                    ..ServeArgs::default()
                },
                "redis_ttl_hours",
            ),
            (
                ServeArgs {
                    redis_timeout_ms: Some(0),
                    ..ServeArgs::default()
                },
                "redis_timeout_ms",
            ),
            (
                ServeArgs {
                    replica_urls: vec!["mysql://x".into()],
                    ..ServeArgs::default()
                },
                "replica_urls",
            ),
        ] {
            let err = Config::load(&args).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}
