//! An area prepared for many "does it cover this point?" questions (WGS84 lon/lat): polygons are
//! split once into x-monotone pieces (geo's `monotone_subdivision`), found through an R-tree of
//! their boxes, each answering in O(log n) instead of walking every vertex. Points on the boundary
//! or a vertex are covered, as PostGIS' `ST_Covers` says, decided with exact orientation tests.
//!
//! The piece test is ours rather than geo's `Intersects`: that one takes a point in line with a
//! vertical edge (beyond its end) for a point on it, so a ward with a north-south edge claimed
//! points a few centimetres outside it.

use geo::kernels::{Kernel, RobustKernel};
use geo::{BoundingRect, Coord, Geometry, Intersects, MonoPoly, MultiPolygon, Orientation};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

/// A unit's area, ready for point queries.
#[derive(Debug)]
pub enum Footprint {
    /// Polygonal areas as monotone pieces, with an index of the pieces' boxes.
    Monotone(
        Vec<MonoPoly<f64>>,
        RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    ),
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
        match std::panic::catch_unwind(|| geo::monotone_subdivision(polygons.0)) {
            Ok(pieces) => {
                let boxes = pieces
                    .iter()
                    .enumerate()
                    .map(|(i, piece)| {
                        let r = piece.bounding_rect();
                        GeomWithData::new(
                            Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                            i,
                        )
                    })
                    .collect();
                Self::Monotone(pieces, RTree::bulk_load(boxes))
            }
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
            Self::Monotone(pieces, boxes) => boxes
                .locate_in_envelope_intersecting(&AABB::from_point([lon, lat]))
                .any(|entry| piece_covers(&pieces[entry.data], coord)),
            Self::Plain(g) => g.intersects(&coord),
        }
    }
}

/// Whether a monotone piece covers `c`: on or below its top chain and on or above its bottom
/// chain at `c.x`.
fn piece_covers(piece: &MonoPoly<f64>, c: Coord) -> bool {
    chain_admits(&piece.top().0, c, Orientation::CounterClockwise)
        && chain_admits(&piece.bot().0, c, Orientation::Clockwise)
}

/// Whether some segment of `chain` (vertices in increasing x, then y) spanning `c.x` does not
/// have `c` on its `outside` (counter-clockwise = above, for the top chain; clockwise = below,
/// for the bottom one). Several segments span `c.x` at a vertex; a vertical one counts for its
/// whole height, so the cross-section at that x is the widest the closed area has there.
fn chain_admits(chain: &[Coord], c: Coord, outside: Orientation) -> bool {
    // Segment k (chain[k] to chain[k + 1]) spans c.x when chain[k].x <= c.x <= chain[k + 1].x.
    let first = chain.partition_point(|v| v.x < c.x).max(1) - 1;
    let end = chain.partition_point(|v| v.x <= c.x).min(chain.len() - 1);
    (first..end).any(|k| {
        let (s, e) = (chain[k], chain[k + 1]);
        if s.x == e.x {
            // Vertical: s is the lower end.
            match outside {
                Orientation::CounterClockwise => c.y <= e.y,
                _ => c.y >= s.y,
            }
        } else {
            RobustKernel::orient2d(s, e, c) != outside
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{CoordinatePosition, coord, polygon};

    /// Compares the footprint with geo's plain (exact, O(n)) test on a grid of step 0.25 that
    /// puts points inside, outside, on edges, on vertices and in line with every edge.
    fn assert_agrees_on_grid(polygon: &geo::Polygon<f64>) {
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

    #[test]
    fn agrees_with_the_plain_polygon_inside_outside_on_edges_and_vertices() {
        // A concave polygon with a hole: the awkward cases for a sweep.
        assert_agrees_on_grid(&polygon!(
            exterior: [(x: 0., y: 0.), (x: 10., y: 0.), (x: 10., y: 10.), (x: 5., y: 4.), (x: 0., y: 10.), (x: 0., y: 0.)],
            interiors: [[(x: 2., y: 1.), (x: 4., y: 1.), (x: 4., y: 3.), (x: 2., y: 3.), (x: 2., y: 1.)]],
        ));
    }

    #[test]
    fn points_in_line_with_a_vertical_edge_are_outside() {
        // Staircases and a notch: vertical edges starting, ending and inside monotone pieces,
        // with grid points just beyond their ends (the real 2025 wards have such edges).
        assert_agrees_on_grid(&polygon![
            (x: 0., y: 0.), (x: 8., y: 0.), (x: 8., y: 2.), (x: 6., y: 2.), (x: 6., y: 4.),
            (x: 4., y: 4.), (x: 4., y: 6.), (x: 2., y: 6.), (x: 2., y: 8.), (x: 0., y: 8.),
        ]);
        assert_agrees_on_grid(&polygon![
            (x: 0., y: 0.), (x: 3., y: 0.), (x: 3., y: 5.), (x: 5., y: 5.), (x: 5., y: 0.),
            (x: 9., y: 0.), (x: 9., y: 9.), (x: 7., y: 9.), (x: 7., y: 7.), (x: 1., y: 7.),
            (x: 1., y: 9.), (x: 0., y: 9.),
        ]);
        assert_agrees_on_grid(&polygon![
            (x: 1., y: 1.), (x: 6., y: 1.), (x: 6., y: 3.), (x: 9., y: 3.), (x: 9., y: 4.),
            (x: 6., y: 4.), (x: 6., y: 8.), (x: 1., y: 8.), (x: 1., y: 6.), (x: 3., y: 6.),
            (x: 3., y: 5.), (x: 1., y: 5.),
        ]);
    }
}
