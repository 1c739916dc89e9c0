//! Configured composite tilesets (the base map): which catalog layers feed which MVT layer, at
//! which zooms, with which properties. Read from TOML (`styles/basemap.toml` is built in) and
//! resolved against the catalog each time it changes: inputs whose layer is missing are skipped,
//! properties naming a missing column are left out (both logged).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use bando_core::layer::Layer;
use serde::Deserialize;

use crate::config::ConfigError;
use crate::tiles::sources::TilesetMeta;
use crate::tiles::sources::tile_sql::{
    Filter, GeometryMode, InputSpec, MvtLayerSpec, Property, PropertyValue,
};

/// The built-in base map definition.
pub const BUILTIN_BASEMAP: &str = include_str!("../../../styles/basemap.toml");

/// A composite tileset definition, as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeConfig {
    /// Tileset id in URLs.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Attribution.
    #[serde(default)]
    pub attribution: String,
    /// Zoom range.
    #[serde(default)]
    pub minzoom: u8,
    /// Zoom range.
    #[serde(default = "default_maxzoom")]
    pub maxzoom: u8,
    /// MVT layers, drawn in this order.
    #[serde(rename = "layer")]
    pub layers: Vec<LayerConfig>,
}

fn default_maxzoom() -> u8 {
    16
}

/// One MVT layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    /// Name in the tile.
    pub name: String,
    /// Catalog layers feeding it.
    #[serde(rename = "input")]
    pub inputs: Vec<InputConfig>,
}

/// One catalog layer feeding an MVT layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Catalog layer slug.
    pub source: String,
    /// First zoom (default: the tileset's).
    pub minzoom: Option<u8>,
    /// Last zoom (default: the tileset's).
    pub maxzoom: Option<u8>,
    /// Tile property name → column.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Tile property name → constant text.
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    /// Only rows whose column is one of the values.
    pub filter: Option<FilterConfig>,
    /// Leave out rows whose column is one of the values (rows where it is empty stay).
    pub exclude: Option<FilterConfig>,
    /// Leave out rows whose centre lies within the extent of this other catalog layer, when the
    /// caller sees that layer: how one source gives way to a better one over the area it covers
    /// (`styles/README.md` lists the base map's rules).
    pub outside: Option<String>,
    /// A label point inside each polygon instead of the polygon.
    #[serde(default)]
    pub label: bool,
    /// Numeric column ranking features (higher first) for thinning and the feature cap.
    pub priority: Option<String>,
}

/// Row filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Column.
    pub column: String,
    /// Accepted values (compared as text).
    pub values: Vec<String>,
}

impl FilterConfig {
    fn to_filter(&self) -> Filter {
        Filter {
            column: self.column.clone(),
            values: self.values.clone(),
        }
    }
}

