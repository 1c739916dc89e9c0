//! SHA-256 of a source, to recognise a re-import of unchanged files.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{ImportError, ImportResult};

/// Hash over the files (and, for a Shapefile, its sidecars: same stem, any extension), in order,
/// each preceded by its file name so renames count as changes, and over `reading`: the options
/// that change what is read from them (layer, SQL, CRS, encoding, converter).
pub fn source_checksum(files: &[PathBuf], reading: &str) -> ImportResult<String> {
    let mut hasher = Sha256::new();
    hasher.update(reading.as_bytes());
    for file in files {
        for part in with_sidecars(file) {
            hasher.update(part.file_name().unwrap_or_default().as_encoded_bytes());
            let mut reader = std::fs::File::open(&part).map_err(|e| ImportError::Source {
                path: part.clone(),
                reason: e.to_string(),
            })?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = reader.read(&mut buf).map_err(|e| ImportError::Source {
                    path: part.clone(),
                    reason: e.to_string(),
                })?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn with_sidecars(file: &Path) -> Vec<PathBuf> {
    let is_shp = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("shp"));
    let (Some(dir), Some(stem), true) = (file.parent(), file.file_stem(), is_shp) else {
        return vec![file.to_path_buf()];
    };
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.file_stem() == Some(stem))
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    parts
}
