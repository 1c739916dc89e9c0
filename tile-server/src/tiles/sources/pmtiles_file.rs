//! A PMTiles v3 archive served as a tileset (for instance one written by `bando export`), read
//! through a memory map. Its id is the file name without extension.

use std::path::Path;

use bando_core::layer::FieldKind;
use bando_core::tile::TileCoord;
use futures::future::BoxFuture;
use pmtiles::{AsyncPmTilesReader, MmapBackend, NoCache, TileType};

use super::{TileSource, TilesetInfo, TilesetMeta, VectorLayerInfo};
use crate::error::{ApiError, ApiResult};
use crate::read_pools::ReadFrom;
use crate::tiles::cache::BuiltTile;

/// A PMTiles archive of vector tiles.
pub struct PmtilesFile {
    reader: AsyncPmTilesReader<MmapBackend, NoCache>,
    info: TilesetInfo,
}

impl std::fmt::Debug for PmtilesFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmtilesFile")
            .field("id", &self.info.meta.id)
            .finish()
    }
}

impl PmtilesFile {
    /// Opens `path`; fails when it is not a PMTiles archive of MVT tiles.
    pub async fn open(path: &Path) -> Result<Self, String> {
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: no file name", path.display()))?;
        let reader = AsyncPmTilesReader::new_with_path(path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let header = reader.get_header();
        if header.tile_type != TileType::Mvt {
            return Err(format!(
                "{}: holds {:?} tiles, not MVT",
                path.display(),
                header.tile_type
            ));
        }
        let metadata: serde_json::Value = reader
            .get_metadata()
            .await
            .ok()
            .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok())
            .unwrap_or_default();
        let text = |key: &str| metadata[key].as_str().unwrap_or_default().to_owned();
        let vector_layers = metadata["vector_layers"]
            .as_array()
            .map(|layers| layers.iter().filter_map(vector_layer).collect())
            .unwrap_or_default();
        // The file's modification time distinguishes its versions in tile URLs.
        let revision = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let info = TilesetInfo {
            meta: TilesetMeta {
                title: Some(text("name"))
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| id.clone()),
                id,
                description: text("description"),
                attribution: text("attribution"),
                minzoom: header.min_zoom,
                maxzoom: header.max_zoom,
            },
            bounds: Some([
                header.min_longitude,
                header.min_latitude,
                header.max_longitude,
                header.max_latitude,
            ]),
            revision,
            vector_layers,
        };
        Ok(Self { reader, info })
    }
}

fn vector_layer(value: &serde_json::Value) -> Option<VectorLayerInfo> {
    let zoom = |key: &str| value[key].as_u64().and_then(|z| u8::try_from(z).ok());
    Some(VectorLayerInfo {
        id: value["id"].as_str()?.to_owned(),
        fields: value["fields"]
            .as_object()
            .map(|fields| {
                fields
                    .iter()
                    .map(|(name, kind)| {
                        let kind = match kind.as_str() {
                            Some("Number") => FieldKind::Number,
                            Some("Boolean") => FieldKind::Boolean,
                            _ => FieldKind::String,
                        };
                        (name.clone(), kind)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        description: value["description"].as_str().unwrap_or_default().to_owned(),
        minzoom: zoom("minzoom").unwrap_or(0),
        maxzoom: zoom("maxzoom").unwrap_or(24),
    })
}

impl TileSource for PmtilesFile {
    fn id(&self) -> &str {
        &self.info.meta.id
    }

    fn revision(&self) -> i64 {
        self.info.revision
    }

    fn zoom_range(&self) -> (u8, u8) {
        (self.info.meta.minzoom, self.info.meta.maxzoom)
    }

    fn draws_layer(&self, _slug: &str) -> bool {
        false
    }

    fn info(&self) -> TilesetInfo {
        self.info.clone()
    }

    /// A file changes with no catalog revision: its tiles carry no stamps.
    fn build(&self, coord: TileCoord, _from: ReadFrom) -> BoxFuture<'_, ApiResult<BuiltTile>> {
        Box::pin(async move {
            let address = pmtiles::TileCoord::new(coord.z, coord.x, coord.y)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let tile = self
                .reader
                .get_tile_decompressed(address)
                .await
                .map_err(|e| ApiError::Internal(format!("{}: {e}", self.info.meta.id)))?;
            Ok(BuiltTile {
                raw: tile.unwrap_or_default(),
                stamps: Default::default(),
            })
        })
    }
}
