//! The one error type of `bando-importers`.

use std::path::PathBuf;

/// Why an import failed. Every variant names the file or field at fault, so the CLI can print
/// it as a one-line reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The catalog or database failed.
    #[error(transparent)]
    Core(#[from] bando_core::CoreError),
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The source path does not exist or holds nothing importable.
    #[error("{path}: {reason}")]
    Source {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// GDAL could not read a file.
    #[error("{path}: cannot read: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// GDAL's message.
        message: String,
    },
    /// The coordinate reference system is unknown or cannot be transformed to WGS84.
    #[error("{path}: {reason}")]
    Crs {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The layer exists and belongs to another agency.
    #[error("layer {layer:?} belongs to another agency than {agency:?}")]
    NotOwner {
        /// The layer.
        layer: String,
        /// The agency that tried to publish it.
        agency: String,
    },
    /// An invalid command-line or API option.
    #[error("invalid {field}: {reason}")]
    InvalidOption {
        /// The option's name.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Nothing valid was left to publish.
    #[error("{path}: no feature with a usable geometry ({skipped} skipped: {reasons})")]
    NothingToPublish {
        /// The source.
        path: PathBuf,
        /// How many features were dropped.
        skipped: u64,
        /// Counts by reason, e.g. `null_geometry: 3`.
        reasons: String,
    },
    /// A bad feature under policy `fail`.
    #[error("feature {feature}: {reason} (policy fail: nothing was published)")]
    Validation {
        /// `file#fid`.
        feature: String,
        /// Machine-readable reason.
        reason: &'static str,
    },
    /// No such (live or retired) layer.
    #[error("{0}")]
    NoSuchLayer(String),
    /// The change conflicts with the catalog as it is (a retired layer's name taken again).
    #[error("{0}")]
    Conflict(String),
    /// The reading thread stopped unexpectedly.
    #[error("reader stopped: {0}")]
    ReaderStopped(String),
    /// A reader process failed: its own reason, or how it ended (crashed, out of a limit).
    #[error("{0}")]
    Reader(String),
}

/// Result alias of the importers crate.
pub type ImportResult<T> = Result<T, ImportError>;