impl CompositeConfig {
    /// Parses and checks a definition; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.check().map_err(|reason| ConfigError::Parse {
            path: origin.to_owned(),
            message: reason,
        })?;
        Ok(config)
    }

    /// Reads a definition file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The built-in base map.
    pub fn builtin_basemap() -> Self {
        // Checked by a unit test, so it always parses.
        Self::parse(BUILTIN_BASEMAP, Path::new("styles/basemap.toml")).unwrap_or_else(|e| {
            tracing::error!(error = %e, "built-in base map definition rejected");
            Self {
                id: "basemap".to_owned(),
                title: "basemap".to_owned(),
                description: String::new(),
                attribution: String::new(),
                minzoom: 0,
                maxzoom: 16,
                layers: Vec::new(),
            }
        })
    }

    fn check(&self) -> Result<(), String> {
        bando_core::layer::validate_slug(&self.id).map_err(|e| format!("id: {e}"))?;
        if self.minzoom > self.maxzoom || self.maxzoom > bando_core::tile::MAX_ZOOM {
            return Err(format!(
                "zooms {}..={} are not a range within 0..={}",
                self.minzoom,
                self.maxzoom,
                bando_core::tile::MAX_ZOOM
            ));
        }
        let mut names = HashSet::new();
        for layer in &self.layers {
            if layer.name.is_empty() || !names.insert(layer.name.as_str()) {
                return Err(format!("layer name {:?} is empty or repeated", layer.name));
            }
            for input in &layer.inputs {
                let (min, max) = self.input_zooms(input);
                if min > max {
                    return Err(format!(
                        "layer {:?}, input {:?}: minzoom {min} above maxzoom {max}",
                        layer.name, input.source
                    ));
                }
                if let Some(p) = input
                    .properties
                    .keys()
                    .find(|p| input.constants.contains_key(*p))
                {
                    return Err(format!(
                        "layer {:?}, input {:?}: property {p:?} is both a column and a constant",
                        layer.name, input.source
                    ));
                }
            }
        }
        Ok(())
    }

    fn input_zooms(&self, input: &InputConfig) -> (u8, u8) {
        (
            input.minzoom.unwrap_or(self.minzoom).max(self.minzoom),
            input.maxzoom.unwrap_or(self.maxzoom).min(self.maxzoom),
        )
    }

    /// The tileset's metadata.
    pub fn meta(&self) -> TilesetMeta {
        TilesetMeta {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            attribution: self.attribution.clone(),
            minzoom: self.minzoom,
            maxzoom: self.maxzoom,
        }
    }

    /// The MVT layers fed by the catalog layers present in `catalog`. Every configured layer is
    /// kept, even with no input published yet, so TileJSON lists what styles may draw.
    pub fn resolve(&self, catalog: &HashMap<String, Layer>) -> Vec<MvtLayerSpec> {
        let mut specs = Vec::new();
        for layer in &self.layers {
            let inputs: Vec<InputSpec> = layer
                .inputs
                .iter()
                .filter_map(|input| self.resolve_input(&layer.name, input, catalog))
                .collect();
            specs.push(MvtLayerSpec {
                name: layer.name.clone(),
                inputs,
            });
        }
        specs
    }

    fn resolve_input(
        &self,
        mvt_layer: &str,
        input: &InputConfig,
        catalog: &HashMap<String, Layer>,
    ) -> Option<InputSpec> {
        let Some(source) = catalog.get(&input.source) else {
            tracing::debug!(tileset = %self.id, layer = mvt_layer, source = %input.source,
                "input layer not in the catalog; skipped");
            return None;
        };
        let column = |name: &str| source.fields.iter().find(|f| f.name == name);
        for filter in [&input.filter, &input.exclude].into_iter().flatten() {
            if column(&filter.column).is_none() {
                tracing::warn!(tileset = %self.id, layer = mvt_layer, source = %input.source,
                    column = %filter.column, "filter column missing; input skipped");
                return None;
            }
        }
        let mut properties = Vec::new();
        for (name, column_name) in &input.properties {
            match column(column_name) {
                Some(field) => properties.push(Property {
                    name: name.clone(),
                    value: PropertyValue::Column(field.name.clone(), field.kind),
                }),
                None => tracing::warn!(tileset = %self.id, layer = mvt_layer,
                    source = %input.source, column = %column_name, "property column missing; left out"),
            }
        }
        properties.extend(input.constants.iter().map(|(name, value)| Property {
            name: name.clone(),
            value: PropertyValue::Constant(value.clone()),
        }));
        let priority = input
            .priority
            .as_deref()
            .filter(|p| column(p).is_some_and(|f| f.kind == bando_core::layer::FieldKind::Number))
            .map(str::to_owned);
        let (minzoom, maxzoom) = self.input_zooms(input);
        Some(InputSpec {
            layer: source.clone(),
            minzoom,
            maxzoom,
            properties,
            filter: input.filter.as_ref().map(FilterConfig::to_filter),
            exclude: input.exclude.as_ref().map(FilterConfig::to_filter),
            outside: input
                .outside
                .as_ref()
                .and_then(|slug| <[f64; 4]>::try_from(catalog.get(slug)?.bounds.clone()?).ok())
                .map(crate::tiles::cache::lonlat_to_mercator_bounds),
            geometry: if input.label {
                GeometryMode::LabelPoint
            } else {
                GeometryMode::Native
            },
            priority,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_basemap_parses() {
        let config = CompositeConfig::parse(BUILTIN_BASEMAP, Path::new("basemap.toml")).unwrap();
        assert_eq!(config.id, "basemap");
        assert!(config.layers.iter().any(|l| l.name == "road"));
    }

    #[test]
    fn bad_definitions_are_named() {
        let bad = [
            ("id = \"Base Map\"\ntitle = \"x\"\nlayer = []", "id"),
            (
                "id = \"b\"\ntitle = \"x\"\n[[layer]]\nname = \"a\"\ninput = []\n[[layer]]\nname = \"a\"\ninput = []",
                "repeated",
            ),
            (
                "id = \"b\"\ntitle = \"x\"\n[[layer]]\nname = \"a\"\n[[layer.input]]\nsource = \"s\"\nminzoom = 9\nmaxzoom = 3",
                "minzoom",
            ),
            ("id = \"b\"\ntitle = \"x\"\nlayers = []", "unknown field"),
        ];
        for (text, expected) in bad {
            let err = CompositeConfig::parse(text, Path::new("x.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
