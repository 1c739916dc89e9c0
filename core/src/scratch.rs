//! Scratch folders — an upload being received, a job's fetched file, a converted source — are
//! named `bando-<kind>-<pid>-<random>` so that, when a process is killed before it can remove its
//! own, the next sweep (any bando process on the machine) recognises them as orphans: their
//! process is gone. Without this, every killed import left its files behind until the disk
//! filled, and the retried job then failed for want of room.

use std::path::Path;

/// The name prefix of a scratch folder of `kind` made by this process.
pub fn prefix(kind: &str) -> String {
    format!("bando-{kind}-{}-", std::process::id())
}

/// Removes the scratch folders in `dir` whose process no longer runs; returns how many.
/// Linux only (it asks `/proc`); elsewhere it removes nothing.
pub fn remove_orphans(dir: &Path) -> usize {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("bando-"))
            .and_then(|rest| rest.split('-').nth(1))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if proc.join(pid.to_string()).exists() {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => {
                removed += 1;
                tracing::info!(folder = %entry.path().display(), "removed the scratch folder of a process that is gone");
            }
            Err(e) => {
                tracing::debug!(folder = %entry.path().display(), error = %e, "scratch folder not removed");
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_folders_of_gone_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join(format!("{}abc", prefix("job")));
        // PIDs are below 2^22 on Linux: this one cannot be running.
        let gone = dir.path().join("bando-job-4294967295-abc");
        let other = dir.path().join("not-bando-1-abc");
        for folder in [&mine, &gone, &other] {
            std::fs::create_dir(folder).unwrap();
            std::fs::write(folder.join("upload.zip"), b"data").unwrap();
        }
        assert_eq!(remove_orphans(dir.path()), 1);
        assert!(mine.exists() && other.exists() && !gone.exists());
    }
}
