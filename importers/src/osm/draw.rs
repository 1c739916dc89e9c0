//! Turning OSM objects into the rows of each theme's table, as `COPY` text: the same code draws a
//! whole extract and the objects a change file touches.

use std::collections::BTreeMap;

use unicode_normalization::UnicodeNormalization;

use super::areas::Assembled;
use super::elements::{Kind, Node, Relation, Tags, Way, feature_id, tag};
use super::geometry::{Unbuildable, ewkb, line, point, point_inside, polygon, way_coords};
use super::themes::{ColumnType, Shape, THEMES, Theme, Values};
use crate::copy_text::{push_null, push_text};
use crate::reader::{MAX_EXAMPLES, Problem};
use crate::source::PlannedField;

/// The rows drawn for one theme.
#[derive(Debug, Default)]
pub struct ThemeRows {
    /// `COPY` text: `fid, osm_type, osm_id`, the theme's columns, EWKB hex.
    pub copy: Vec<u8>,
    /// Objects the theme wanted.
    pub wanted: u64,
    /// Rows written.
    pub written: u64,
    /// Feature ids of the rows written.
    pub fids: Vec<i64>,
    /// Objects it wanted but could not draw, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The first of those.
    pub examples: Vec<Problem>,
    /// Ways drawn without some of their nodes (outside the extract).
    pub partial_ways: u64,
    /// Multipolygons drawn without some of their member ways (outside the extract).
    pub partial_multipolygons: u64,
}

impl ThemeRows {
    /// Warnings for the theme's job report.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.partial_ways > 0 {
            warnings.push(format!(
                "{} ways have nodes outside the extract and are drawn with the nodes it holds",
                self.partial_ways
            ));
        }
        if self.partial_multipolygons > 0 {
            warnings.push(format!(
                "{} multipolygons have member ways outside the extract and are drawn from the \
                 rings that close inside it",
                self.partial_multipolygons
            ));
        }
        warnings
    }

    fn skip(&mut self, kind: Kind, id: i64, why: Unbuildable) {
        *self.skipped.entry(why.reason()).or_default() += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(Problem {
                feature: format!("{}{id}", kind.letter()),
                reason: why.reason(),
            });
        }
    }
}

/// Draws objects into the rows of every theme.
#[derive(Debug)]
pub struct Drawer {
    /// Rows per theme, in the order of [`THEMES`].
    pub themes: Vec<ThemeRows>,
}

impl Default for Drawer {
    fn default() -> Self {
        Self {
            themes: THEMES.iter().map(|_| ThemeRows::default()).collect(),
        }
    }
}

/// Whether the tags let a closed way be an area.
fn may_be_area(tags: &Tags) -> bool {
    tag(tags, "area") != Some("no")
}

/// Whether the tags ask for a closed way to be an area, not a line.
fn is_area_tagged(tags: &Tags) -> bool {
    tag(tags, "area") == Some("yes")
}

impl Drawer {
    /// Draws a node.
    pub fn node(&mut self, node: &Node) {
        let geometry = point(node.lon, node.lat);
        for (index, theme) in THEMES.iter().enumerate() {
            if theme.shape != Shape::Point {
                continue;
            }
            if let Some(values) = (theme.classify)(&node.tags) {
                self.themes[index].wanted += 1;
                self.write(index, Kind::Node, node.id, &values, ewkb(&geometry));
            }
        }
    }

