//! Multipolygon relations made into areas by PostGIS (GEOS' BuildArea, see `bando.osm_area` in
//! `migrations/0007_osm.sql`): one round trip for all relations of an extract or change file.

use std::collections::HashMap;

use geo_types::{Coord, Geometry, LineString, MultiLineString};
use sqlx::PgConnection;

use super::elements::{Relation, Way};
use super::geometry::{ewkb, way_coords};
use crate::error::ImportResult;

/// The member ways of a relation, as lines.
#[derive(Debug, Clone)]
pub struct Linework {
    /// The relation.
    pub relation: i64,
    /// Its member ways that could be drawn.
    pub lines: Vec<Vec<Coord>>,
    /// Member ways not in the data (outside the extract).
    pub missing_members: usize,
}

/// Gathers the lines of `relation`'s member ways.
pub fn linework<'a>(
    relation: &Relation,
    way: &impl Fn(i64) -> Option<&'a Way>,
    location: &impl Fn(i64) -> Option<(f64, f64)>,
) -> Linework {
    let mut missing_members = 0;
    let mut lines = Vec::new();
    for id in relation.way_ids() {
        match way(id) {
            Some(member) => {
                let (coords, missing) = way_coords(member, location);
                if missing > 0 {
                    missing_members += 1;
                }
                if coords.len() >= 2 {
                    lines.push(coords);
                }
            }
            None => missing_members += 1,
        }
    }
    Linework {
        relation: relation.id,
        lines,
        missing_members,
    }
}

/// An assembled relation: its area and a point inside it, as EWKB.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The area.
    pub area: Vec<u8>,
    /// A point on its surface.
    pub point: Vec<u8>,
}

/// Assembles every relation of `work` that closes at least one ring; the others are absent
/// from the answer.
pub async fn assemble(
    conn: &mut PgConnection,
    work: &[Linework],
) -> ImportResult<HashMap<i64, Assembled>> {
    let mut ids = Vec::with_capacity(work.len());
    let mut lines = Vec::with_capacity(work.len());
    for item in work.iter().filter(|w| !w.lines.is_empty()) {
        let multi = Geometry::MultiLineString(MultiLineString::new(
            item.lines.iter().cloned().map(LineString::new).collect(),
        ));
        if let Some(bytes) = ewkb(&multi) {
            ids.push(item.relation);
            lines.push(bytes);
        }
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> =
        sqlx::query_as(include_str!("../sql/osm/assemble_areas.sql"))
            .bind(&ids)
            .bind(&lines)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, area, point)| (id, Assembled { area, point }))
        .collect())
}
