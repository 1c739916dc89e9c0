//! Tile sources: anything that can produce the MVT bytes of a tile. The server routes, caches and
//! encodes; a source only builds tiles and describes itself.

mod pmtiles_file;
mod sql_tileset;
pub mod tile_sql;

use std::collections::BTreeMap;

use bando_core::layer::FieldKind;
use bando_core::tile::TileCoord;
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::error::ApiResult;
use crate::read_pools::ReadFrom;
use crate::tiles::cache::BuiltTile;

pub use pmtiles_file::PmtilesFile;
pub use sql_tileset::{FEATURE_CAP, SqlTileset, TILE_BYTES_WARNING, whole_layer_input};

/// A tileset the server can serve.
pub trait TileSource: Send + Sync + std::fmt::Debug {
    /// Tileset id, as in the URL.
    fn id(&self) -> &str;
    /// The id shared, for cache keys (overridden to avoid an allocation per request).
    fn shared_id(&self) -> std::sync::Arc<str> {
        std::sync::Arc::from(self.id())
    }
    /// Content revision; tile URLs carry it so clients may cache them as immutable.
    fn revision(&self) -> i64;
    /// Zoom range served.
    fn zoom_range(&self) -> (u8, u8);
    /// Whether every layer drawn is public (its tiles may be kept by shared HTTP caches).
    fn public(&self) -> bool {
        true
    }
    /// Whether the catalog layer `slug` feeds this tileset (its changes make tiles stale).
    fn draws_layer(&self, slug: &str) -> bool;
    /// What TileJSON and catalogs say about it.
    fn info(&self) -> TilesetInfo;
    /// The tile (uncompressed MVT, empty when it has no feature) and the revisions it shows,
    /// read where `from` allows.
    fn build(&self, coord: TileCoord, from: ReadFrom) -> BoxFuture<'_, ApiResult<BuiltTile>>;

    /// The tile's MVT bytes (uncompressed); empty when the tile has no feature.
    fn tile(&self, coord: TileCoord) -> BoxFuture<'_, ApiResult<Bytes>> {
        let built = self.build(coord, ReadFrom::AnyCurrent);
        Box::pin(async move { built.await.map(|b| b.raw) })
    }
}

/// Descriptive values of a tileset.
#[derive(Debug, Clone)]
pub struct TilesetMeta {
    /// Id as in URLs.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Attribution HTML.
    pub attribution: String,
    /// Zoom range (tiles outside answer 404).
    pub minzoom: u8,
    /// Zoom range.
    pub maxzoom: u8,
}

/// Description of a tileset.
#[derive(Debug, Clone)]
pub struct TilesetInfo {
    /// Id, titles, zooms.
    pub meta: TilesetMeta,
    /// WGS84 extent, when known.
    pub bounds: Option<[f64; 4]>,
    /// Content revision.
    pub revision: i64,
    /// MVT layers.
    pub vector_layers: Vec<VectorLayerInfo>,
}

/// One MVT layer of a tileset.
#[derive(Debug, Clone)]
pub struct VectorLayerInfo {
    /// Layer name.
    pub id: String,
    /// Properties and their types.
    pub fields: BTreeMap<String, FieldKind>,
    /// Description.
    pub description: String,
    /// Zoom range.
    pub minzoom: u8,
    /// Zoom range.
    pub maxzoom: u8,
}
