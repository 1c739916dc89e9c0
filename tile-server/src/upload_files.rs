//! Uploaded files on their way to an import: which files are datasets, and zips unpacked safely
//! (flattened, no path escapes, bounded expansion). Used where an upload is received
//! (`routes::uploads`) and where its job runs (`job_runner`).

use std::path::{Path as FsPath, PathBuf};

use crate::error::{ApiError, ApiResult};

/// File name extensions accepted, as uploaded or inside a zip.
pub const DATASET_EXTENSIONS: [&str; 7] = ["shp", "gpkg", "geojson", "json", "kml", "fgb", "csv"];
/// A zip may expand to at most this many times the upload limit (zip bombs).
pub const ZIP_EXPANSION_LIMIT: u64 = 8;

/// A full disk is the server's condition, not the client's mistake, and passes: a 507 the client
/// may retry; anything else writing the upload is a fault.
pub fn write_error(e: &std::io::Error) -> ApiError {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            ApiError::InsufficientStorage(
                "the server has no room for this upload now; nothing was stored, retry later"
                    .to_owned(),
            )
        }
        _ => ApiError::Internal(format!("writing the upload: {e}")),
    }
}

/// Whether `path` ends in `.<wanted>`, in any case.
pub fn has_extension(path: &FsPath, wanted: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(wanted))
}

/// Extracts `archive` into `into` (flattened, no path escapes, bounded size) and returns the one
/// dataset in it.
pub fn unzip_dataset(archive: &FsPath, into: &FsPath, limit: u64) -> ApiResult<PathBuf> {
    let corrupt = |e: zip::result::ZipError| {
        ApiError::param("file", format!("not a readable zip archive: {e}"))
    };
    let file = std::fs::File::open(archive)
        .map_err(|e| ApiError::Internal(format!("reading the upload: {e}")))?;
    let mut zip = zip::ZipArchive::new(file).map_err(corrupt)?;
    std::fs::create_dir_all(into).map_err(|e| write_error(&e))?;
    let mut budget = limit.saturating_mul(ZIP_EXPANSION_LIMIT);
    let mut datasets = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(corrupt)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .enclosed_name()
            .and_then(|p| p.file_name().map(PathBuf::from))
            .ok_or_else(|| {
                ApiError::param(
                    "file",
                    format!("zip entry {:?} has an unsafe path", entry.name()),
                )
            })?;
        if name.to_string_lossy().starts_with('.') || entry.name().starts_with("__MACOSX") {
            continue;
        }
        let target = into.join(&name);
        if target.exists() {
            return Err(ApiError::param(
                "file",
                format!("the zip holds two files named {name:?}"),
            ));
        }
        let mut out = std::fs::File::create(&target).map_err(|e| write_error(&e))?;
        let copied = std::io::copy(&mut std::io::Read::take(&mut entry, budget + 1), &mut out)
            .map_err(|e| match write_error(&e) {
                full @ ApiError::InsufficientStorage(_) => full,
                _ => ApiError::param("file", format!("zip entry {name:?} is corrupt: {e}")),
            })?;
        if copied > budget {
            return Err(ApiError::TooLarge(format!(
                "the zip expands to more than {ZIP_EXPANSION_LIMIT} times the upload limit"
            )));
        }
        budget -= copied;
        if DATASET_EXTENSIONS.iter().any(|e| has_extension(&target, e)) {
            datasets.push(target);
        }
    }
    // A Shapefile's sidecars (.dbf, .prf, .cpg) are not datasets of their own.
    let shapefiles: Vec<&PathBuf> = datasets
        .iter()
        .filter(|p| has_extension(p, "shp"))
        .collect();
    let candidates: Vec<&PathBuf> = if shapefiles.is_empty() {
        datasets.iter().collect()
    } else {
        shapefiles
    };
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ApiError::param(
            "file",
            "the zip holds no .shp, .gpkg, .geojson, .kml, .fgb or .csv file",
        )),
        several => Err(ApiError::param(
            "file",
            format!(
                "the zip holds {} datasets ({}); upload one at a time",
                several.len(),
                several
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
