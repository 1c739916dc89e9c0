//! A reader process confining itself before it reads a byte of the file: it dies with its parent,
//! takes its resource limits, leaves the network (an empty network namespace of its own), sees
//! only its job folder and the system's libraries (Landlock), and keeps only the GDAL drivers of
//! the formats sources may be in. Each layer is applied as far as the kernel allows and what was
//! granted is reported (the job records it); the limits and the driver list always hold.

use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use nix::sys::resource::{Resource, setrlimit};

use super::limits::{Confinement, ReaderLimits};

/// The environment variable a parent names itself in (its pid), so a reader whose parent is
/// already gone when it starts ends at once.
pub const PARENT_ENV: &str = "BANDO_READER_PARENT";

/// Dies (SIGKILL) when the process that started it dies; `false` if that process is already gone.
pub fn die_with_parent() -> bool {
    if nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).is_err() {
        return false;
    }
    // The parent may have died before the line above: then this process was re-parented.
    let expected = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|pid| pid.parse::<i32>().ok());
    expected.is_none_or(|pid| nix::unistd::getppid().as_raw() == pid)
}

/// Takes `limits` as this process's resource limits (soft and hard alike, except CPU time: the
/// soft limit sends SIGXCPU, which the importer reports as "needs more CPU", a moment before the
/// hard one kills). No core files: a crash must not write the hostile input's memory to disk.
pub fn take_limits(limits: &ReaderLimits) -> Result<(), String> {
    let set = |resource: Resource, soft: u64, hard: u64, what: &str| {
        setrlimit(resource, soft, hard).map_err(|e| format!("cannot limit {what}: {e}"))
    };
    set(Resource::RLIMIT_CORE, 0, 0, "core files")?;
    set(
        Resource::RLIMIT_AS,
        limits.memory_bytes,
        limits.memory_bytes,
        "memory",
    )?;
    set(
        Resource::RLIMIT_CPU,
        limits.cpu_seconds,
        limits.cpu_seconds.saturating_add(2),
        "CPU time",
    )?;
    set(
        Resource::RLIMIT_FSIZE,
        limits.file_bytes,
        limits.file_bytes,
        "file size",
    )?;
    set(
        Resource::RLIMIT_NOFILE,
        limits.open_files,
        limits.open_files,
        "open files",
    )?;
    Ok(())
}

/// Leaves the network: a new user namespace (so no privilege is needed) with a new, empty network
/// namespace — no interface but a loopback that is down, so every connection fails at once.
/// Must run while the process has one thread.
pub fn leave_network() -> String {
    use nix::sched::{CloneFlags, unshare};
    match unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET) {
        Ok(()) => "none (an empty network namespace of its own)".to_owned(),
        Err(e) => format!(
            "not isolated by a namespace ({e}: user namespaces unavailable); GDAL's network \
             options are off and Landlock denies TCP where the kernel has it"
        ),
    }
}

/// GDAL as a reader of untrusted files needs it: only the allowed drivers registered, and the
/// options that make drivers fetch or read other things off.
pub fn restrict_gdal(work_dir: &Path) -> Vec<String> {
    use gdal::DriverManager;
    // `count` registers every driver first (once); the others are then taken out.
    let allowed = crate::drivers::all_allowed();
    // In-memory datasets read nothing from outside; GDAL uses them internally.
    let internal = ["Memory", "MEM"];
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for i in 0..DriverManager::count() {
        if let Ok(driver) = DriverManager::get_driver(i) {
            let name = driver.short_name();
            if allowed.contains(&name.as_str()) || internal.contains(&name.as_str()) {
                kept.push(name);
            } else {
                refused.push(driver);
            }
        }
    }
    for driver in &refused {
        DriverManager::deregister_driver(driver);
    }
    // Registering them again (GDALAllRegister on a later open) must not bring them back.
    DriverManager::prevent_auto_registration();
    let tmp = work_dir.to_string_lossy().into_owned();
    for (key, value) in [
        // Temporary files in the job folder, which the reader may write.
        ("CPL_TMPDIR", tmp.as_str()),
        // No curl: /vsicurl/ only believes files with this extension exist.
        ("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".bando-never"),
        ("GDAL_HTTP_TIMEOUT", "1"),
        ("GDAL_HTTP_MAX_RETRY", "0"),
        // GML: no schema download, no xlink resolution (it fetches remote documents).
        ("GML_SKIP_RESOLVE_ELEMS", "ALL"),
        ("GML_DOWNLOAD_WFS_SCHEMA", "NO"),
        ("GML_DOWNLOAD_SCHEMA", "NO"),
        // SQLite/GeoPackage: no VirtualOGR tables (they open any data source by name).
        ("OGR_SQLITE_LIST_VIRTUAL_OGR", "NO"),
        // PROJ: grids from its own folders, never from the network.
        ("PROJ_NETWORK", "OFF"),
        ("OSR_USE_NON_DEPRECATED", "NO"),
    ] {
        let _ = gdal::config::set_config_option(key, value);
    }
    kept.sort();
    kept
}

/// Confines the file system view to `work_dir` (read and write) and the system's libraries and
/// data (read only); denies TCP binds and connects, abstract Unix sockets and signals to
/// processes outside. Returns what the kernel enforced.
pub fn restrict_files(work_dir: &Path) -> String {
    let abi = ABI::V6;
    let read_only = AccessFs::from_read(abi);
    let read_write = AccessFs::from_all(abi);
    let system = [
        "/usr",
        "/lib",
        "/lib64",
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/dev/urandom",
        "/dev/null",
    ];
    let attempt = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
        .and_then(|r| r.scope(Scope::from_all(abi)))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(system, read_only)))
        .and_then(|r| r.add_rules(path_beneath_rules([work_dir], read_write)))
        .and_then(|r| r.restrict_self());
    match attempt {
        Ok(status) => {
            let abi = match status.landlock {
                LandlockStatus::Available { effective_abi, .. } => format!("{effective_abi:?}"),
                LandlockStatus::NotEnabled => "not enabled".to_owned(),
                LandlockStatus::NotImplemented => "not in this kernel".to_owned(),
            };
            match status.ruleset {
                RulesetStatus::FullyEnforced => format!(
                    "the job folder (read-write) and system libraries (read-only), by Landlock {abi}"
                ),
                RulesetStatus::PartiallyEnforced => format!(
                    "the job folder (read-write) and system libraries (read-only), by Landlock {abi} \
                     (partly: an older kernel)"
                ),
                RulesetStatus::NotEnforced => {
                    format!("not confined (Landlock {abi}); the drivers allowlist still holds")
                }
            }
        }
        Err(e) => format!("not confined ({e}); the drivers allowlist still holds"),
    }
}

/// All of it, in the order it must happen: limits first, the network while single-threaded,
/// GDAL's drivers, then the file system view.
pub fn confine(limits: &ReaderLimits, work_dir: &Path) -> Result<Confinement, String> {
    take_limits(limits)?;
    let network = leave_network();
    let drivers = restrict_gdal(work_dir);
    let filesystem = restrict_files(work_dir);
    Ok(Confinement {
        network,
        filesystem,
        drivers,
    })
}
