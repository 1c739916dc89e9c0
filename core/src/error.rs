//! The one error type of `bando-core`.

use std::path::PathBuf;

/// Errors of the shared crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A query or connection failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A database URL that does not parse.
    #[error("invalid database URL: {0}")]
    InvalidDatabaseUrl(String),
    /// A layer slug that breaks the naming rule.
    #[error("invalid layer name {name:?}: {reason}")]
    InvalidLayerName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An API key or scope that cannot be used.
    #[error("invalid API key: {0}")]
    InvalidKey(String),
    /// Tile coordinates outside the tile matrix.
    #[error("invalid tile {field}: {reason}")]
    InvalidTile {
        /// `z`, `x` or `y`.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// PostgreSQL programs for the embedded cluster are missing.
    #[error(
        "PostgreSQL 15 with PostGIS 3 is not installed ({missing} not found); run scripts/setup or \
         `apt-get install postgresql-15 postgresql-15-postgis-3`, or set DATABASE_URL"
    )]
    PostgresNotInstalled {
        /// The program or file that was looked for.
        missing: String,
    },
    /// A PostgreSQL program of the embedded cluster failed.
    #[error("{program} failed: {message}")]
    ClusterCommand {
        /// initdb, pg_ctl, ...
        program: String,
        /// Its exit status and the end of its output.
        message: String,
    },
    /// File-system work for the embedded cluster failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result alias of the shared crate.
pub type CoreResult<T> = Result<T, CoreError>;
