//! Running a reader process and telling how it ended: the importer's side of `child.rs`.
//!
//! The process starts with an empty environment (no database URL, no key reaches GDAL), the job's
//! folder as its working directory and its order on standard input; its frames are read back
//! from standard output and its last words kept from standard error. Its peak memory and CPU time
//! are sampled from `/proc` while it runs (a crash sends no report of its own). Whatever happens
//! to it — a crash, a limit, a hang, a kill — ends *this read* with a reason a person
//! understands, and the importing process carries on.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::child::{COMMAND, ChildOrder, EXIT_FAILED, mentions_memory};
use super::confine::PARENT_ENV;
use super::limits::{ReaderLimits, ReaderReport, human_bytes};
use super::order::{ReadOrder, ReaderEvent, SourceSummary};
use super::stream::ReaderEnd;
use super::wire::{self, End, Hello};
use crate::error::ImportError;

/// The environment a reader gets: where GDAL and PROJ find their data, if the server was told.
const PASSED_ENV: [&str; 4] = ["GDAL_DATA", "PROJ_DATA", "PROJ_LIB", "GDAL_DRIVER_PATH"];

/// How often `/proc` is sampled for the reader's memory and CPU time.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Bytes of the reader's standard error kept for the job's reason.
const STDERR_KEPT: usize = 8 * 1024;

/// Runs a reader for `order` in `work_dir` under `limits`, sending its events to `events`.
pub(super) async fn run(
    program: PathBuf,
    limits: ReaderLimits,
    order: ReadOrder,
    work_dir: PathBuf,
    events: mpsc::Sender<ReaderEvent>,
) -> ReaderEnd {
    let started = Instant::now();
    let mut report = ReaderReport {
        isolated: true,
        limits: Some(limits),
        ..ReaderReport::default()
    };
    let mut command = tokio::process::Command::new(&program);
    command
        .arg(COMMAND)
        .current_dir(&work_dir)
        .env_clear()
        .envs(
            PASSED_ENV
                .iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (*k, v))),
        )
        .env(PARENT_ENV, std::process::id().to_string())
        .env("TMPDIR", &work_dir)
        .env("SQLITE_TMPDIR", &work_dir)
        .env("PROJ_NETWORK", "OFF")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return ReaderEnd {
                result: Err(ImportError::ReaderStopped(format!(
                    "the reader program {} could not be started: {e}",
                    program.display()
                ))),
                report,
            };
        }
    };
    let pid = child.id();
    let usage = Arc::new(Mutex::new(Usage::default()));
    let sampler = pid.map(|pid| tokio::spawn(sample(pid, Arc::clone(&usage))));
    let stderr_tail = Arc::new(Mutex::new(Vec::new()));
    let stderr_task = child
        .stderr
        .take()
        .map(|stderr| tokio::spawn(keep_tail(stderr, Arc::clone(&stderr_tail))));
    let order_text = serde_json::to_vec(&ChildOrder { order, limits }).unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        // A reader that died at once shows in its exit status below, not here.
        let _ = stdin.write_all(&order_text).await;
        drop(stdin);
    }
    let deadline =
        tokio::time::Instant::from_std(started + Duration::from_secs(limits.wall_seconds));
    let mut heard = Heard::default();
    let mut timed_out = false;
    if let Some(stdout) = child.stdout.take() {
        let mut stdout = BufReader::with_capacity(wire::MAX_ROWS_FRAME + 64, stdout);
        match tokio::time::timeout_at(deadline, pump(&mut stdout, &events, &mut heard)).await {
            Ok(()) => {}
            Err(_) => timed_out = true,
        }
    }
    // Stopped listening (done, broken, the importer gone, or out of time): nothing more is
    // read from it, so a reader still running is stopped rather than left blocked.
    if timed_out || heard.end.is_none() || heard.broken.is_some() || events.is_closed() {
        let _ = child.start_kill();
    }
    // A reader that reported its end exits at once; one that does not is stopped.
    let status = match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    if let Some(task) = stderr_task {
        let _ = task.await;
    }
    let sampled = *usage
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let stderr_text = String::from_utf8_lossy(
        &stderr_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    report.wall_seconds = Some(started.elapsed().as_secs_f64());
    report.confinement = heard.hello.take().map(|h| h.confinement);
    report.driver = heard.summary.take().map(|s| s.format);
    let own = heard.end.as_ref();
    report.peak_memory_bytes = Some(
        own.map_or(0, |e| e.peak_memory_bytes)
            .max(sampled.peak_memory_bytes),
    );
    report.cpu_seconds = Some(own.map_or(0.0, |e| e.cpu_seconds).max(sampled.cpu_seconds));
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            return ReaderEnd {
                result: Err(ImportError::ReaderStopped(format!(
                    "the reader could not be waited for: {e}"
                ))),
                report,
            };
        }
    };
    use std::os::unix::process::ExitStatusExt;
    report.exit_code = status.code();
    report.signal = status.signal();
    report.exit = Some(match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal} ({})", signal_name(signal)),
        _ => "ended".to_owned(),
    });
    let used = Usage {
        peak_memory_bytes: report.peak_memory_bytes.unwrap_or(0),
        peak_address_space: sampled.peak_address_space,
        cpu_seconds: report.cpu_seconds.unwrap_or(0.0),
    };
    let result = verdict(&limits, &status, heard, timed_out, &stderr_text, used);
    ReaderEnd { result, report }
}

