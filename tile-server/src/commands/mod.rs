//! The `bando` command line: `serve`, `import`, `jobs`, `rollback`, `layers`, `agencies`, `keys`,
//! `export`, `db`, `demo`.

use std::path::PathBuf;

use anyhow::Context;
use bando_core::embedded;
use bando_importers::cli::{DatabaseArgs, ImportArgs, run_import};
use tokio::net::TcpListener;

pub mod demo;
pub mod export;
pub mod keys;
pub mod layers;

use crate::config::{Config, ServeArgs};
use crate::state::AppState;

/// `bando`: HCMC's shared base map — tiles, catalog and importers in one command.
#[derive(Debug, clap::Parser)]
#[command(name = "bando", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the HTTP server (tiles, TileJSON, catalog, health, metrics).
    Serve {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Import a GIS file or folder into a layer.
    Import {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        import: Box<ImportArgs>,
    },
    /// Import jobs: what was loaded, when, how, with which problems.
    Jobs {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Put the previous version of a layer back live (undo the last publish).
    Rollback {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The layer.
        layer: String,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Layers: list, show, change catalog values, retire (delete), restore, purge.
    Layers {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: layers::LayersAction,
    },
    /// Manage the embedded PostgreSQL + PostGIS cluster (under $BANDO_HOME, default .bando/).
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Write a tileset (layer, `basemap`, `a,b`) for a bbox and zoom range to a PMTiles file.
    Export {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        export: export::ExportArgs,
    },
    /// Agencies: the owners and namespaces of layers.
    Agencies {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: keys::AgenciesAction,
    },
    /// API keys (stored hashed; the first admin key is created here).
    Keys {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        action: keys::KeysAction,
    },
    /// Load the demo layers: real HCMC data when available, else a generated sample.
    Demo {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Folder of the HCMC data set (default: $BANDO_DATA_DIR, else ../shared/data).
        #[arg(long, env = "BANDO_DATA_DIR")]
        data: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum JobsAction {
    /// The newest jobs.
    List {
        /// Only jobs of this layer.
        #[arg(long)]
        layer: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// One job with its validation report.
    Show {
        /// Job id.
        id: i64,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
enum DbAction {
    /// Create (if needed) and start the cluster, and create the `bando` database.
    Start,
    /// Stop the cluster.
    Stop,
    /// Say whether it runs, and where.
    Status,
    /// Print the URL of the `bando` database (for psql, QGIS, ogr2ogr).
    Url,
    /// Make (with `pg_basebackup`, once) and start a streaming read replica of the embedded
    /// cluster on loopback, under `<BANDO_HOME>/pg-replica`; prints its URL, for
    /// `bando serve --replica-url`.
    Replica {
        /// Port the replica listens on.
        #[arg(long, default_value_t = embedded::DEFAULT_PORT + 10)]
        port: u16,
        /// Stop the replica instead.
        #[arg(long)]
        stop: bool,
    },
}

impl Cli {
    /// Runs the command; returns what to print on standard output.
    pub async fn run(self) -> anyhow::Result<String> {
        match self.command {
            Command::Serve { database, serve } => {
                run_server(database, *serve).await?;
                Ok(String::new())
            }
            Command::Import { database, import } => {
                let pool = open_database(database.database_url.as_deref()).await?;
                Ok(run_import(&pool, &import).await?)
            }
            Command::Db { action } => db(action).await,
            Command::Agencies { database, action } => {
                let pool = open_database(database.database_url.as_deref()).await?;
                keys::agencies(&pool, action).await
            }
            Command::Keys { database, action } => {
                let pool = open_database(database.database_url.as_deref()).await?;
                keys::keys(&pool, action).await
            }
            Command::Layers { database, action } => {
                let pool = open_database(database.database_url.as_deref()).await?;
                layers::layers(&pool, action).await
            }
            Command::Jobs { database, action } => {
                let pool = open_database(database.database_url.as_deref()).await?;
                jobs(&pool, action).await
            }
            Command::Rollback {
                database,
                layer,
                json,
            } => {
                let pool = open_database(database.database_url.as_deref()).await?;
                let outcome = bando_importers::rollback::rollback(
                    &pool,
                    &layer,
                    &bando_core::audit::Actor::command_line(),
                )
                .await?;
                Ok(if json {
                    serde_json::to_string_pretty(&outcome)?
                } else {
                    format!(
                        "layer {} rolled back: the data of version {} is live again as version {}",
                        outcome.layer, outcome.restored_version, outcome.version
                    )
                })
            }
            Command::Export { database, export } => {
                let pool = open_database(database.database_url.as_deref()).await?;
                export::run(pool, export).await
            }
            Command::Demo { database, data } => {
                let pool = open_database(database.database_url.as_deref()).await?;
                demo::load(&pool, data).await
            }
        }
    }
}

/// Resolves (embedded by default), connects and migrates the database.
pub async fn open_database(url: Option<&str>) -> anyhow::Result<sqlx::PgPool> {
    let url = embedded::resolve_database_url(url)
        .await
        .context("starting the embedded database")?;
    let pool = bando_core::db::connect(&url, &bando_core::db::PoolSettings::default())
        .await
        .context("connecting to the database")?;
    bando_core::db::migrate(&pool)
        .await
        .context("applying migrations")?;
    Ok(pool)
}

async fn run_server(database: DatabaseArgs, serve: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(&serve)?;
    let explicit = database
        .database_url
        .or_else(|| config.database_url.clone());
    let url = embedded::resolve_database_url(explicit.as_deref())
        .await
        .context("starting the embedded database")?;
    let settings = bando_core::db::PoolSettings {
        max_connections: config.pool_size,
        statement_timeout: config.query_timeout,
        // A request waits for a free connection as long as a query may run: a busy pool is
        // load, not an outage (the breaker answers an outage at once).
        acquire_timeout: config.query_timeout,
        application_name: "bando-server".to_owned(),
    };
    let pool = bando_core::db::connect(&url, &settings)
        .await
        .context("connecting to the database")?;
    bando_core::db::migrate(&pool)
        .await
        .context("applying migrations")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "bando is serving");
    eprintln!("bando listening on http://{address}");
    let files = config.tile_files.clone();
    let state = AppState::new(pool, config);
    for path in files {
        let file = crate::tiles::sources::PmtilesFile::open(&path)
            .await
            .map_err(anyhow::Error::msg)
            .context("opening a tiles file")?;
        state.catalog.add_file_tileset(std::sync::Arc::new(file));
    }
    crate::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("bando stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

async fn jobs(pool: &sqlx::PgPool, action: JobsAction) -> anyhow::Result<String> {
    use bando_importers::jobs::{get_job, list_jobs, render_job, render_list};
    match action {
        JobsAction::List { layer, limit, json } => {
            anyhow::ensure!(
                (1..=10_000).contains(&limit),
                "--limit must be in 1..=10000"
            );
            let rows = list_jobs(pool, layer.as_deref(), limit).await?;
            Ok(if json {
                serde_json::to_string_pretty(&rows)?
            } else {
                render_list(&rows)
            })
        }
        JobsAction::Show { id, json } => {
            let job = get_job(pool, id)
                .await?
                .with_context(|| format!("no import job {id}"))?;
            Ok(if json {
                serde_json::to_string_pretty(&job)?
            } else {
                render_job(&job)
            })
        }
    }
}

async fn db(action: DbAction) -> anyhow::Result<String> {
    let mut cluster = embedded::default_cluster();
    match action {
        DbAction::Start => {
            let url = embedded::resolve_database_url(None).await?;
            Ok(format!("embedded PostgreSQL running: {url}"))
        }
        DbAction::Stop => {
            let stopped = tokio::task::spawn_blocking(move || cluster.stop()).await??;
            Ok(if stopped { "stopped" } else { "not running" }.to_owned())
        }
        DbAction::Status => {
            let root = cluster.root().display().to_string();
            Ok(
                match tokio::task::spawn_blocking(move || cluster.running_port()).await? {
                    Some(port) => format!("running on 127.0.0.1:{port} (data in {root})"),
                    None => format!("not running (data in {root})"),
                },
            )
        }
        DbAction::Replica { port, stop } => {
            let mut replica =
                embedded::EmbeddedCluster::new(embedded::default_root("pg-replica"), port, true);
            if stop {
                let stopped = tokio::task::spawn_blocking(move || replica.stop()).await??;
                return Ok(if stopped { "stopped" } else { "not running" }.to_owned());
            }
            // The primary must run for the base backup (and for the replica to follow it).
            embedded::resolve_database_url(None).await?;
            if let Some(port) = cluster.running_port() {
                cluster = embedded::EmbeddedCluster::new(cluster.root(), port, true);
            }
            let replica = tokio::task::spawn_blocking(move || {
                replica.ensure_replica_of(&cluster).map(|()| replica)
            })
            .await??;
            Ok(replica.url(embedded::DEFAULT_DATABASE))
        }
        DbAction::Url => {
            if let Some(port) = cluster.running_port() {
                cluster = embedded::EmbeddedCluster::new(cluster.root(), port, true);
            }
            Ok(cluster.url(embedded::DEFAULT_DATABASE))
        }
    }
}
