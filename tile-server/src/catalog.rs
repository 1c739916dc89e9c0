//! The server's view of the layer catalog: one [`SqlTileset`] per layer plus the configured
//! composites resolved against the public ones, swapped whole on every refresh so requests never
//! see a half-updated catalog. Ad-hoc composites (`a,b`) and composites drawn for callers who see
//! non-public layers are built on demand and kept until the next refresh.
//!
//! Every lookup takes the [`Viewer`] it answers: a layer the viewer may not see is reported
//! exactly like a missing one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::read_pools::ReadPools;
use bando_core::access::Viewer;
use bando_core::layer::{Layer, Visibility};

use crate::tiles::composite::CompositeConfig;
use crate::tiles::sources::tile_sql::MvtLayerSpec;
use crate::tiles::sources::{SqlTileset, TileSource, TilesetMeta, whole_layer_input};

/// Most layers an ad-hoc composite may name.
pub const MAX_COMPOSITE_LAYERS: usize = 16;

/// Everything served, as of one catalog load.
#[derive(Debug, Default)]
pub struct Served {
    /// Single-layer tilesets by slug, whatever their visibility.
    pub layers: HashMap<String, Arc<SqlTileset>>,
    /// Configured composites by id, drawn from public layers only.
    pub composites: HashMap<String, Arc<SqlTileset>>,
    /// The non-public layers feeding each configured composite (by composite id; sorted by slug,
    /// each once): a caller who sees none of them gets the public composite without more work.
    pub restricted_inputs: HashMap<String, Vec<Layer>>,
}

/// Immutable snapshot; replaced whole on refresh.
pub type SourceMap = Arc<Served>;

/// Layers and composites served.
#[derive(Debug, Clone)]
pub struct Catalog {
    reads: ReadPools,
    composites: Arc<Vec<CompositeConfig>>,
    served: Arc<RwLock<SourceMap>>,
    ad_hoc: moka::sync::Cache<String, Arc<SqlTileset>>,
    /// Tilesets read from files (PMTiles), by id.
    files: Arc<RwLock<HashMap<String, Arc<dyn TileSource>>>>,
}

/// Why an ad-hoc composite cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompositeError {
    /// Too many or repeated layers.
    Malformed(String),
    /// A named layer does not exist (or is not visible).
    Unknown(String),
}

impl Catalog {
    /// An empty catalog read from the primary of `reads` (its tiles from wherever `reads` says)
    /// with the given composite definitions; call [`Catalog::refresh`] to load it.
    pub fn new(reads: ReadPools, composites: Vec<CompositeConfig>) -> Self {
        Self {
            reads,
            composites: Arc::new(composites),
            served: Arc::default(),
            ad_hoc: moka::sync::Cache::new(256),
            files: Arc::default(),
        }
    }