/// What the reader said.
#[derive(Default)]
struct Heard {
    hello: Option<Hello>,
    summary: Option<SourceSummary>,
    end: Option<End>,
    /// Output that is not the protocol: what was wrong with it.
    broken: Option<String>,
    /// The importer stopped listening before the end.
    abandoned: bool,
}

/// Reads frames until the end frame or the end of the stream, passing plan, rows and progress on.
async fn pump(
    stdout: &mut (impl tokio::io::AsyncRead + Unpin),
    events: &mpsc::Sender<ReaderEvent>,
    heard: &mut Heard,
) {
    loop {
        let (kind, payload) = match wire::read_frame(stdout).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                heard.broken = Some(format!("its output broke off: {e}"));
                return;
            }
        };
        if heard.hello.is_none() && kind != wire::HELLO {
            heard.broken = Some("it did not introduce itself".to_owned());
            return;
        }
        let event = match kind {
            wire::HELLO => match serde_json::from_slice::<Hello>(&payload) {
                Ok(hello) if hello.protocol == wire::PROTOCOL => {
                    heard.hello = Some(hello);
                    continue;
                }
                _ => {
                    heard.broken = Some("it speaks another protocol".to_owned());
                    return;
                }
            },
            wire::PLANNED => match serde_json::from_slice::<SourceSummary>(&payload) {
                Ok(summary) => {
                    heard.summary = Some(summary.clone());
                    ReaderEvent::Planned(summary)
                }
                Err(e) => {
                    heard.broken = Some(format!("its plan is unreadable: {e}"));
                    return;
                }
            },
            wire::ROWS => ReaderEvent::Rows(payload),
            wire::PROGRESS => {
                let mut bytes = [0u8; 8];
                let n = payload.len().min(8);
                bytes[..n].copy_from_slice(&payload[..n]);
                ReaderEvent::Progress(u64::from_le_bytes(bytes))
            }
            _ => {
                match serde_json::from_slice::<End>(&payload) {
                    Ok(end) => heard.end = Some(end),
                    Err(e) => heard.broken = Some(format!("its last report is unreadable: {e}")),
                }
                return;
            }
        };
        if events.send(event).await.is_err() {
            heard.abandoned = true;
            return;
        }
    }
}

