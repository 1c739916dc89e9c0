//! The embedded database: a private PostgreSQL + PostGIS cluster that bando creates, starts and
//! stops under a local folder when no `DATABASE_URL` is given.
//!
//! It listens on `127.0.0.1:<port>` only (no Unix socket, so the folder path length never
//! matters) with `trust` authentication for the `postgres` role: it is a developer's and
//! demo machine's database, not a shared server. PostgreSQL refuses to run as root, so when bando
//! runs as root the cluster belongs to the `postgres` system user and every program runs through
//! `runuser -u postgres`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::{CoreError, CoreResult};

/// Default TCP port of the embedded cluster (5432 is left to any system cluster).
pub const DEFAULT_PORT: u16 = 55432;

/// Major versions searched for, newest first.
const SUPPORTED_MAJORS: [u32; 4] = [17, 16, 15, 14];

/// Server settings written into the cluster's `postgresql.conf` at creation.
const BASE_SETTINGS: &str = "\
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 256MB
jit = off
";

/// Extra settings for throw-away test clusters: durability traded for speed.
const FAST_SETTINGS: &str = "\
fsync = off
synchronous_commit = off
full_page_writes = off
";

/// A private cluster rooted at a folder: `<root>/data` (PGDATA), `<root>/server.log`.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    root: PathBuf,
    port: u16,
    durable: bool,
}

impl EmbeddedCluster {
    /// A cluster under `root` on `port`. `durable = false` turns fsync off (tests only).
    pub fn new(root: impl Into<PathBuf>, port: u16, durable: bool) -> Self {
        Self {
            root: root.into(),
            port,
            durable,
        }
    }

