//! The reader process (`bando read-source`, started by an importer for an untrusted file): reads
//! its order from standard input, confines itself, reads the source in its working folder (the
//! job's) and writes frames to standard output (`wire.rs`). It holds no database connection and
//! no credential: its environment is cleared by the parent, and it never opens a socket.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::confine;
use super::limits::ReaderLimits;
use super::order::{ReadOrder, ReaderEvent};
use super::wire::{self, End, Hello, WireStats};
use crate::error::ImportError;

/// The command-line word that starts a reader (a hidden subcommand of `bando`).
pub const COMMAND: &str = "read-source";

/// What the parent writes on the reader's standard input.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChildOrder {
    /// The source and how to read it (paths relative to the working folder).
    pub order: ReadOrder,
    /// Its limits.
    pub limits: ReaderLimits,
}

/// Exit codes: a read that failed for a reason it reported (the end frame says which).
pub const EXIT_FAILED: u8 = 1;
/// The order could not be read, or the process could not be confined.
pub const EXIT_UNUSABLE: u8 = 3;

/// Runs a reader process to its end. Call first thing in `main`, before any thread starts (the
/// network namespace needs a single-threaded process) when `argv[1]` is [`COMMAND`].
pub fn main() -> ExitCode {
    if !confine::die_with_parent() {
        return ExitCode::from(EXIT_UNUSABLE);
    }
    let mut input = String::new();
    // The order is small; a parent writing more than this is not ours.
    if std::io::stdin()
        .take(1 << 20)
        .read_to_string(&mut input)
        .is_err()
    {
        return unusable("the order could not be read");
    }
    let child: ChildOrder = match serde_json::from_str(&input) {
        Ok(child) => child,
        Err(e) => return unusable(&format!("the order is not understood: {e}")),
    };
    let work_dir = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(e) => return unusable(&format!("no working folder: {e}")),
    };
    let confinement = match confine::confine(&child.limits, &work_dir) {
        Ok(c) => c,
        Err(e) => return unusable(&e),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(wire::MAX_ROWS_FRAME + 64, stdout.lock());
    let hello = Hello {
        protocol: wire::PROTOCOL.to_owned(),
        confinement,
    };
    if send_json(&mut out, wire::HELLO, &hello).is_err() {
        return ExitCode::from(EXIT_UNUSABLE);
    }
    let result = read(&child.order, &work_dir, &mut out);
    let (peak_memory_bytes, cpu_seconds) = own_usage();
    let end = match &result {
        Ok(stats) => End {
            stats: Some(WireStats::from(stats)),
            peak_memory_bytes,
            cpu_seconds,
            ..End::default()
        },
        Err(e) => {
            let error = e.to_string();
            End {
                out_of_memory: mentions_memory(&error),
                error: Some(error),
                peak_memory_bytes,
                cpu_seconds,
                ..End::default()
            }
        }
    };
    if send_json(&mut out, wire::END, &end)
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(EXIT_UNUSABLE);
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn read(
    order: &ReadOrder,
    work_dir: &Path,
    out: &mut dyn Write,
) -> crate::ImportResult<crate::reader::ReadStats> {
    let order = ReadOrder {
        source: crate::source::SourceOptions {
            // Never for an untrusted file, whatever the order says.
            any_driver: false,
            ..order.source.clone()
        },
        ..order.clone()
    };
    if order.source.sql.is_some() {
        return Err(ImportError::InvalidOption {
            field: "sql",
            reason: "queries are not run on uploaded files".to_owned(),
        });
    }
    check_inside(work_dir, &order.path)?;
    let mut emit = |event: ReaderEvent| -> crate::ImportResult<()> {
        let sent = match event {
            ReaderEvent::Planned(summary) => send_json(out, wire::PLANNED, &summary),
            ReaderEvent::Rows(rows) => rows
                .chunks(wire::MAX_ROWS_FRAME)
                .try_for_each(|piece| wire::write_frame(out, wire::ROWS, piece)),
            ReaderEvent::Progress(read) => {
                wire::write_frame(out, wire::PROGRESS, &read.to_le_bytes())
            }
        };
        sent.map_err(|e| ImportError::ReaderStopped(format!("the importer stopped listening: {e}")))
    };
    // Paths relative to the working folder (the job's): messages name the file as uploaded,
    // never where the server keeps it.
    let stats = super::order::read(&order, Path::new(""), &mut emit)?;
    check_no_links(work_dir)?;
    Ok(stats)
}

/// The source must be a plain path inside the working folder: no absolute path, no `..`, no
/// symbolic link anywhere in the folder.
fn check_inside(work_dir: &Path, path: &Path) -> crate::ImportResult<()> {
    use std::path::Component;
    let refused = |reason: &str| ImportError::Source {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(refused("is not a path inside the job's folder"));
    }
    check_no_links(work_dir)
}

/// Refuses symbolic links anywhere under `dir` (a file must be what it is, where it is).
fn check_no_links(dir: &Path) -> crate::ImportResult<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| ImportError::Source {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let kind = entry.file_type().map_err(|e| ImportError::Source {
            path: entry.path(),
            reason: e.to_string(),
        })?;
        if kind.is_symlink() {
            return Err(ImportError::Source {
                path: entry.file_name().into(),
                reason: "is a symbolic link; links are never followed".to_owned(),
            });
        }
        if kind.is_dir() {
            check_no_links(&entry.path())?;
        }
    }
    Ok(())
}

fn send_json<T: Serialize>(out: &mut dyn Write, kind: u8, value: &T) -> std::io::Result<()> {
    let payload = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    wire::write_frame(out, kind, &payload)
}

fn unusable(reason: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "read-source: {reason}");
    ExitCode::from(EXIT_UNUSABLE)
}

/// Whether a failure reads as an allocation that could not be made (GDAL's and the C++
/// runtime's words for it).
pub fn mentions_memory(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "out of memory",
        "cannot allocate",
        "memory allocation",
        "bad_alloc",
        "failed to allocate",
    ]
    .iter()
    .any(|words| lower.contains(words))
}

/// This process's peak resident memory (bytes) and CPU seconds so far.
fn own_usage() -> (u64, f64) {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let seconds = |t: nix::sys::time::TimeVal| {
                t.tv_sec() as f64 + f64::from(i32::try_from(t.tv_usec()).unwrap_or(0)) / 1e6
            };
            (
                u64::try_from(usage.max_rss()).unwrap_or(0) * 1024,
                seconds(usage.user_time()) + seconds(usage.system_time()),
            )
        }
        Err(_) => (0, 0.0),
    }
}
