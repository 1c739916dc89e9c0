//! Uploaded files on their way to an import: which names are accepted as they are, and the
//! storage errors of receiving them. The server never opens an upload's content with GDAL: a
//! zip's directory is listed here (`bando_importers::archive`, safe Rust, nothing unpacked) so
//! a bomb or a zip without one dataset is refused at once; unpacking and reading happen in the
//! job's confined reader process.

use std::path::Path as FsPath;

use crate::error::ApiError;

/// Whether a file named `path` may be uploaded as it is (not zipped): a format of
/// `bando_importers::drivers` that needs no sidecar files (a Shapefile or MapInfo table comes
/// zipped with its `.shx`/`.dbf` or `.map`/`.dat`).
pub fn accepted_alone(path: &FsPath) -> bool {
    bando_importers::drivers::for_path(path).is_some()
        && !["shp", "dbf", "tab"].iter().any(|e| has_extension(path, e))
}

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
