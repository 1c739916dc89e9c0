//! Builds the one SQL statement that makes a tile of a tileset: every MVT layer of the tileset is
//! an `ST_AsMVT` over the `UNION ALL` of its inputs (catalog layer tables), and the layers'
//! bytes are concatenated (a valid MVT is a sequence of layers). Identifiers are quoted; layer
//! names, constants and filter values are bound. Generalisation per zoom:
//! - z ≤ 10 reads the pre-generalised `geom_z5/z8/z10` columns prepared at publish time (features
//!   under a pixel are already NULL there);
//! - z 11–13 drops lines and polygons whose bounding box is under a pixel (512-pixel tiles);
//! - below z14, points are thinned to the highest-priority one per 16-pixel cell;
//! - every zoom: `ST_AsMVTGeom` snaps to the 4096 grid, which simplifies to the tile's resolution,
//!   and each MVT layer is capped at a number of features (highest priority kept).

use bando_core::layer::{FieldKind, Layer, quote_ident};

/// Web Mercator world width, metres.
const WORLD_WIDTH: f64 = 40_075_016.685_578_49;
/// Below this zoom points are thinned to one per cell.
const THIN_POINTS_BELOW: u8 = 14;
/// Thinning cell, in pixels of a 512-pixel tile.
const THIN_CELL_PIXELS: f64 = 16.0;
/// Pre-generalised geometry columns: (highest zoom served, column).
const GENERALISED: [(u8, &str); 3] = [(5, "geom_z5"), (8, "geom_z8"), (10, "geom_z10")];

/// One MVT layer of a tileset.
#[derive(Debug, Clone)]
pub struct MvtLayerSpec {
    /// Layer name in the tile (unique within the tileset).
    pub name: String,
    /// Tables feeding it.
    pub inputs: Vec<InputSpec>,
}

/// One catalog layer feeding an MVT layer.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// The catalog layer.
    pub layer: Layer,
    /// Zooms at which it is included.
    pub minzoom: u8,
    /// Zooms at which it is included.
    pub maxzoom: u8,
    /// Feature properties written to the tile.
    pub properties: Vec<Property>,
    /// Only rows whose column's text is one of the values.
    pub filter: Option<Filter>,
    /// Not the rows whose column's text is one of the values.
    pub exclude: Option<Filter>,
    /// Not the rows whose bounding-box centre lies in this EPSG:3857 box
    /// (`[min_x, min_y, max_x, max_y]`): another input covers that area.
    pub outside: Option<[f64; 4]>,
    /// Draw the geometry, or a label point inside it.
    pub geometry: GeometryMode,
    /// Numeric column ranking features: kept first under the feature cap and when thinning.
    pub priority: Option<String>,
}

/// An output property.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Name in the tile.
    pub name: String,
    /// Where its value comes from.
    pub value: PropertyValue,
}

/// Source of a property value.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// A column of the input table, with its type family.
    Column(String, FieldKind),
    /// The same text for every feature of the input.
    Constant(String),
}

impl PropertyValue {
    fn kind(&self) -> FieldKind {
        match self {
            Self::Column(_, kind) => *kind,
            Self::Constant(_) => FieldKind::String,
        }
    }
}

/// Row filter: `column::text = ANY(values)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Column.
    pub column: String,
    /// Accepted values.
    pub values: Vec<String>,
}

/// What geometry an input contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeometryMode {
    /// The feature's own geometry.
    #[default]
    Native,
    /// A point guaranteed inside the polygon (`ST_PointOnSurface`), for labels.
    LabelPoint,
}

/// A value bound to a tile query after `$1..$3` (z, x, y).
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    /// Text.
    Text(String),
    /// Text array.
    TextArray(Vec<String>),
}

/// The SQL of one zoom of a tileset, returning `(mvt bytea, most features in one layer bigint,
/// revisions bigint[])`: the revisions of [`TileQuery::layers`] (in that order, -1 for a layer
/// gone) are read by the same statement as the rows, so from the same snapshot — what the tile
/// shows is exactly those revisions, even on a replica that lags (see `tiles::change_log`).
#[derive(Debug, Clone)]
pub struct TileQuery {
    /// Statement text.
    pub sql: String,
    /// Values for `$4…`.
    pub binds: Vec<Bind>,
    /// Catalog layers drawn at this zoom, each once.
    pub layers: Vec<String>,
}

