//! A tileset built by PostGIS from catalog layer tables: one layer on its own (MVT layer named
//! after its slug, every attribute), an ad-hoc composite of several (`a,b`), or a configured
//! composite such as the base map. Its SQL is generated once per zoom when the catalog loads.

use std::collections::BTreeMap;
use std::sync::Arc;

use bando_core::cancel_on_drop::CancelOnDrop;
use bando_core::layer::{FieldKind, Layer, Visibility};
use bando_core::tile::TileCoord;
use bytes::Bytes;
use futures::future::BoxFuture;

use super::tile_sql::{
    Bind, GeometryMode, InputSpec, MvtLayerSpec, Property, PropertyValue, TileQuery, tile_query,
};
use super::{TileSource, TilesetInfo, TilesetMeta, VectorLayerInfo};
use crate::error::ApiResult;
use crate::read_pools::{ReadFrom, ReadPools};
use crate::tiles::cache::BuiltTile;

/// Most features one MVT layer of a tile may hold; above it the lowest-priority ones are left out
/// (and a warning logged).
pub const FEATURE_CAP: u32 = 50_000;
/// A tile above this size is logged: it is too heavy for a phone on a mobile network.
pub const TILE_BYTES_WARNING: usize = 500 * 1024;

/// A tileset of PostGIS layer tables.
#[derive(Debug, Clone)]
pub struct SqlTileset {
    meta: TilesetMeta,
    shared_id: Arc<str>,
    layers: Vec<MvtLayerSpec>,
    /// Query per zoom `0..=maxzoom`; `None` where nothing is drawn.
    queries: Vec<Option<TileQuery>>,
    revision: i64,
    public: bool,
    reads: ReadPools,
}

impl SqlTileset {
    /// A tileset of `layers`.
    pub fn new(meta: TilesetMeta, layers: Vec<MvtLayerSpec>, reads: ReadPools) -> Self {
        let queries = (0..=meta.maxzoom)
            .map(|z| tile_query(&layers, z, FEATURE_CAP))
            .collect();
        let revision = layers
            .iter()
            .flat_map(|l| &l.inputs)
            .map(|i| i.layer.revision)
            .max()
            .unwrap_or(0);
        let public = layers
            .iter()
            .flat_map(|l| &l.inputs)
            .all(|i| i.layer.visibility == Visibility::Public);
        Self {
            public,
            shared_id: Arc::from(meta.id.as_str()),
            meta,
            layers,
            queries,
            revision,
            reads,
        }
    }

    /// One catalog layer on its own: an MVT layer named after the slug with every attribute.
    pub fn single(layer: Layer, reads: ReadPools) -> Self {
        let clamp = |z: i16| u8::try_from(z.clamp(0, 24)).unwrap_or(0);
        let (minzoom, maxzoom) = (clamp(layer.minzoom), clamp(layer.maxzoom));
        let meta = TilesetMeta {
            id: layer.slug.clone(),
            title: layer.title.clone(),
            description: layer.description.clone(),
            attribution: layer.attribution.clone(),
            minzoom,
            maxzoom,
        };
        let spec = MvtLayerSpec {
            name: layer.slug.clone(),
            inputs: vec![whole_layer_input(layer, minzoom, maxzoom)],
        };
        Self::new(meta, vec![spec], reads)
    }

    /// The same tileset cached under `cache_id`: a composite drawn with layers only some callers
    /// may see is cached apart from the public one.
    #[must_use]
    pub fn cached_as(mut self, cache_id: &str) -> Self {
        self.shared_id = Arc::from(cache_id);
        self
    }

    /// The only catalog layer of a single-layer tileset (built by [`SqlTileset::single`]).
    pub fn layer(&self) -> &Layer {
        &self.layers[0].inputs[0].layer
    }
}

/// Every attribute of `layer`, as it is, in its own MVT layer.
pub fn whole_layer_input(layer: Layer, minzoom: u8, maxzoom: u8) -> InputSpec {
    InputSpec {
        properties: layer
            .fields
            .iter()
            .map(|f| Property {
                name: f.name.clone(),
                value: PropertyValue::Column(f.name.clone(), f.kind),
            })
            .collect(),
        layer,
        minzoom,
        maxzoom,
        filter: None,
        exclude: None,
        outside: None,
        geometry: GeometryMode::Native,
        priority: None,
    }
}

impl TileSource for SqlTileset {
    fn id(&self) -> &str {
        &self.meta.id
    }

