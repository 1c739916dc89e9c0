//! What a reader process may use, and what the job records of how it ran.

use serde::{Deserialize, Serialize};

/// Resource limits of a reader process (set on itself before it reads a byte of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderLimits {
    /// Address space (`RLIMIT_AS`): what the reader may map, GDAL's buffers included.
    pub memory_bytes: u64,
    /// CPU time (`RLIMIT_CPU`): a parser looping forever is stopped here.
    pub cpu_seconds: u64,
    /// Largest file it may write (`RLIMIT_FSIZE`), and how far a zip may expand.
    pub file_bytes: u64,
    /// Open files (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Wall time from start to end, waiting included (a reader blocked forever is stopped here).
    pub wall_seconds: u64,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 2 * 1024 * 1024 * 1024,
            cpu_seconds: 600,
            file_bytes: 4 * 1024 * 1024 * 1024,
            open_files: 256,
            wall_seconds: 3600,
        }
    }
}

/// How a reader process was confined beyond its limits (what the kernel granted it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// Its network: `none (an empty network namespace)`, or why not.
    pub network: String,
    /// Its file system view: `the job folder (read-write) and system libraries (read-only)`
    /// under Landlock, or why not.
    pub filesystem: String,
    /// The GDAL drivers left registered.
    pub drivers: Vec<String>,
}

/// How a source was read, recorded on its job (`GET /v1/jobs/{id}`, the audit log): which
/// driver, and for a reader process how it ended and what it used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReaderReport {
    /// The GDAL driver (or converter) that read the source, once known.
    pub driver: Option<String>,
    /// Read in a separate, confined process (uploads) rather than in the importing one.
    pub isolated: bool,
    /// How the process ended: `exit code 0`, `killed by signal 11 (SIGSEGV)`, ….
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
    /// Its exit code, if it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Peak resident memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// CPU time used (user and system).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// From start to end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    /// The limits it ran under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<ReaderLimits>,
    /// Its confinement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confinement: Option<Confinement>,
}

/// `n` bytes for a person: `2 GiB`, `512 MiB`.
pub fn human_bytes(n: u64) -> String {
    const GIB: u64 = 1024 * 1024 * 1024;
    const MIB: u64 = 1024 * 1024;
    if n >= GIB && n.is_multiple_of(GIB) {
        format!("{} GiB", n / GIB)
    } else if n >= GIB {
        format!("{:.1} GiB", n as f64 / GIB as f64)
    } else {
        format!("{} MiB", n.div_ceil(MIB))
    }
}