    /// The cluster's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection URL of database `db` in this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Creates the cluster if needed and starts it if it is not running. Safe to call from several
    /// processes at once: they serialise on a lock file.
    pub fn ensure_running(&mut self) -> CoreResult<()> {
        fs::create_dir_all(&self.root).map_err(|source| io("creating", &self.root, source))?;
        let lock_path = self.root.join("cluster.lock");
        let lock = File::create(&lock_path).map_err(|source| io("opening", &lock_path, source))?;
        lock.lock()
            .map_err(|source| io("locking", &lock_path, source))?;

        let bin = find_bin_dir()?;
        let as_root = running_as_root();
        let data = self.data_dir();
        if !data.join("PG_VERSION").exists() {
            self.init(&bin, as_root)?;
        }
        if let Some(port) = self.running_port() {
            // Already up (maybe started by another process): use the port it really listens on.
            self.port = port;
            return Ok(());
        }
        // Another server (another checkout's cluster, say) may hold the port: take the next free one.
        if let Some(free) = (self.port..self.port.saturating_add(50)).find(|p| port_is_free(*p)) {
            if free != self.port {
                tracing::info!(
                    wanted = self.port,
                    using = free,
                    "port busy; using the next free one"
                );
            }
            self.port = free;
        }
        let log = self.root.join("server.log");
        let out = run_pg(
            &bin.join("pg_ctl"),
            as_root,
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                format!("-p {}", self.port).as_ref(),
                "start".as_ref(),
            ],
        )?;
        if !out.status.success() {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            return Err(command_error("pg_ctl start", &out, &tail.join(" | ")));
        }
        tracing::info!(root = %self.root.display(), port = self.port, "embedded PostgreSQL started");
        Ok(())
    }

    fn init(&self, bin: &Path, as_root: bool) -> CoreResult<()> {
        let data = self.data_dir();
        if as_root {
            chown_to_postgres(&self.root)?;
        }
        let out = run_pg(
            &bin.join("initdb"),
            as_root,
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
            ],
        )?;
        if !out.status.success() {
            return Err(command_error("initdb", &out, ""));
        }
        let conf = data.join("postgresql.conf");
        let mut settings =
            fs::read_to_string(&conf).map_err(|source| io("reading", &conf, source))?;
        settings.push_str("\n# bando embedded cluster\n");
        settings.push_str(BASE_SETTINGS);
        if !self.durable {
            settings.push_str(FAST_SETTINGS);
        }
        fs::write(&conf, settings).map_err(|source| io("writing", &conf, source))?;
        tracing::info!(root = %self.root.display(), "embedded PostgreSQL cluster created");
        Ok(())
    }

    /// Makes this cluster a streaming replica of `primary` (running, on loopback) when it holds
    /// no data yet — a base backup with `pg_basebackup`, streaming WAL from then on — and starts
    /// it. A hot standby: it answers reads, refuses writes, and follows the primary by itself.
    pub fn ensure_replica_of(&mut self, primary: &EmbeddedCluster) -> CoreResult<()> {
        fs::create_dir_all(&self.root).map_err(|source| io("creating", &self.root, source))?;
        let lock_path = self.root.join("cluster.lock");
        {
            let lock =
                File::create(&lock_path).map_err(|source| io("opening", &lock_path, source))?;
            lock.lock()
                .map_err(|source| io("locking", &lock_path, source))?;
            let data = self.data_dir();
            if !data.join("PG_VERSION").exists() {
                let bin = find_bin_dir()?;
                let as_root = running_as_root();
                if as_root {
                    chown_to_postgres(&self.root)?;
                }
                let port = primary.port().to_string();
                let out = run_pg(
                    &bin.join("pg_basebackup"),
                    as_root,
                    &[
                        "-h".as_ref(),
                        "127.0.0.1".as_ref(),
                        "-p".as_ref(),
                        port.as_ref(),
                        "-U".as_ref(),
                        "postgres".as_ref(),
                        "-D".as_ref(),
                        data.as_os_str(),
                        // Writes standby.signal and primary_conninfo: it starts as a standby.
                        "-R".as_ref(),
                        "-X".as_ref(),
                        "stream".as_ref(),
                        "-c".as_ref(),
                        "fast".as_ref(),
                    ],
                )?;
                if !out.status.success() {
                    // Leave no half-copied folder behind: the next attempt starts clean.
                    let _ = fs::remove_dir_all(&data);
                    return Err(command_error("pg_basebackup", &out, ""));
                }
                tracing::info!(root = %self.root.display(), primary = primary.port(), "streaming replica created");
            }
        }
        self.ensure_running()
    }

    /// The port of the running postmaster of this cluster, or `None` if it is not running.
    pub fn running_port(&self) -> Option<u16> {
        let bin = find_bin_dir().ok()?;
        let data = self.data_dir();
        let out = run_pg(
            &bin.join("pg_ctl"),
            running_as_root(),
            &["-D".as_ref(), data.as_os_str(), "status".as_ref()],
        )
        .ok()?;
        if !out.status.success() {
            return None;
        }
        // postmaster.pid line 4 is the port.
        let pid_file = fs::read_to_string(data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    /// Stops the cluster if it runs (fast shutdown: open sessions are disconnected).
    pub fn stop(&self) -> CoreResult<bool> {
        if self.running_port().is_none() {
            return Ok(false);
        }
        let bin = find_bin_dir()?;
        let data = self.data_dir();
        let out = run_pg(
            &bin.join("pg_ctl"),
            running_as_root(),
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )?;
        if !out.status.success() {
            return Err(command_error("pg_ctl stop", &out, ""));
        }
        Ok(true)
    }

    /// Creates database `name` with PostGIS if it does not exist; returns its URL.
    pub async fn ensure_database(&self, name: &str) -> CoreResult<String> {
        let mut admin = PgConnection::connect(&self.url("postgres")).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut admin)
                .await?;
        if !exists {
            let create = format!("CREATE DATABASE {}", crate::layer::quote_ident(name));
            match sqlx::query(&create).execute(&mut admin).await {
                Ok(_) => {}
                // Another process created it between our check and now.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
                Err(e) => return Err(e.into()),
            }
        }
        admin.close().await?;
        let url = self.url(name);
        let mut conn = PgConnection::connect(&url).await?;
        if let Err(e) = sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
            .execute(&mut conn)
            .await
        {
            let missing_extension = matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("0A000") || d.code().as_deref() == Some("58P01"));
            return Err(if missing_extension {
                CoreError::PostgresNotInstalled {
                    missing: "the postgis extension".to_owned(),
                }
            } else {
                e.into()
            });
        }
        conn.close().await?;
        Ok(url)
    }
}

