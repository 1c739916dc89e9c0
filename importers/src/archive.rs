//! Zipped sources (a Shapefile and its sidecars, a GeoPackage, …): which entry is the dataset,
//! and unpacking it safely — flattened into one folder, no path escapes, no links, no
//! duplicates, and bounded expansion (a zip bomb is refused by its declared sizes before anything
//! is written, and by the bytes actually written while unpacking if its headers lie).

use std::path::{Path, PathBuf};

use crate::error::{ImportError, ImportResult};

/// A zip may always expand to this many bytes …
pub const EXPANSION_FLOOR: u64 = 256 * 1024 * 1024;
/// … and beyond it to at most this many times its own size. Real Shapefile zips stay far below
/// (the city's DBFs compress 13–125 times; a zip of zeros, the classic bomb, ~1,000 times).
pub const MAX_RATIO: u64 = 200;
/// Entries a zip may hold.
pub const MAX_ENTRIES: usize = 10_000;

/// How far a zip of `zip_bytes` may expand: the larger of [`EXPANSION_FLOOR`] and
/// [`MAX_RATIO`] × its size, and never beyond `cap`.
pub fn expansion_budget(zip_bytes: u64, cap: u64) -> u64 {
    EXPANSION_FLOOR
        .max(zip_bytes.saturating_mul(MAX_RATIO))
        .min(cap)
}

/// What a zip's central directory says: the dataset to read and the bytes it expands to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipListing {
    /// The dataset's entry name, flattened (its file name only).
    pub dataset: String,
    /// Uncompressed bytes of all entries, as declared.
    pub declared_bytes: u64,
}

fn refused(reason: String) -> ImportError {
    ImportError::InvalidOption {
        field: "file",
        reason,
    }
}

fn corrupt(e: &zip::result::ZipError) -> ImportError {
    refused(format!("not a readable zip archive: {e}"))
}

/// The flattened name an entry is unpacked under, or why it may not be; `None` for entries that
/// are skipped (folders, hidden files, macOS resource forks).
fn entry_name(entry: &zip::read::ZipFile<'_, std::fs::File>) -> ImportResult<Option<String>> {
    if entry.is_dir() {
        return Ok(None);
    }
    let raw = entry.name().to_owned();
    if entry.is_symlink() {
        return Err(refused(format!("zip entry {raw:?} is a symbolic link")));
    }
    let name = entry
        .enclosed_name()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .ok_or_else(|| refused(format!("zip entry {raw:?} has an unsafe path")))?;
    if name.starts_with('.') || raw.starts_with("__MACOSX") {
        return Ok(None);
    }
    if name.chars().any(char::is_control) {
        return Err(refused(format!(
            "zip entry {raw:?} has control characters in its name"
        )));
    }
    Ok(Some(name))
}

/// Reads the central directory of `archive` (nothing is unpacked): the one dataset it holds and
/// its declared size, refused when it would expand beyond [`expansion_budget`] of `cap`.
pub fn list(archive: &Path, cap: u64) -> ImportResult<ZipListing> {
    let file = std::fs::File::open(archive).map_err(|e| ImportError::Source {
        path: archive.to_path_buf(),
        reason: e.to_string(),
    })?;
    let zip_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut zip = zip::ZipArchive::new(file).map_err(|e| corrupt(&e))?;
    if zip.len() > MAX_ENTRIES {
        return Err(refused(format!(
            "the zip holds {} entries; at most {MAX_ENTRIES} are read",
            zip.len()
        )));
    }
    let budget = expansion_budget(zip_bytes, cap);
    let mut declared: u64 = 0;
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| corrupt(&e))?;
        let Some(name) = entry_name(&entry)? else {
            continue;
        };
        declared = declared.saturating_add(entry.size());
        if names.iter().any(|n: &String| n.eq_ignore_ascii_case(&name)) {
            return Err(refused(format!("the zip holds two files named {name:?}")));
        }
        names.push(name);
    }
    if declared > budget {
        return Err(too_large(declared, zip_bytes, budget));
    }
    Ok(ZipListing {
        dataset: pick_dataset(&names)?,
        declared_bytes: declared,
    })
}

fn too_large(bytes: u64, zip_bytes: u64, budget: u64) -> ImportError {
    let ratio = bytes / zip_bytes.max(1);
    ImportError::InvalidOption {
        field: "file",
        reason: format!(
            "the zip expands to {} MiB, {ratio} times its size; zips may expand to {} MiB here \
             (at most {MAX_RATIO} times their size beyond {} MiB): a zip bomb is refused",
            bytes / (1024 * 1024),
            budget / (1024 * 1024),
            EXPANSION_FLOOR / (1024 * 1024),
        ),
    }
}

