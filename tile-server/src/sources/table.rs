//! A catalog layer table served as one MVT layer, built by PostGIS.

use bando_core::layer::{Layer, quote_ident};
use bando_core::tile::TileCoord;
use bytes::Bytes;
use futures::future::BoxFuture;
use sqlx::PgPool;

use super::TileSource;
use crate::error::ApiResult;

/// A layer table; its SQL is built once, when the catalog is loaded.
#[derive(Debug, Clone)]
pub struct TableSource {
    layer: Layer,
    /// Tile SQL per geometry column, lowest zoom first: `(highest zoom it serves, sql)`.
    sql_by_zoom: Vec<(u8, String)>,
    pool: PgPool,
}

impl TableSource {
    /// The source of a catalog layer.
    pub fn new(layer: Layer, pool: PgPool) -> Self {
        let columns: String = layer
            .fields
            .iter()
            .map(|f| format!(", {}", quote_ident(&f.name)))
            .collect();
        let template = include_str!("../sql/table_tile.sql")
            .replace("{columns}", &columns)
            .replace("{table}", &layer.qualified_table());
        let mut sql_by_zoom = Vec::new();
        if layer.generalized {
            for zoom in [5u8, 8, 10] {
                let column = quote_ident(&format!("geom_z{zoom}"));
                sql_by_zoom.push((zoom, template.replace("{geometry}", &column)));
            }
        }
        sql_by_zoom.push((u8::MAX, template.replace("{geometry}", "geom_3857")));
        Self {
            layer,
            sql_by_zoom,
            pool,
        }
    }

    /// The tile SQL for zoom `z`: the most generalised geometry still right for it.
    fn sql_for(&self, z: u8) -> &str {
        self.sql_by_zoom
            .iter()
            .find(|(up_to, _)| z <= *up_to)
            .map_or("", |(_, sql)| sql.as_str())
    }

    /// The catalog entry.
    pub fn layer(&self) -> &Layer {
        &self.layer
    }
}

impl TileSource for TableSource {
    fn id(&self) -> &str {
        &self.layer.slug
    }

    fn version(&self) -> i32 {
        self.layer.version
    }

    fn zoom_range(&self) -> (u8, u8) {
        let clamp = |z: i16| u8::try_from(z.clamp(0, 24)).unwrap_or(0);
        (clamp(self.layer.minzoom), clamp(self.layer.maxzoom))
    }

    fn tile(&self, coord: TileCoord) -> BoxFuture<'_, ApiResult<Bytes>> {
        Box::pin(async move {
            // x and y are below 2^24 (TileCoord checks z ≤ 24), so they fit in PostgreSQL's integer.
            let bytes: Option<Vec<u8>> = sqlx::query_scalar(self.sql_for(coord.z))
                .bind(i32::from(coord.z))
                .bind(i32::try_from(coord.x).unwrap_or(i32::MAX))
                .bind(i32::try_from(coord.y).unwrap_or(i32::MAX))
                .bind(&self.layer.slug)
                .fetch_one(&self.pool)
                .await?;
            Ok(Bytes::from(bytes.unwrap_or_default()))
        })
    }
}