/// Where the cluster lives by default: `$BANDO_HOME/pg`, else `.bando/pg` in the current folder.
/// When running as root and the `postgres` user cannot reach that folder (a checkout under
/// `/root`, say), `/var/lib/bando/<name>` is used instead.
pub fn default_root(name: &str) -> PathBuf {
    let home = std::env::var_os("BANDO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".bando"));
    cluster_root(&home, name)
}

/// `<home>/<name>`, made absolute, with the same fallback as [`default_root`].
pub fn cluster_root(home: &Path, name: &str) -> PathBuf {
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    let root = home.join(name);
    if running_as_root() && !postgres_can_reach(&home) {
        return PathBuf::from("/var/lib/bando").join(name);
    }
    root
}

fn postgres_can_reach(dir: &Path) -> bool {
    // The nearest existing ancestor must be enterable by `postgres`.
    let existing = dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-x"])
        .arg(existing)
        .status()
        .is_ok_and(|s| s.success())
}

/// Finds the PostgreSQL programs: `$BANDO_PG_BIN`, Debian's `/usr/lib/postgresql/<major>/bin`,
/// or `pg_ctl` on `PATH`; PostGIS must be installed for the same major version.
pub fn find_bin_dir() -> CoreResult<PathBuf> {
    if let Some(dir) = std::env::var_os("BANDO_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
        return Err(CoreError::PostgresNotInstalled {
            missing: format!("{}/initdb", dir.display()),
        });
    }
    for major in SUPPORTED_MAJORS {
        let dir = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
        if dir.join("initdb").exists() {
            let control = format!("/usr/share/postgresql/{major}/extension/postgis.control");
            if !Path::new(&control).exists() {
                return Err(CoreError::PostgresNotInstalled { missing: control });
            }
            return Ok(dir);
        }
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .ok_or_else(|| CoreError::PostgresNotInstalled {
            missing: "initdb".to_owned(),
        })
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn chown_to_postgres(dir: &Path) -> CoreResult<()> {
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .output()
        .map_err(|source| io("running chown on", dir, source))?;
    if !out.status.success() {
        return Err(command_error("chown", &out, ""));
    }
    Ok(())
}

fn run_pg(program: &Path, as_root: bool, args: &[&std::ffi::OsStr]) -> CoreResult<Output> {
    let mut cmd = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    // Run from a folder the postgres user can read, whatever our own working directory is.
    cmd.args(args).current_dir("/");
    cmd.output()
        .map_err(|source| io("running", program, source))
}

fn command_error(program: &str, out: &Output, extra: &str) -> CoreError {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut message = format!("{} ({})", stderr.trim(), out.status);
    if message.starts_with(' ') || stderr.trim().is_empty() {
        message = format!("{} ({})", stdout.trim(), out.status);
    }
    if !extra.is_empty() {
        message.push_str(": ");
        message.push_str(extra);
    }
    CoreError::ClusterCommand {
        program: program.to_owned(),
        message,
    }
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> CoreError {
    CoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Name of the database bando uses inside its embedded cluster.
pub const DEFAULT_DATABASE: &str = "bando";

/// The embedded cluster bando uses by default: under [`default_root`]`("pg")`, on
/// `$BANDO_PG_PORT` or [`DEFAULT_PORT`].
pub fn default_cluster() -> EmbeddedCluster {
    let port = std::env::var("BANDO_PG_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_PORT);
    EmbeddedCluster::new(default_root("pg"), port, true)
}

/// The database URL to use: `explicit` (from `--database-url` or `DATABASE_URL`) when given,
/// otherwise the embedded cluster's database, which is created and started on the way.
pub async fn resolve_database_url(explicit: Option<&str>) -> CoreResult<String> {
    if let Some(url) = explicit.filter(|u| !u.trim().is_empty()) {
        return Ok(url.to_owned());
    }
    let mut cluster = default_cluster();
    let cluster = tokio::task::spawn_blocking(move || cluster.ensure_running().map(|()| cluster))
        .await
        .map_err(|e| CoreError::ClusterCommand {
            program: "embedded cluster start".to_owned(),
            message: e.to_string(),
        })??;
    cluster.ensure_database(DEFAULT_DATABASE).await
}