/// Unpacks `archive` into `into` (created) within its [`expansion_budget`] of `cap`, counting
/// the bytes written, not the sizes declared; returns the dataset's path.
pub fn unpack(archive: &Path, into: &Path, cap: u64) -> ImportResult<PathBuf> {
    let listing = list(archive, cap)?;
    let file = std::fs::File::open(archive).map_err(|e| ImportError::Source {
        path: archive.to_path_buf(),
        reason: e.to_string(),
    })?;
    let zip_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let budget = expansion_budget(zip_bytes, cap);
    let mut left = budget;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| corrupt(&e))?;
    std::fs::create_dir_all(into).map_err(|e| write_error(into, &e))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| corrupt(&e))?;
        let Some(name) = entry_name(&entry)? else {
            continue;
        };
        let target = into.join(&name);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| write_error(&target, &e))?;
        let copied = std::io::copy(&mut std::io::Read::take(&mut entry, left + 1), &mut out)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                    write_error(&target, &e)
                }
                _ => refused(format!("zip entry {name:?} is corrupt: {e}")),
            })?;
        if copied > left {
            return Err(too_large(budget + 1, zip_bytes, budget));
        }
        left -= copied;
    }
    Ok(into.join(listing.dataset))
}

fn write_error(path: &Path, e: &std::io::Error) -> ImportError {
    ImportError::Source {
        path: path.to_path_buf(),
        reason: format!("cannot unpack here: {e}"),
    }
}

/// The one dataset among a zip's file names: its Shapefile if it has one (the `.dbf`, `.prj`
/// and `.cpg` beside it are its sidecars), else its one file of a readable format.
fn pick_dataset(names: &[String]) -> ImportResult<String> {
    let readable: Vec<&String> = names
        .iter()
        .filter(|n| {
            let path = Path::new(n.as_str());
            crate::drivers::for_path(path).is_some()
                && !path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("dbf"))
        })
        .collect();
    let shapefiles: Vec<&String> = readable
        .iter()
        .copied()
        .filter(|n| n.to_ascii_lowercase().ends_with(".shp"))
        .collect();
    let candidates = if shapefiles.is_empty() {
        readable
    } else {
        shapefiles
    };
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(refused(format!(
            "the zip holds no dataset ({})",
            crate::drivers::extensions()
        ))),
        several => Err(refused(format!(
            "the zip holds {} datasets ({}); upload one at a time",
            several.len(),
            several
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, Vec<u8>)]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("temp file: {e}"));
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap_or_else(|e| panic!("{e}")));
        for (name, data) in entries {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            zip.start_file(*name, options)
                .unwrap_or_else(|e| panic!("{e}"));
            zip.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        }
        zip.finish().unwrap_or_else(|e| panic!("{e}"));
        file
    }

    #[test]
    fn a_shapefile_zip_names_its_shp_and_unpacks_flat() {
        let zip = zip_of(&[
            ("wards/w.shp", b"shp".to_vec()),
            ("wards/w.shx", b"shx".to_vec()),
            ("wards/w.dbf", b"dbf".to_vec()),
            ("__MACOSX/._w.shp", b"x".to_vec()),
        ]);
        let into = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path =
            unpack(zip.path(), &into.path().join("u"), u64::MAX).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path, into.path().join("u").join("w.shp"));
        assert!(into.path().join("u").join("w.dbf").exists());
    }

    #[test]
    fn a_bomb_is_refused_by_its_declared_size_before_anything_is_written() {
        let zip = zip_of(&[("zeros.csv", vec![0u8; 300 * 1024 * 1024])]);
        let size = std::fs::metadata(zip.path()).map(|m| m.len()).unwrap_or(0);
        assert!(
            300 * 1024 * 1024 / size > MAX_RATIO,
            "a bomb compresses far"
        );
        let error = list(zip.path(), u64::MAX).err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("zip bomb")),
            "{error:?}"
        );
    }

    #[test]
    fn two_datasets_or_none_are_refused() {
        let two = zip_of(&[("a.geojson", b"{}".to_vec()), ("b.csv", b"x".to_vec())]);
        assert!(list(two.path(), u64::MAX).is_err());
        let none = zip_of(&[("readme.txt", b"x".to_vec()), ("a.vrt", b"x".to_vec())]);
        assert!(list(none.path(), u64::MAX).is_err());
        let dup = zip_of(&[
            ("a/x.geojson", b"{}".to_vec()),
            ("b/X.geojson", b"{}".to_vec()),
        ]);
        assert!(list(dup.path(), u64::MAX).is_err());
    }
}
