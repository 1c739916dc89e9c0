//! Connecting to PostgreSQL, applying the schema in `migrations/`, and health checks.

use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::{CoreError, CoreResult};

/// The migrations in `migrations/`, embedded at build time: the schema contract between the
/// importers and the server. Both binaries apply them on start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How to open a pool.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections the pool opens; keep it below the server's `max_connections`.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// `statement_timeout` set on every connection, so no query runs unbounded.
    pub statement_timeout: Duration,
    /// `application_name` shown in `pg_stat_activity`.
    pub application_name: String,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            // As long as a statement may run: a request queued behind busy connections waits
            // for one (an unreachable database is found by the server's breaker, not here).
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(10),
            application_name: "bando".to_owned(),
        }
    }
}

/// Opens a pool without connecting yet (so a server can start while the database is down).
pub fn pool_lazy(url: &str, settings: &PoolSettings) -> CoreResult<PgPool> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| CoreError::InvalidDatabaseUrl(e.to_string()))?;
    let options = options
        .application_name(&settings.application_name)
        // Long statements (index builds, ANALYZE) are expected here; errors are logged by callers.
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(5))
        .log_statements(log::LevelFilter::Trace)
        .options([(
            "statement_timeout",
            settings.statement_timeout.as_millis().to_string(),
        )]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(|connection, _| Box::pin(set_up_session(connection)))
        .connect_lazy_with(options))
}

/// Session settings every connection gets (the pool's on connect; a connection opened beside
/// the pool must call it): PostgreSQL 14+ then notices a client that went away mid-statement
/// (see `cancel_on_drop`); older servers do not know the setting, and skip it.
pub async fn set_up_session(connection: &mut sqlx::PgConnection) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "DO $$ BEGIN PERFORM set_config('client_connection_check_interval', '{}', false); \
         EXCEPTION WHEN undefined_object THEN NULL; END $$",
        crate::cancel_on_drop::CLIENT_CHECK_INTERVAL
    ))
    .execute(connection)
    .await?;
    Ok(())
}

/// Opens a pool and checks it can reach the database.
pub async fn connect(url: &str, settings: &PoolSettings) -> CoreResult<PgPool> {
    let pool = pool_lazy(url, settings)?;
    ping(&pool).await?;
    Ok(pool)
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> CoreResult<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// `SELECT 1`: the database answers.
pub async fn ping(pool: &PgPool) -> CoreResult<()> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