    /// Draws a way with the node locations of `location`.
    pub fn way(&mut self, way: &Way, location: &impl Fn(i64) -> Option<(f64, f64)>) {
        let wanted: Vec<(usize, Values)> = THEMES
            .iter()
            .enumerate()
            .filter(|(_, theme)| match theme.shape {
                Shape::Line => !is_area_tagged(&way.tags),
                Shape::Area | Shape::Point => way.is_closed() && may_be_area(&way.tags),
            })
            .filter_map(|(index, theme)| Some((index, (theme.classify)(&way.tags)?)))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let (coords, missing) = way_coords(way, location);
        let as_line = || line(coords.clone());
        let as_area = || polygon(coords.clone());
        let mut area = None;
        for (index, values) in wanted {
            self.themes[index].wanted += 1;
            if missing > 0 {
                self.themes[index].partial_ways += 1;
            }
            let built = match THEMES[index].shape {
                Shape::Line => as_line(),
                Shape::Area => area.get_or_insert_with(as_area).clone(),
                Shape::Point => area
                    .get_or_insert_with(as_area)
                    .clone()
                    .and_then(|a| point_inside(&a).ok_or(Unbuildable::UnclosedRing)),
            };
            match built {
                Ok(geometry) => self.write(index, Kind::Way, way.id, &values, ewkb(&geometry)),
                Err(why) => self.themes[index].skip(Kind::Way, way.id, why),
            }
        }
    }

    /// Whether any theme draws this relation (so it is worth assembling).
    pub fn wants_relation(relation: &Relation) -> bool {
        THEMES
            .iter()
            .any(|t| t.shape != Shape::Line && (t.classify)(&relation.tags).is_some())
    }

    /// Draws a multipolygon relation from its assembled area (`None`: no ring closed).
    pub fn relation(
        &mut self,
        relation: &Relation,
        assembled: Option<&Assembled>,
        missing_members: usize,
    ) {
        for (index, theme) in THEMES.iter().enumerate() {
            if theme.shape == Shape::Line {
                continue;
            }
            let Some(values) = (theme.classify)(&relation.tags) else {
                continue;
            };
            self.themes[index].wanted += 1;
            match assembled {
                Some(a) => {
                    let bytes = if theme.shape == Shape::Area {
                        &a.area
                    } else {
                        &a.point
                    };
                    self.write(
                        index,
                        Kind::Relation,
                        relation.id,
                        &values,
                        Some(bytes.clone()),
                    );
                    if missing_members > 0 {
                        self.themes[index].partial_multipolygons += 1;
                    }
                }
                None => self.themes[index].skip(
                    Kind::Relation,
                    relation.id,
                    Unbuildable::IncompleteMultipolygon,
                ),
            }
        }
    }

    fn write(
        &mut self,
        index: usize,
        kind: Kind,
        id: i64,
        values: &Values,
        geometry: Option<Vec<u8>>,
    ) {
        let rows = &mut self.themes[index];
        let Some(geometry) = geometry else {
            return;
        };
        let fid = feature_id(kind, id);
        let out = &mut rows.copy;
        out.extend_from_slice(fid.to_string().as_bytes());
        out.push(b'\t');
        out.extend_from_slice(kind.letter().as_bytes());
        out.push(b'\t');
        out.extend_from_slice(id.to_string().as_bytes());
        for value in values {
            out.push(b'\t');
            match value {
                Some(text) => push_text(out, &text.nfc().collect::<String>()),
                None => push_null(out),
            }
        }
        out.push(b'\t');
        let start = out.len();
        out.resize(start + 2 * geometry.len(), 0);
        // Cannot fail: the slice is exactly twice the input.
        let _ = hex::encode_to_slice(&geometry, &mut out[start..]);
        out.push(b'\n');
        rows.written += 1;
        rows.fids.push(fid);
    }
}

/// The fields of a theme's table, as the staging code takes them.
pub fn planned_fields(theme: &Theme) -> Vec<PlannedField> {
    use gdal::vector::OGRFieldType;
    let field = |name: &str, ogr_type| PlannedField {
        source_name: name.to_owned(),
        column: name.to_owned(),
        ogr_type,
    };
    let mut fields = vec![
        field("osm_type", OGRFieldType::OFTString),
        field("osm_id", OGRFieldType::OFTInteger64),
    ];
    fields.extend(theme.columns.iter().map(|c| {
        field(
            c.name,
            match c.kind {
                ColumnType::Text => OGRFieldType::OFTString,
                ColumnType::Integer => OGRFieldType::OFTInteger,
                ColumnType::Real => OGRFieldType::OFTReal,
            },
        )
    }));
    fields
}
