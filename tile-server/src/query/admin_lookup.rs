//! Which administrative unit contains a point (WGS84 lon/lat): an in-memory R-tree over the
//! boundary layers of the catalog (layers with an `admin_level`), rebuilt when one is republished.
//!
//! "Contains" is PostGIS' `ST_Covers`: a point on a shared boundary or a vertex belongs to every
//! unit it touches ([`AdminIndex::covering`] returns them all; lookups answer the one with the
//! lowest code, so the answer is stable).
//!
//! Several boundary layers of one level may be valid on a day: the city's wards and a
//! neighbouring province's, or a national layer. The answer is the unit that covers the point;
//! where the layers overlap, [`AdminIndex::layers_for`] ranks them: the latest `valid_from` first
//! (a newer layout replaces an older one), then the layer published first (an established layer
//! is not overridden by one added later over the same area). The answer names its layer and
//! layout.

use bando_core::layer::{Layer, quote_ident};
use chrono::NaiveDate;
use geozero::ToGeo;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use serde::Serialize;
use sqlx::PgPool;

use crate::query::footprint::Footprint;

/// Attribute columns read as the unit's code, name and full name, first found wins.
const CODE_COLUMNS: [&str; 6] = [
    "code",
    "com_id",
    "dist_id",
    "ma_xa",
    "ma_huyen",
    "level2_id",
];
const NAME_COLUMNS: [&str; 4] = ["name", "com_name", "dist_name", "ten"];
const FULL_NAME_COLUMNS: [&str; 3] = ["fullname", "full_name", "ten_day_du"];

/// `code, name, full_name` expressions (text) for a boundary layer's table.
pub fn unit_columns(layer: &Layer) -> String {
    let pick = |candidates: &[&str]| {
        candidates
            .iter()
            .find(|c| layer.fields.iter().any(|f| f.name == **c))
            .map_or_else(
                || "NULL::text".to_owned(),
                |c| format!("{}::text", quote_ident(c)),
            )
    };
    let name = pick(&NAME_COLUMNS);
    let full = pick(&FULL_NAME_COLUMNS);
    format!(
        "{} AS code, {name} AS name, coalesce({full}, {name}) AS full_name",
        pick(&CODE_COLUMNS)
    )
}

/// One administrative unit, as answered to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminUnit {
    /// Layer it comes from.
    pub layer: String,
    /// Layout of that layer (e.g. `2019`, `2025`).
    pub layout: Option<String>,
    /// Official code (GSO), as text.
    pub code: Option<String>,
    /// Short name.
    pub name: Option<String>,
    /// Full name ("Phường Bến Thành"), or the name when the layer has none.
    pub full_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct UnitRow {
    code: Option<String>,
    name: Option<String>,
    full_name: Option<String>,
    wkb: Vec<u8>,
}

struct IndexedLayer {
    /// Catalog id: the earlier published ranks first among layers of the same `valid_from`.
    id: i64,
    slug: String,
    level: String,
    valid_from: Option<NaiveDate>,
    valid_to: Option<NaiveDate>,
    units: Vec<(AdminUnit, Footprint)>,
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

impl IndexedLayer {
    fn valid_on(&self, day: NaiveDate) -> bool {
        self.valid_from.is_none_or(|from| from <= day) && self.valid_to.is_none_or(|to| day < to)
    }
}

/// The index of every boundary layer.
#[derive(Default)]
pub struct AdminIndex {
    layers: Vec<IndexedLayer>,
}

impl std::fmt::Debug for AdminIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminIndex")
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl AdminIndex {
    /// Loads the boundary layers among `layers` from the database.
    pub async fn load(pool: &PgPool, layers: &[Layer]) -> Result<Self, sqlx::Error> {
        let mut indexed = Vec::new();
        for layer in layers {
            let Some(level) = &layer.admin_level else {
                continue;
            };
            let rows: Vec<UnitRow> = sqlx::query_as(&format!(
                "SELECT {}, ST_AsBinary(geom) AS wkb FROM {}",
                unit_columns(layer),
                layer.qualified_table()
            ))
            .fetch_all(pool)
            .await?;
            let mut units = Vec::with_capacity(rows.len());
            let mut envelopes = Vec::with_capacity(rows.len());
            for UnitRow {
                code,
                name,
                full_name,
                wkb,
            } in rows
            {
                let Ok(geometry) = geozero::wkb::Wkb(wkb).to_geo() else {
                    continue;
                };
                let Some(r) = geo::BoundingRect::bounding_rect(&geometry) else {
                    continue;
                };
                envelopes.push(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    units.len(),
                ));
                units.push((
                    AdminUnit {
                        layer: layer.slug.clone(),
                        layout: layer.layout.clone(),
                        full_name,
                        code,
                        name,
                    },
                    Footprint::new(geometry),
                ));
            }
            let tree = RTree::bulk_load(envelopes);
            indexed.push(IndexedLayer {
                id: layer.id,
                slug: layer.slug.clone(),
                level: level.clone(),
                valid_from: layer.valid_from,
                valid_to: layer.valid_to,
                units,
                tree,
            });
        }
        // The ranking of `layers_for`: most recent layouts first, then the earliest published.
        indexed.sort_by_key(|l| (std::cmp::Reverse(l.valid_from), l.id));
        Ok(Self { layers: indexed })
    }

    /// Every unit of `layer` covering the point (several on a shared boundary), lowest code first.
    pub fn covering(&self, layer: &str, lon: f64, lat: f64) -> Vec<&AdminUnit> {
        let mut found: Vec<&AdminUnit> = self
            .layers
            .iter()
            .filter(|l| l.slug == layer)
            .flat_map(|l| {
                l.tree
                    .locate_in_envelope_intersecting(&AABB::from_point([lon, lat]))
                    .map(move |entry| &l.units[entry.data])
                    .filter(|(_, footprint)| footprint.covers(lon, lat))
                    .map(|(unit, _)| unit)
            })
            .collect();
        found.sort_by(|a, b| a.code.cmp(&b.code));
        found
    }

    /// Slugs of the `level` layers valid on `day` that `visible` accepts, in the order they are
    /// asked (see the module's documentation): the latest `valid_from` first, then the layer
    /// published first.
    pub fn layers_for(
        &self,
        level: &str,
        day: NaiveDate,
        visible: &dyn Fn(&str) -> bool,
    ) -> Vec<&str> {
        self.layers
            .iter()
            .filter(|l| l.level == level && l.valid_on(day))
            .map(|l| l.slug.as_str())
            .filter(|slug| visible(slug))
            .collect()
    }

    /// The unit covering the point in the first of `layers` that has one (lowest code there).
    pub fn unit_at<'a>(&'a self, layers: &[&str], lon: f64, lat: f64) -> Option<&'a AdminUnit> {
        layers
            .iter()
            .find_map(|layer| self.covering(layer, lon, lat).first().copied())
    }
}