/// Why the read ended as it did, in words for the job.
fn verdict(
    limits: &ReaderLimits,
    status: &std::process::ExitStatus,
    heard: Heard,
    timed_out: bool,
    stderr: &str,
    used: Usage,
) -> Result<crate::reader::ReadStats, ImportError> {
    let Usage {
        peak_memory_bytes: peak_memory,
        peak_address_space,
        cpu_seconds,
    } = used;
    use std::os::unix::process::ExitStatusExt;
    let failed = |reason: String| Err(ImportError::Reader(reason));
    let memory = || {
        format!(
            "the file needs more than {} of memory to read (the limit for a reader; \
             import_memory_mb)",
            human_bytes(limits.memory_bytes)
        )
    };
    if timed_out {
        return failed(format!(
            "the file took longer than {} to read; the reader was stopped (import_wall_seconds)",
            duration_words(limits.wall_seconds)
        ));
    }
    if heard.abandoned {
        return Err(ImportError::ReaderStopped(
            "the database writer stopped".to_owned(),
        ));
    }
    // The limit bounds the address space; resident memory stays below it by the libraries'
    // mappings. Either near the limit, a crash is read as the allocation that failed.
    let near_memory_limit = peak_memory.saturating_mul(10) >= limits.memory_bytes.saturating_mul(8)
        || peak_address_space.saturating_mul(10) >= limits.memory_bytes.saturating_mul(9);
    let cpu_exhausted = cpu_seconds + 0.5 >= limits.cpu_seconds as f64;
    if let Some(number) = status.signal() {
        use nix::sys::signal::Signal;
        let signal = Signal::try_from(number).ok();
        return failed(match signal {
            Some(Signal::SIGXCPU) => cpu_words(limits),
            Some(Signal::SIGKILL) if cpu_exhausted => cpu_words(limits),
            Some(Signal::SIGXFSZ) => format!(
                "reading the file needs to write more than {} (import_file_mb)",
                human_bytes(limits.file_bytes)
            ),
            Some(Signal::SIGABRT | Signal::SIGSEGV | Signal::SIGBUS)
                if mentions_memory(stderr)
                    || near_memory_limit && signal == Some(Signal::SIGABRT) =>
            {
                memory()
            }
            Some(Signal::SIGKILL) => {
                "the file could not be read: the reader was killed (SIGKILL)".to_owned()
            }
            _ => format!(
                "the file could not be read: the reader crashed ({})",
                signal_name(number)
            ),
        });
    }
    if let Some(broken) = heard.broken {
        return failed(format!(
            "the file could not be read: the reader failed ({broken})"
        ));
    }
    match (heard.end, status.code()) {
        (Some(end), Some(0)) => end.stats.and_then(wire::WireStats::into_stats).map_or_else(
            || failed("the file could not be read: the reader's report is incomplete".to_owned()),
            Ok,
        ),
        (Some(end), Some(code)) if code == i32::from(EXIT_FAILED) => {
            let error = end.error.unwrap_or_default();
            if end.out_of_memory && near_memory_limit {
                failed(memory())
            } else {
                failed(error)
            }
        }
        (_, code) => failed(format!(
            "the file could not be read: the reader stopped unexpectedly (exit code {}){}",
            code.map_or_else(|| "?".to_owned(), |c| c.to_string()),
            stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| format!(": {}", l.trim()))
                .unwrap_or_default()
        )),
    }
}

fn cpu_words(limits: &ReaderLimits) -> String {
    format!(
        "the file needs more than {} of CPU time to read (the limit for a reader; \
         import_cpu_seconds)",
        duration_words(limits.cpu_seconds)
    )
}

fn duration_words(seconds: u64) -> String {
    if seconds >= 120 && seconds.is_multiple_of(60) {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_owned())
}

/// What `/proc` last said of the reader.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    peak_memory_bytes: u64,
    peak_address_space: u64,
    cpu_seconds: f64,
}

/// Samples the reader's peak resident memory (`VmHWM`), peak address space (`VmPeak`, what
/// its memory limit bounds) and CPU time until aborted.
async fn sample(pid: u32, usage: Arc<Mutex<Usage>>) {
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    loop {
        ticker.tick().await;
        let status = tokio::fs::read_to_string(format!("/proc/{pid}/status")).await;
        let stat = tokio::fs::read_to_string(format!("/proc/{pid}/stat")).await;
        let (Ok(status), Ok(stat)) = (status, stat) else {
            return;
        };
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        };
        let (peak_kb, peak_vm_kb) = (kb("VmHWM:"), kb("VmPeak:"));
        // Fields after the command name (which may hold spaces, inside parentheses): utime is
        // the 14th field, stime the 15th, in clock ticks (100 a second on Linux).
        let ticks: Option<u64> = stat.rsplit_once(')').and_then(|(_, rest)| {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime = fields.get(11)?.parse::<u64>().ok()?;
            let stime = fields.get(12)?.parse::<u64>().ok()?;
            Some(utime + stime)
        });
        let mut current = usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(kb) = peak_kb {
            current.peak_memory_bytes = current.peak_memory_bytes.max(kb * 1024);
        }
        if let Some(kb) = peak_vm_kb {
            current.peak_address_space = current.peak_address_space.max(kb * 1024);
        }
        if let Some(ticks) = ticks {
            current.cpu_seconds = current.cpu_seconds.max(ticks as f64 / 100.0);
        }
    }
}

/// Keeps the last [`STDERR_KEPT`] bytes the reader writes to standard error.
async fn keep_tail(mut stderr: impl tokio::io::AsyncRead + Unpin, tail: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut kept = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > STDERR_KEPT {
            let cut = kept.len() - STDERR_KEPT;
            kept.drain(..cut);
        }
    }
}
