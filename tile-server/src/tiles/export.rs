//! Export: every tile of a tileset over a bounding box and zoom range, built exactly as the server
//! builds it, written to a PMTiles v3 archive (gzip tiles, Hilbert order, deduplicated) for offline
//! use. The archive is written beside the target and renamed into place when complete, so a
//! failed export never leaves a truncated file.

use std::path::{Path, PathBuf};

use bando_core::tile::TileCoord;
use futures::StreamExt;
use pmtiles::{Compression, PmTilesWriter, TileType};

use crate::tiles::sources::TileSource;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request does not fit the tileset.
    #[error("{0}")]
    Invalid(String),
    /// A tile could not be built.
    #[error("building tile {tile}: {reason}")]
    Tile {
        /// The tile.
        tile: TileCoord,
        /// Why.
        reason: String,
    },
    /// Writing the archive failed.
    #[error("writing {path}: {reason}")]
    Write {
        /// The archive.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// WGS84 west, south, east, north.
    pub bbox: [f64; 4],
    /// First zoom.
    pub minzoom: u8,
    /// Last zoom.
    pub maxzoom: u8,
    /// Tiles built at once.
    pub concurrency: usize,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    /// Tiles visited.
    pub tiles: u64,
    /// Tiles holding features (written).
    pub written: u64,
    /// Archive size in bytes.
    pub bytes: u64,
}

/// The tiles of `bbox` at zooms `minzoom..=maxzoom`, in PMTiles (Hilbert) order.
pub fn tiles_in(request: &ExportRequest) -> Result<Vec<TileCoord>, ExportError> {
    let [west, south, east, north] = request.bbox;
    let valid = west < east
        && south < north
        && (-180.0..=180.0).contains(&west)
        && (-180.0..=180.0).contains(&east)
        && (-90.0..=90.0).contains(&south)
        && (-90.0..=90.0).contains(&north);
    if !valid {
        return Err(ExportError::Invalid(format!(
            "bbox {:?} is not west,south,east,north in degrees with west < east and south < north",
            request.bbox
        )));
    }
    let mut tiles = Vec::new();
    for z in request.minzoom..=request.maxzoom {
        let invalid = |e: bando_core::CoreError| ExportError::Invalid(e.to_string());
        let top_left = TileCoord::containing(west, north, z).map_err(invalid)?;
        // The east/south edges are exclusive: a bbox ending on a tile edge does not take the next.
        let bottom_right = TileCoord::containing(east - 1e-9, south + 1e-9, z).map_err(invalid)?;
        for x in top_left.x..=bottom_right.x {
            for y in top_left.y..=bottom_right.y {
                tiles.push(TileCoord { z, x, y });
            }
        }
    }
    // Tiles checked by TileCoord are valid PMTiles addresses too.
    tiles.sort_by_key(|t| {
        pmtiles::TileCoord::new(t.z, t.x, t.y)
            .map_or(u64::MAX, |c| pmtiles::TileId::from(c).value())
    });
    Ok(tiles)
}

/// Writes the tiles of `source` to `path`; `progress(done, total)` is called as tiles complete.
pub async fn export_pmtiles(
    source: &dyn TileSource,
    request: &ExportRequest,
    path: &Path,
    progress: impl Fn(u64, u64),
) -> Result<ExportSummary, ExportError> {
    let (minzoom, maxzoom) = source.zoom_range();
    if request.minzoom > request.maxzoom || request.minzoom < minzoom || request.maxzoom > maxzoom {
        return Err(ExportError::Invalid(format!(
            "zooms {}..={} are not within the tileset's {minzoom}..={maxzoom}",
            request.minzoom, request.maxzoom
        )));
    }
    let tiles = tiles_in(request)?;
    let total = tiles.len() as u64;
    let info = source.info();
    let write_error = |reason: String| ExportError::Write {
        path: path.to_owned(),
        reason,
    };
    let partial = path.with_extension("pmtiles.partial");
    let file = std::fs::File::create(&partial).map_err(|e| write_error(e.to_string()))?;
    let [west, south, east, north] = request.bbox;
    let metadata = serde_json::json!({
        "name": info.meta.title, "description": info.meta.description, "attribution": info.meta.attribution,
        "version": format!("{}.0.0", info.revision), "type": "baselayer", "format": "pbf",
        "generator": concat!("bando ", env!("CARGO_PKG_VERSION")),
        "vector_layers": info.vector_layers.iter().map(|l| serde_json::json!({
            "id": l.id, "fields": l.fields, "description": l.description,
            "minzoom": l.minzoom.max(request.minzoom), "maxzoom": l.maxzoom.min(request.maxzoom),
        })).collect::<Vec<_>>(),
    });
    let mut writer = PmTilesWriter::new(TileType::Mvt)
        .tile_compression(Compression::Gzip)
        .min_zoom(request.minzoom)
        .max_zoom(request.maxzoom)
        .bounds(west, south, east, north)
        .center((west + east) / 2.0, (south + north) / 2.0)
        .center_zoom(request.minzoom.max(12.min(request.maxzoom)))
        .metadata(&metadata.to_string())
        .create(std::io::BufWriter::new(file))
        .map_err(|e| write_error(e.to_string()))?;

    let mut built = futures::stream::iter(tiles)
        .map(|tile| async move { (tile, source.tile(tile).await) })
        .buffered(request.concurrency.max(1));
    let (mut done, mut written) = (0u64, 0u64);
    let result = async {
        while let Some((tile, bytes)) = built.next().await {
            let bytes = bytes.map_err(|e| ExportError::Tile {
                tile,
                reason: e.to_string(),
            })?;
            if !bytes.is_empty() {
                let address = pmtiles::TileCoord::new(tile.z, tile.x, tile.y)
                    .map_err(|e| write_error(e.to_string()))?;
                writer
                    .add_tile(address, &bytes)
                    .map_err(|e| write_error(e.to_string()))?;
                written += 1;
            }
            done += 1;
            progress(done, total);
        }
        writer.finalize().map_err(|e| write_error(e.to_string()))
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, path).map_err(|e| write_error(e.to_string()))?;
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    Ok(ExportSummary {
        tiles: total,
        written,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_bbox_and_reject_bad_ones() {
        let request = ExportRequest {
            bbox: [106.66, 10.75, 106.72, 10.80],
            minzoom: 10,
            maxzoom: 12,
            concurrency: 1,
        };
        let tiles = tiles_in(&request).unwrap();
        assert!(tiles.iter().any(|t| t.z == 10) && tiles.iter().any(|t| t.z == 12));
        let market = TileCoord::containing(106.6981, 10.7725, 12).unwrap();
        assert!(tiles.contains(&market));
        for bad in [[106.72, 10.75, 106.66, 10.80], [106.0, 95.0, 107.0, 96.0]] {
            assert!(
                tiles_in(&ExportRequest {
                    bbox: bad,
                    ..request.clone()
                })
                .is_err()
            );
        }
    }
}
