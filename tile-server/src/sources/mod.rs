//! Tile sources: anything that can produce the MVT bytes of a tile. The server routes, caches and
//! encodes; a source only builds tiles.

mod table;

use bando_core::tile::TileCoord;
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::error::ApiResult;

pub use table::TableSource;

/// A tileset the server can serve.
pub trait TileSource: Send + Sync {
    /// Tileset id, as in the URL.
    fn id(&self) -> &str;
    /// Version of the data; part of cache keys and tile URLs.
    fn version(&self) -> i32;
    /// Zoom range served.
    fn zoom_range(&self) -> (u8, u8);
    /// The tile's MVT bytes (uncompressed); empty when the tile has no feature.
    fn tile(&self, coord: TileCoord) -> BoxFuture<'_, ApiResult<Bytes>>;
}