    /// Serves a tileset read from a file under its id.
    pub fn add_file_tileset(&self, tileset: Arc<dyn TileSource>) {
        self.files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tileset.id().to_owned(), tileset);
    }

    /// Reloads every layer from the database. Returns the layers whose revision changed, that
    /// appeared or that went away.
    pub async fn refresh(&self) -> Result<Vec<String>, bando_core::CoreError> {
        let layers = bando_core::catalog::list_layers(self.reads.primary()).await?;
        Ok(self.replace(layers))
    }

    /// Replaces the served layers with `layers`; returns the layers whose revision, owner,
    /// visibility, zooms, layout, level or validity changed, that appeared or that went away.
    pub fn replace(&self, layers: Vec<Layer>) -> Vec<String> {
        let old = self.snapshot();
        let visible: HashMap<String, Layer> =
            layers.into_iter().map(|l| (l.slug.clone(), l)).collect();
        let public: HashMap<String, Layer> = visible
            .iter()
            .filter(|(_, l)| l.visibility == Visibility::Public)
            .map(|(s, l)| (s.clone(), l.clone()))
            .collect();
        let mut changed: Vec<String> = visible
            .values()
            .filter(|l| {
                old.layers.get(&l.slug).is_none_or(|s| {
                    let was = s.layer();
                    // Layout, validity and level decide ward lookups; zooms, what is served.
                    was.revision != l.revision
                        || was.visibility != l.visibility
                        || was.agency != l.agency
                        || was.layout != l.layout
                        || was.valid_from != l.valid_from
                        || was.valid_to != l.valid_to
                        || was.admin_level != l.admin_level
                        || was.minzoom != l.minzoom
                        || was.maxzoom != l.maxzoom
                })
            })
            .map(|l| l.slug.clone())
            .collect();
        changed.extend(
            old.layers
                .keys()
                .filter(|slug| !visible.contains_key(*slug))
                .cloned(),
        );
        let composites = self
            .composites
            .iter()
            .map(|c| {
                let tileset = SqlTileset::new(c.meta(), c.resolve(&public), self.reads.clone());
                (c.id.clone(), Arc::new(tileset))
            })
            .collect();
        let restricted_inputs = self
            .composites
            .iter()
            .map(|c| {
                let mut restricted: Vec<Layer> = c
                    .layers
                    .iter()
                    .flat_map(|l| &l.inputs)
                    .filter_map(|input| visible.get(&input.source))
                    .filter(|l| l.visibility != Visibility::Public)
                    .cloned()
                    .collect();
                restricted.sort_unstable_by(|a, b| a.slug.cmp(&b.slug));
                restricted.dedup_by(|a, b| a.slug == b.slug);
                (c.id.clone(), restricted)
            })
            .collect();
        let layers = visible
            .into_values()
            .map(|l| {
                (
                    l.slug.clone(),
                    Arc::new(SqlTileset::single(l, self.reads.clone())),
                )
            })
            .collect();
        *self
            .served
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Served {
            layers,
            composites,
            restricted_inputs,
        });
        self.ad_hoc.invalidate_all();
        changed
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> SourceMap {
        self.served
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// One layer's tileset by slug, if `viewer` may see it.
    pub fn get(&self, slug: &str, viewer: &Viewer) -> Option<Arc<SqlTileset>> {
        self.snapshot()
            .layers
            .get(slug)
            .filter(|t| viewer.can_see(t.layer()))
            .cloned()
    }

    /// One layer's tileset by slug, whoever asks: for the server's own bookkeeping only.
    pub fn get_unchecked(&self, slug: &str) -> Option<Arc<SqlTileset>> {
        self.snapshot().layers.get(slug).cloned()
    }

    /// Any tileset by URL id, as `viewer` may see it: a configured composite (without the layers
    /// the viewer may not see), a file, an ad-hoc composite `a,b,…`, or a layer.
    pub fn tileset(
        &self,
        id: &str,
        viewer: &Viewer,
    ) -> Result<Arc<dyn TileSource>, CompositeError> {
        let served = self.snapshot();
        if let Some(composite) = served.composites.get(id) {
            return Ok(self.composite_for(&served, id, composite, viewer));
        }
        if let Some(file) = self
            .files
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
        {
            return Ok(file.clone());
        }
        if !id.contains(',') {
            return served
                .layers
                .get(id)
                .filter(|t| viewer.can_see(t.layer()))
                .cloned()
                .map(|t| t as Arc<dyn TileSource>)
                .ok_or_else(|| CompositeError::Unknown(id.to_owned()));
        }
        let slugs: Vec<&str> = id.split(',').collect();
        // Access first: a cached composite is shared by everyone who may see all its layers.
        if let Some(hidden) = slugs.iter().find(|slug| {
            served
                .layers
                .get(**slug)
                .is_none_or(|t| !viewer.can_see(t.layer()))
        }) && slugs.len() <= MAX_COMPOSITE_LAYERS
        {
            return Err(CompositeError::Unknown((*hidden).to_owned()));
        }
        if let Some(tileset) = self.ad_hoc.get(id) {
            return Ok(tileset);
        }
        if slugs.len() > MAX_COMPOSITE_LAYERS {
            return Err(CompositeError::Malformed(format!(
                "at most {MAX_COMPOSITE_LAYERS} layers may be combined, not {}",
                slugs.len()
            )));
        }
        let mut specs = Vec::with_capacity(slugs.len());
        let (mut minzoom, mut maxzoom) = (u8::MAX, 0u8);
        for (i, slug) in slugs.iter().enumerate() {
            if slugs[..i].contains(slug) {
                return Err(CompositeError::Malformed(format!(
                    "layer {slug:?} is named twice"
                )));
            }
            let layer = served
                .layers
                .get(*slug)
                .ok_or_else(|| CompositeError::Unknown((*slug).to_owned()))?
                .layer()
                .clone();
            let clamp = |z: i16| u8::try_from(z.clamp(0, 24)).unwrap_or(0);
            let (min, max) = (clamp(layer.minzoom), clamp(layer.maxzoom));
            minzoom = minzoom.min(min);
            maxzoom = maxzoom.max(max);
            specs.push(MvtLayerSpec {
                name: layer.slug.clone(),
                inputs: vec![whole_layer_input(layer, min, max)],
            });
        }
        let titles: Vec<&str> = specs
            .iter()
            .map(|s| s.inputs[0].layer.title.as_str())
            .collect();
        let attribution: Vec<&str> = specs
            .iter()
            .map(|s| s.inputs[0].layer.attribution.as_str())
            .filter(|a| !a.is_empty())
            .collect();
        let meta = TilesetMeta {
            id: id.to_owned(),
            title: titles.join(" + "),
            description: String::new(),
            attribution: attribution.join("; "),
            minzoom,
            maxzoom,
        };
        let tileset = Arc::new(SqlTileset::new(meta, specs, self.reads.clone()));
        self.ad_hoc.insert(id.to_owned(), tileset.clone());
        Ok(tileset)
    }

    /// A configured composite as `viewer` sees it: the public one, or — when the viewer may see
    /// some of its non-public inputs — one drawn with those too, cached apart as
    /// `<id>@<layer>+<layer>`.
    fn composite_for(
        &self,
        served: &Served,
        id: &str,
        public: &Arc<SqlTileset>,
        viewer: &Viewer,
    ) -> Arc<dyn TileSource> {
        let extra: Vec<&str> = served
            .restricted_inputs
            .get(id)
            .into_iter()
            .flatten()
            .filter(|l| viewer.can_see(l))
            .map(|l| l.slug.as_str())
            .collect();
        if extra.is_empty() {
            return public.clone();
        }
        let Some(config) = self.composites.iter().find(|c| c.id == id) else {
            return public.clone();
        };
        let variant = format!("{id}@{}", extra.join("+"));
        if let Some(tileset) = self.ad_hoc.get(&variant) {
            return tileset;
        }
        let layers: HashMap<String, Layer> = served
            .layers
            .values()
            .map(|t| t.layer())
            .filter(|l| l.visibility == Visibility::Public || extra.contains(&l.slug.as_str()))
            .map(|l| (l.slug.clone(), l.clone()))
            .collect();
        let tileset = Arc::new(
            SqlTileset::new(config.meta(), config.resolve(&layers), self.reads.clone())
                .cached_as(&variant),
        );
        self.ad_hoc.insert(variant, tileset.clone());
        tileset
    }

    /// Ids of the configured composites fed by `slug` (whether or not it is published now).
    pub fn composites_drawing(&self, slug: &str) -> Vec<String> {
        self.composites
            .iter()
            .filter(|c| {
                c.layers
                    .iter()
                    .flat_map(|l| &l.inputs)
                    .any(|i| i.source == slug)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// The catalog entry of one layer, if `viewer` may see it.
    pub fn layer(&self, slug: &str, viewer: &Viewer) -> Option<Layer> {
        self.get(slug, viewer).map(|s| s.layer().clone())
    }

    /// Catalog entries of the layers `viewer` may see, by slug.
    pub fn layers(&self, viewer: &Viewer) -> Vec<Layer> {
        let mut layers = self.all_layers();
        layers.retain(|l| viewer.can_see(l));
        layers
    }

    /// Catalog entries of every layer, whoever may see them (for indexes the server keeps).
    pub fn all_layers(&self) -> Vec<Layer> {
        let mut layers: Vec<Layer> = self
            .snapshot()
            .layers
            .values()
            .map(|s| s.layer().clone())
            .collect();
        layers.sort_by(|a, b| a.slug.cmp(&b.slug));
        layers
    }
}