    fn public(&self) -> bool {
        self.public
    }

    fn shared_id(&self) -> Arc<str> {
        self.shared_id.clone()
    }

    fn revision(&self) -> i64 {
        self.revision
    }

    fn zoom_range(&self) -> (u8, u8) {
        (self.meta.minzoom, self.meta.maxzoom)
    }

    fn draws_layer(&self, slug: &str) -> bool {
        self.layers
            .iter()
            .flat_map(|l| &l.inputs)
            .any(|i| i.layer.slug == slug)
    }

    fn info(&self) -> TilesetInfo {
        let mut bounds: Option<[f64; 4]> = None;
        for input in self.layers.iter().flat_map(|l| &l.inputs) {
            if let Some(b) = input
                .layer
                .bounds
                .as_deref()
                .and_then(|b| <[f64; 4]>::try_from(b).ok())
            {
                bounds = Some(bounds.map_or(b, |a| {
                    [
                        a[0].min(b[0]),
                        a[1].min(b[1]),
                        a[2].max(b[2]),
                        a[3].max(b[3]),
                    ]
                }));
            }
        }
        let vector_layers = self
            .layers
            .iter()
            .map(|l| {
                let mut fields = BTreeMap::new();
                for p in l.inputs.iter().flat_map(|i| &i.properties) {
                    let kind = match &p.value {
                        PropertyValue::Column(_, kind) => *kind,
                        PropertyValue::Constant(_) => FieldKind::String,
                    };
                    fields
                        .entry(p.name.clone())
                        .and_modify(|k: &mut FieldKind| {
                            if *k != kind {
                                *k = FieldKind::String;
                            }
                        })
                        .or_insert(kind);
                }
                VectorLayerInfo {
                    id: l.name.clone(),
                    fields,
                    description: l
                        .inputs
                        .iter()
                        .map(|i| i.layer.title.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    minzoom: l
                        .inputs
                        .iter()
                        .map(|i| i.minzoom)
                        .min()
                        .unwrap_or(self.meta.minzoom),
                    maxzoom: l
                        .inputs
                        .iter()
                        .map(|i| i.maxzoom)
                        .max()
                        .unwrap_or(self.meta.maxzoom),
                }
            })
            .collect();
        TilesetInfo {
            meta: self.meta.clone(),
            bounds,
            revision: self.revision,
            vector_layers,
        }
    }

    fn build(&self, coord: TileCoord, from: ReadFrom) -> BoxFuture<'_, ApiResult<BuiltTile>> {
        Box::pin(async move {
            let Some(Some(query)) = self.queries.get(usize::from(coord.z)) else {
                return Ok(BuiltTile::default());
            };
            // x and y are below 2^24 (TileCoord checks z ≤ 24), so they fit in PostgreSQL's integer.
            let mut statement =
                sqlx::query_as::<_, (Option<Vec<u8>>, Option<i64>, Option<Vec<i64>>)>(&query.sql)
                    .bind(i32::from(coord.z))
                    .bind(i32::try_from(coord.x).unwrap_or(i32::MAX))
                    .bind(i32::try_from(coord.y).unwrap_or(i32::MAX));
            for bind in &query.binds {
                statement = match bind {
                    Bind::Text(text) => statement.bind(text),
                    Bind::TextArray(values) => statement.bind(values),
                };
            }
            let pool = self.reads.pick(from);
            // A client that leaves mid-query takes the query with it (see `cancel_on_drop`).
            let mut connection = CancelOnDrop::acquire(pool).await?;
            let result = statement.fetch_one(connection.connection()).await;
            connection.finish();
            let (bytes, most, revisions) = result?;
            let stamps = query
                .layers
                .iter()
                .zip(revisions.unwrap_or_default())
                .map(|(slug, revision)| (Arc::from(slug.as_str()), revision))
                .collect();
            let bytes = bytes.unwrap_or_default();
            if most.unwrap_or(0) >= i64::from(FEATURE_CAP) {
                tracing::warn!(tileset = %self.meta.id, tile = %coord, cap = FEATURE_CAP,
                    "feature cap reached: lowest-priority features left out of this tile");
            }
            if bytes.len() > TILE_BYTES_WARNING {
                tracing::warn!(tileset = %self.meta.id, tile = %coord, bytes = bytes.len(),
                    limit = TILE_BYTES_WARNING, "tile above the size limit");
            }
            Ok(BuiltTile {
                raw: Bytes::from(bytes),
                stamps,
            })
        })
    }
}
