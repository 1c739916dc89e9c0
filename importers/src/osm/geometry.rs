//! Geometries of OSM objects, in WGS84: a node is a point, a way a line or (closed) a polygon.
//! Multipolygon relations are assembled by PostGIS ([`super::areas`]). Extracts cut at their edge
//! leave ways with nodes outside the file: a way is drawn with the nodes it has, and left out
//! (with a reason) only when too few remain.

use geo::InteriorPoint;
use geo_types::{Coord, Geometry, LineString, Point, Polygon};
use geozero::{CoordDimensions, ToWkb};

use super::elements::{Locations, Way};

/// Why an object has no geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbuildable {
    /// Fewer than two of its nodes are in the extract.
    MissingNodes,
    /// A closed way whose ring is broken by nodes outside the extract.
    UnclosedRing,
    /// A multipolygon whose member ways close no ring (members outside the extract).
    IncompleteMultipolygon,
}

impl Unbuildable {
    /// Reason as reported in the job.
    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingNodes => "nodes_outside_extract",
            Self::UnclosedRing => "ring_broken_by_missing_nodes",
            Self::IncompleteMultipolygon => "incomplete_multipolygon",
        }
    }
}

/// The located coordinates of a way's nodes, and how many were missing.
pub fn way_coords(
    way: &Way,
    locations: &impl Fn(i64) -> Option<(f64, f64)>,
) -> (Vec<Coord>, usize) {
    let mut missing = 0;
    let coords = way
        .refs
        .iter()
        .filter_map(|&id| {
            let found = locations(id).filter(|(x, y)| x.is_finite() && y.is_finite());
            if found.is_none() {
                missing += 1;
            }
            found.map(|(x, y)| Coord { x, y })
        })
        .collect();
    (coords, missing)
}

/// A location lookup over an extract's [`Locations`].
pub fn lookup(locations: &Locations) -> impl Fn(i64) -> Option<(f64, f64)> + '_ {
    move |id| locations.get(id)
}

/// The way as a line.
pub fn line(coords: Vec<Coord>) -> Result<Geometry, Unbuildable> {
    if coords.len() < 2 {
        return Err(Unbuildable::MissingNodes);
    }
    Ok(Geometry::LineString(LineString::new(coords)))
}

/// The closed way as a polygon.
pub fn polygon(coords: Vec<Coord>) -> Result<Geometry, Unbuildable> {
    if coords.len() < 4 || coords.first() != coords.last() {
        return Err(Unbuildable::UnclosedRing);
    }
    Ok(Geometry::Polygon(Polygon::new(
        LineString::new(coords),
        Vec::new(),
    )))
}

/// A point inside an area (on its surface, not just its centroid), for labels and POIs.
pub fn point_inside(area: &Geometry) -> Option<Geometry> {
    area.interior_point().map(Geometry::Point)
}

/// A node's point.
pub fn point(lon: f64, lat: f64) -> Geometry {
    Geometry::Point(Point::new(lon, lat))
}

/// EWKB (SRID 4326) of a geometry, as the staging tables take it.
pub fn ewkb(geometry: &Geometry) -> Option<Vec<u8>> {
    geometry.to_ewkb(CoordDimensions::xy(), Some(4326)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn way(refs: &[i64]) -> Way {
        Way {
            id: 1,
            version: None,
            refs: refs.to_vec(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn a_way_cut_by_the_extract_keeps_the_nodes_it_has() {
        let locations: Locations = [(1, 0.0, 0.0), (2, 1.0, 0.0), (4, 1.0, 1.0)]
            .into_iter()
            .collect();
        let (coords, missing) = way_coords(&way(&[1, 2, 3, 4]), &lookup(&locations));
        assert_eq!((coords.len(), missing), (3, 1));
        assert!(line(coords).is_ok());
        let (coords, _) = way_coords(&way(&[1, 3, 5]), &lookup(&locations));
        assert_eq!(line(coords), Err(Unbuildable::MissingNodes));
    }

    #[test]
    fn a_ring_needs_to_close() {
        let locations: Locations = [(1, 0.0, 0.0), (2, 1.0, 0.0), (3, 1.0, 1.0)]
            .into_iter()
            .collect();
        let (coords, _) = way_coords(&way(&[1, 2, 3, 1]), &lookup(&locations));
        let area = polygon(coords).unwrap_or(Geometry::Point(Point::new(9.0, 9.0)));
        assert!(matches!(area, Geometry::Polygon(_)));
        let inside = point_inside(&area);
        assert!(matches!(inside, Some(Geometry::Point(p)) if p.x() > 0.0 && p.x() < 1.0));
        let (coords, _) = way_coords(&way(&[1, 2, 3, 4, 1]), &lookup(&locations));
        assert!(polygon(coords).is_ok(), "one node missing, still a ring");
        let (coords, _) = way_coords(&way(&[4, 2, 3, 4]), &lookup(&locations));
        assert_eq!(polygon(coords), Err(Unbuildable::UnclosedRing));
    }
}
