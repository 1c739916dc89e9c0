//! Decoding vector tiles in tests, so assertions are about features, not bytes.

use std::collections::BTreeMap;

use geo::{Contains, Coord, Point};
use geozero::ToGeo;
use geozero::mvt::tile::Value;
use geozero::mvt::{Message, Tile};

/// One decoded feature (geometry in tile units, y down).
#[derive(Debug, Clone)]
pub struct DecodedFeature {
    /// MVT feature id.
    pub id: Option<u64>,
    /// Attributes as JSON values.
    pub properties: BTreeMap<String, serde_json::Value>,
    /// Geometry.
    pub geometry: geo::Geometry<f64>,
}

/// One decoded layer.
#[derive(Debug, Clone)]
pub struct DecodedLayer {
    /// Layer name.
    pub name: String,
    /// Tile extent (usually 4096).
    pub extent: u32,
    /// MVT spec version.
    pub version: u32,
    /// Features.
    pub features: Vec<DecodedFeature>,
}

impl DecodedLayer {
    /// Features whose polygon contains the tile-space point `(x, y)`.
    pub fn features_at(&self, x: f64, y: f64) -> Vec<&DecodedFeature> {
        let point = Point(Coord { x, y });
        self.features
            .iter()
            .filter(|f| f.geometry.contains(&point))
            .collect()
    }
}

/// Decodes an (uncompressed) MVT.
///
/// # Panics
/// On bytes that are not a valid tile: the test should fail then.
pub fn decode(bytes: &[u8]) -> Vec<DecodedLayer> {
    let tile = Tile::decode(bytes).expect("a valid MVT protobuf");
    tile.layers
        .iter()
        .map(|layer| DecodedLayer {
            name: layer.name.clone(),
            extent: layer.extent.unwrap_or(4096),
            version: layer.version,
            features: layer
                .features
                .iter()
                .map(|f| {
                    let mut properties = BTreeMap::new();
                    for pair in f.tags.chunks(2) {
                        let key = layer.keys[pair[0] as usize].clone();
                        let value = value_to_json(&layer.values[pair[1] as usize]);
                        properties.insert(key, value);
                    }
                    DecodedFeature {
                        id: f.id,
                        properties,
                        geometry: f.to_geo().expect("a decodable MVT geometry"),
                    }
                })
                .collect(),
        })
        .collect()
}

fn value_to_json(v: &Value) -> serde_json::Value {
    if let Some(s) = &v.string_value {
        return s.clone().into();
    }
    if let Some(b) = v.bool_value {
        return b.into();
    }
    if let Some(n) = v.int_value.or(v.sint_value) {
        return n.into();
    }
    if let Some(n) = v.uint_value {
        return n.into();
    }
    if let Some(n) = v.double_value {
        return n.into();
    }
    if let Some(n) = v.float_value {
        return f64::from(n).into();
    }
    serde_json::Value::Null
}
