//! An area prepared for many "does it cover this point?" questions (WGS84 lon/lat): polygons are
//! split once into monotone pieces (geo's `MonotonicPolygons`), each answering in O(log n)
//! instead of walking every vertex. Points on the boundary or a vertex are covered, as PostGIS'
//! `ST_Covers` says: the subdivision can miss a point lying exactly on some edges (vertical
//! ones, holes), so a point it leaves out is also tested against the edges near it (an R-tree of
//! the rings' segments).

use geo::{Coord, Geometry, Intersects, Line, MonotonicPolygons, MultiPolygon};
use rstar::primitives::Line as Segment;
use rstar::{AABB, RTree};

/// A unit's area, ready for point queries.
#[derive(Debug)]
pub enum Footprint {
    /// Polygonal areas, subdivided, and their boundary segments.
    Monotone(MonotonicPolygons<f64>, RTree<Segment<[f64; 2]>>),
    /// Anything else, or an area the subdivision could not take: tested as it is.
    Plain(Geometry<f64>),
}

impl Footprint {
    /// Prepares a geometry read from a boundary layer.
    pub fn new(geometry: Geometry<f64>) -> Self {
        let polygons = match &geometry {
            Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
            Geometry::MultiPolygon(mp) => mp.clone(),
            _ => return Self::Plain(geometry),
        };
        // The subdivision assumes valid polygons (the importer repairs them); should one still
        // trip it, the plain geometry answers the same question, only slower.
        let segments = polygons
            .0
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|ring| ring.lines())
            .map(|l| Segment::new([l.start.x, l.start.y], [l.end.x, l.end.y]))
            .collect();
        match std::panic::catch_unwind(|| MonotonicPolygons::from(polygons)) {
            Ok(monotone) => Self::Monotone(monotone, RTree::bulk_load(segments)),
            Err(_) => {
                tracing::warn!("boundary not subdivided; using the plain polygon");
                Self::Plain(geometry)
            }
        }
    }

    /// Whether the area covers the point (boundary included).
    pub fn covers(&self, lon: f64, lat: f64) -> bool {
        let coord = Coord { x: lon, y: lat };
        match self {
            Self::Monotone(pieces, edges) => {
                pieces.intersects(&coord)
                    || edges
                        .locate_in_envelope_intersecting(&AABB::from_point([lon, lat]))
                        .any(|s| {
                            Line::new(Coord::from(s.from), Coord::from(s.to)).intersects(&coord)
                        })
            }
            Self::Plain(g) => g.intersects(&coord),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{CoordinatePosition, coord, polygon};

    #[test]
    fn agrees_with_the_plain_polygon_inside_outside_on_edges_and_vertices() {
        // A concave polygon with a hole: the awkward cases for a sweep.
        let polygon = polygon!(
            exterior: [(x: 0., y: 0.), (x: 10., y: 0.), (x: 10., y: 10.), (x: 5., y: 4.), (x: 0., y: 10.), (x: 0., y: 0.)],
            interiors: [[(x: 2., y: 1.), (x: 4., y: 1.), (x: 4., y: 3.), (x: 2., y: 3.), (x: 2., y: 1.)]],
        );
        let footprint = Footprint::new(Geometry::Polygon(polygon.clone()));
        assert!(matches!(footprint, Footprint::Monotone(..)));
        for i in -4..=44 {
            for j in -4..=44 {
                let c = coord!(x: f64::from(i) * 0.25, y: f64::from(j) * 0.25);
                let expected =
                    polygon.coordinate_position(&c) != geo::coordinate_position::CoordPos::Outside;
                assert_eq!(footprint.covers(c.x, c.y), expected, "{c:?}");
            }
        }
    }
}