/// The query for zoom `z`, or `None` when no input is drawn at that zoom.
pub fn tile_query(layers: &[MvtLayerSpec], z: u8, feature_cap: u32) -> Option<TileQuery> {
    let mut binds = Vec::new();
    let mut ctes = Vec::new();
    for layer in layers {
        let active: Vec<(usize, &InputSpec)> = layer
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, i)| (i.minzoom..=i.maxzoom).contains(&z))
            .collect();
        if active.is_empty() {
            continue;
        }
        let merged = merge_inputs(&active);
        let active: Vec<(usize, &InputSpec)> = merged.iter().map(|(i, spec)| (*i, spec)).collect();
        let columns = output_columns(layer);
        let selects: Vec<String> = active
            .iter()
            .map(|(index, input)| {
                input_select(input, *index, layer.inputs.len(), &columns, z, &mut binds)
            })
            .collect();
        let order = if active.iter().any(|(_, i)| i.priority.is_some()) {
            "ORDER BY _prio DESC NULLS LAST "
        } else {
            ""
        };
        binds.push(Bind::Text(layer.name.clone()));
        let name_param = binds.len() + 3;
        let column_list: String = columns
            .iter()
            .map(|(name, _)| format!(", {}", quote_ident(name)))
            .collect();
        ctes.push(format!(
            "l{n} AS (SELECT ST_AsMVT(t, ${name_param}, 4096, 'geom', 'fid') AS mvt, count(*) AS n \
             FROM (SELECT fid{column_list}, geom FROM ({union}) AS f WHERE geom IS NOT NULL \
             {order}LIMIT {feature_cap}) AS t)",
            n = ctes.len(),
            union = selects.join(" UNION ALL "),
        ));
    }
    if ctes.is_empty() {
        return None;
    }
    let names: Vec<String> = (0..ctes.len()).map(|n| format!("l{n}")).collect();
    let bytes: Vec<String> = names
        .iter()
        .map(|l| format!("coalesce({l}.mvt, ''::bytea)"))
        .collect();
    let counts: Vec<String> = names.iter().map(|l| format!("{l}.n")).collect();
    let mut drawn: Vec<String> = layers
        .iter()
        .flat_map(|l| &l.inputs)
        .filter(|i| (i.minzoom..=i.maxzoom).contains(&z))
        .map(|i| i.layer.slug.clone())
        .collect();
    drawn.sort();
    drawn.dedup();
    binds.push(Bind::TextArray(drawn.clone()));
    let drawn_param = binds.len() + 3;
    let sql = format!(
        "WITH {} SELECT {} AS mvt, greatest({})::bigint AS most, \
         (SELECT array_agg(coalesce(c.revision, -1) ORDER BY u.n) \
          FROM unnest(${drawn_param}::text[]) WITH ORDINALITY AS u(slug, n) \
          LEFT JOIN bando.layers c ON c.slug = u.slug) AS revisions FROM {}",
        ctes.join(", "),
        bytes.join(" || "),
        counts.join(", "),
        names.join(", ")
    );
    Some(TileQuery {
        sql,
        binds,
        layers: drawn,
    })
}

/// Active inputs reading the same table the same way, differing only in which values of one
/// column they take (the base map's roads: one input per class, each from its own zoom), become
/// one input taking all those values: one scan of the table instead of one per class. An input
/// without a filter takes every row, so the merged one does too.
fn merge_inputs(active: &[(usize, &InputSpec)]) -> Vec<(usize, InputSpec)> {
    let mut merged: Vec<(usize, InputSpec)> = Vec::with_capacity(active.len());
    for (index, input) in active {
        let same_read = |m: &InputSpec| {
            m.layer.slug == input.layer.slug
                && m.properties == input.properties
                && m.geometry == input.geometry
                && m.priority == input.priority
                && m.exclude == input.exclude
                && m.outside == input.outside
                && match (&m.filter, &input.filter) {
                    (Some(a), Some(b)) => a.column == b.column,
                    _ => true,
                }
        };
        match merged.iter_mut().find(|(_, m)| same_read(m)) {
            Some((_, m)) => {
                m.filter = match (m.filter.take(), &input.filter) {
                    (Some(mut a), Some(b)) => {
                        a.values.extend(b.values.iter().cloned());
                        Some(a)
                    }
                    _ => None,
                };
            }
            None => merged.push((*index, (*input).clone())),
        }
    }
    merged
}

/// Property names of an MVT layer and the SQL type every input casts them to: the inputs'
/// common type when all agree, else text. A single input keeps its column types as they are.
fn output_columns(layer: &MvtLayerSpec) -> Vec<(String, Option<&'static str>)> {
    let mut columns: Vec<(String, Option<FieldKind>, bool)> = Vec::new();
    for input in &layer.inputs {
        for property in &input.properties {
            let kind = property.value.kind();
            match columns.iter_mut().find(|(n, _, _)| *n == property.name) {
                Some((_, existing, mixed)) => *mixed |= *existing != Some(kind),
                None => columns.push((property.name.clone(), Some(kind), false)),
            }
        }
    }
    let single = layer.inputs.len() == 1;
    columns
        .into_iter()
        .map(|(name, kind, mixed)| {
            let cast = match (single, mixed, kind) {
                (true, _, _) => None,
                (false, true, _) | (false, false, Some(FieldKind::String) | None) => Some("text"),
                (false, false, Some(FieldKind::Number)) => Some("double precision"),
                (false, false, Some(FieldKind::Boolean)) => Some("boolean"),
            };
            (name, cast)
        })
        .collect()
}

/// `SELECT fid, <properties>, _prio, geom` of one input at zoom `z`.
fn input_select(
    input: &InputSpec,
    index: usize,
    input_count: usize,
    columns: &[(String, Option<&'static str>)],
    z: u8,
    binds: &mut Vec<Bind>,
) -> String {
    let layer = &input.layer;
    let tile_width = WORLD_WIDTH / f64::from(1u32 << z.min(30));
    let column = if layer.generalized {
        GENERALISED
            .iter()
            .find(|(up_to, _)| z <= *up_to)
            .map_or("geom_3857", |(_, c)| *c)
    } else {
        "geom_3857"
    };
    let geometry = match input.geometry {
        GeometryMode::Native => column.to_owned(),
        GeometryMode::LabelPoint => format!("ST_PointOnSurface({column})"),
    };
    // Distinct ids across inputs sharing an MVT layer: interleave them.
    let fid = if input_count == 1 {
        "fid".to_owned()
    } else {
        format!("fid * {input_count} + {index}")
    };
    let mut select = format!("SELECT {fid} AS fid");
    for (name, cast) in columns {
        let value = match input.properties.iter().find(|p| &p.name == name) {
            Some(Property {
                value: PropertyValue::Column(c, _),
                ..
            }) => quote_ident(c),
            Some(Property {
                value: PropertyValue::Constant(text),
                ..
            }) => {
                binds.push(Bind::Text(text.clone()));
                format!("${}::text", binds.len() + 3)
            }
            None => "NULL".to_owned(),
        };
        let value = match cast {
            Some(cast) => format!("({value})::{cast}"),
            None => value,
        };
        select.push_str(&format!(", {value} AS {}", quote_ident(name)));
    }
    let priority = input.priority.as_deref().map_or_else(
        || "NULL::double precision".to_owned(),
        |p| format!("({})::double precision", quote_ident(p)),
    );
    let mut conditions =
        vec!["geom_3857 && ST_TileEnvelope($1, $2, $3, margin => 64.0 / 4096)".to_owned()];
    if let Some(filter) = &input.filter {
        binds.push(Bind::TextArray(filter.values.clone()));
        conditions.push(format!(
            "({})::text = ANY(${}::text[])",
            quote_ident(&filter.column),
            binds.len() + 3
        ));
    }
    if let Some(exclude) = &input.exclude {
        binds.push(Bind::TextArray(exclude.values.clone()));
        conditions.push(format!(
            "coalesce(({})::text <> ALL(${}::text[]), true)",
            quote_ident(&exclude.column),
            binds.len() + 3
        ));
    }
    if let Some([x0, y0, x1, y1]) = input.outside {
        // Numbers from the catalog, written by Rust's float formatting: nothing to inject.
        conditions.push(format!(
            "NOT ((ST_XMin(geom_3857) + ST_XMax(geom_3857)) / 2 BETWEEN {x0:?} AND {x1:?} \
             AND (ST_YMin(geom_3857) + ST_YMax(geom_3857)) / 2 BETWEEN {y0:?} AND {y1:?})"
        ));
    }
    let kind = layer.geometry_type.to_ascii_lowercase();
    let is_point = kind.contains("point");
    let mixed = kind == "geometry" || kind == "geometrycollection";
    if column == "geom_3857" && z < THIN_POINTS_BELOW && input.geometry == GeometryMode::Native {
        let pixel = tile_width / 512.0;
        let big_enough = format!(
            "greatest(ST_XMax(geom_3857) - ST_XMin(geom_3857), ST_YMax(geom_3857) - ST_YMin(geom_3857)) >= {pixel}"
        );
        if mixed {
            conditions.push(format!("(ST_Dimension(geom_3857) = 0 OR {big_enough})"));
        } else if !is_point {
            conditions.push(big_enough);
        }
    }
    let body = format!(
        "{select}, {priority} AS _prio, \
         ST_AsMVTGeom({geometry}, ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom \
         FROM {table} WHERE {conditions}",
        table = layer.qualified_table(),
        conditions = conditions.join(" AND "),
    );
    if is_point && z < THIN_POINTS_BELOW {
        // One point per cell: the one ranked first, ties by feature id.
        let cell = tile_width / 512.0 * THIN_CELL_PIXELS;
        let names: String = columns
            .iter()
            .map(|(n, _)| format!(", {}", quote_ident(n)))
            .collect();
        format!(
            "SELECT fid{names}, _prio, geom FROM (SELECT DISTINCT ON (_cx, _cy) * FROM \
             ({body_with_cells}) AS cells ORDER BY _cx, _cy, _prio DESC NULLS LAST, fid) AS thinned",
            body_with_cells = body.replacen(
                " AS _prio,",
                &format!(
                    " AS _prio, floor(ST_XMin(geom_3857) / {cell}) AS _cx, floor(ST_YMin(geom_3857) / {cell}) AS _cy,"
                ),
                1
            ),
        )
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bando_core::layer::Visibility;

    fn layer(slug: &str, geometry_type: &str) -> Layer {
        Layer {
            id: 1,
            slug: slug.to_owned(),
            title: String::new(),
            description: String::new(),
            geometry_type: geometry_type.to_owned(),
            source_srid: None,
            source_crs: None,
            bounds: None,
            minzoom: 0,
            maxzoom: 22,
            attribution: String::new(),
            agency: "city".to_owned(),
            visibility: Visibility::Public,
            fields: Vec::new(),
            feature_count: 0,
            version: 1,
            updated_at: chrono::Utc::now(),
            layout: None,
            valid_from: None,
            valid_to: None,
            generalized: true,
            admin_level: None,
            revision: 1,
        }
    }

    fn input(slug: &str, kind: &str, minzoom: u8, maxzoom: u8) -> InputSpec {
        InputSpec {
            layer: layer(slug, kind),
            minzoom,
            maxzoom,
            properties: vec![Property {
                name: "name".into(),
                value: PropertyValue::Column("ten \"x\"".into(), FieldKind::String),
            }],
            filter: Some(Filter {
                column: "class".into(),
                values: vec!["primary".into()],
            }),
            exclude: None,
            outside: None,
            geometry: GeometryMode::Native,
            priority: None,
        }
    }

    #[test]
    fn inputs_outside_their_zooms_are_left_out() {
        let layers = vec![MvtLayerSpec {
            name: "road".into(),
            inputs: vec![
                input("a", "LineString", 0, 10),
                input("b", "LineString", 12, 16),
            ],
        }];
        assert!(tile_query(&layers, 11, 100).is_none());
        let q = tile_query(&layers, 5, 100).unwrap();
        assert!(q.sql.contains(r#""layers"."a""#) && !q.sql.contains(r#""layers"."b""#));
        assert!(q.sql.contains("geom_z5"));
        let q = tile_query(&layers, 13, 100).unwrap();
        assert!(q.sql.contains(r#""layers"."b""#) && q.sql.contains("ST_YMin(geom_3857)) >="));
    }

    #[test]
    fn names_values_and_identifiers_are_bound_or_quoted() {
        let layers = vec![MvtLayerSpec {
            name: "road'; DROP TABLE x; --".into(),
            inputs: vec![
                input("a", "LineString", 0, 16),
                input("b", "LineString", 0, 16),
            ],
        }];
        let q = tile_query(&layers, 14, 100).unwrap();
        assert!(!q.sql.contains("DROP TABLE"));
        assert!(q.sql.contains(r#""ten ""x""""#));
        assert!(
            q.binds
                .contains(&Bind::Text("road'; DROP TABLE x; --".into()))
        );
        assert!(q.binds.contains(&Bind::TextArray(vec!["primary".into()])));
        // Two inputs share one MVT layer: ids are interleaved, types unified.
        assert!(q.sql.contains("fid * 2 + 1") && q.sql.contains("::text"));
    }

    #[test]
    fn inputs_of_one_table_differing_by_filter_values_are_read_once() {
        let mut minor = input("roads", "LineString", 13, 16);
        minor.filter = Some(Filter {
            column: "class".into(),
            values: vec!["minor".into()],
        });
        let layers = vec![MvtLayerSpec {
            name: "road".into(),
            inputs: vec![input("roads", "LineString", 5, 16), minor],
        }];
        let z12 = tile_query(&layers, 12, 100).unwrap();
        assert!(z12.binds.contains(&Bind::TextArray(vec!["primary".into()])));
        let z14 = tile_query(&layers, 14, 100).unwrap();
        assert_eq!(
            z14.sql.matches(r#"FROM "layers"."roads""#).count(),
            1,
            "{}",
            z14.sql
        );
        assert!(
            z14.binds
                .contains(&Bind::TextArray(vec!["primary".into(), "minor".into()]))
        );
    }

    #[test]
    fn points_are_thinned_below_z14_only() {
        let layers = vec![MvtLayerSpec {
            name: "poi".into(),
            inputs: vec![input("p", "Point", 0, 16)],
        }];
        assert!(
            tile_query(&layers, 12, 100)
                .unwrap()
                .sql
                .contains("DISTINCT ON")
        );
        assert!(
            !tile_query(&layers, 14, 100)
                .unwrap()
                .sql
                .contains("DISTINCT ON")
        );
    }
}
