//! Geometry literals of a filter (`POINT(…)` in CQL2 text, a GeoJSON geometry in CQL2-JSON,
//! `BBOX(…)` in both) as `geo` geometries in lon/lat, checked before they reach PostGIS.
//!
//! The cql2 crate hands literals over as GeoJSON (text WKT included) without checking them;
//! a filter is a client's input, so range, shape and validity are checked here.

use geo::{
    Coord, CoordsIter, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point,
    Polygon, Validation,
};
use serde_json::Value;

use super::Cql2Error;

type Result<T> = std::result::Result<T, Cql2Error>;

fn err(reason: impl Into<String>) -> Cql2Error {
    Cql2Error(reason.into())
}

/// A GeoJSON geometry object (RFC 7946) as a `geo` geometry; a third coordinate is dropped
/// (the relations are evaluated in 2D, as PostGIS's `ST_*` predicates do).
pub fn from_geojson(value: &Value) -> Result<Geometry<f64>> {
    let malformed = || err("malformed GeoJSON geometry");
    let coordinates = || value.get("coordinates").ok_or_else(malformed);
    let geometry = match value
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(malformed)?
    {
        "Point" => Geometry::Point(Point(position(coordinates()?)?)),
        "LineString" => Geometry::LineString(line(coordinates()?)?),
        "Polygon" => Geometry::Polygon(polygon(coordinates()?)?),
        "MultiPoint" => Geometry::MultiPoint(MultiPoint(list(coordinates()?, |c| {
            position(c).map(Point)
        })?)),
        "MultiLineString" => {
            Geometry::MultiLineString(MultiLineString(list(coordinates()?, line)?))
        }
        "MultiPolygon" => Geometry::MultiPolygon(MultiPolygon(list(coordinates()?, polygon)?)),
        "GeometryCollection" => Geometry::GeometryCollection(
            list(value.get("geometries").ok_or_else(malformed)?, from_geojson)?.into(),
        ),
        _ => return Err(malformed()),
    };
    Ok(geometry)
}

/// `BBOX(west, south, east, north)` (or the 6-number 3D form) as a polygon.
pub fn from_bbox(numbers: &[f64]) -> Result<Geometry<f64>> {
    let [w, s, e, n] = match *numbers {
        [w, s, e, n] | [w, s, _, e, n, _] => [w, s, e, n],
        _ => return Err(err("BBOX takes 4 or 6 numbers")),
    };
    if w > e || s > n {
        return Err(err(
            "BBOX must be (west, south, east, north) with west ≤ east and south ≤ north",
        ));
    }
    Ok(Geometry::Polygon(
        geo::Rect::new(Coord { x: w, y: s }, Coord { x: e, y: n }).to_polygon(),
    ))
}

/// Literal geometries must be usable as they are: lon/lat in range, lines of two points or more,
/// and valid (a self-intersecting polygon has no defined relations).
pub fn check(geometry: &Geometry<f64>) -> Result<()> {
    if let Some(c) = geometry
        .coords_iter()
        .find(|c| !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y))
    {
        return Err(err(format!(
            "coordinate ({} {}) is outside lon -180..180, lat -90..90",
            c.x, c.y
        )));
    }
    let mut short_line = false;
    visit(geometry, &mut |g| {
        if let Geometry::LineString(l) = g {
            short_line |= l.0.len() < 2;
        }
    });
    if short_line {
        return Err(err("a line needs at least 2 points"));
    }
    if let Err(errors) = geometry.check_validation() {
        return Err(err(format!("invalid geometry: {errors}")));
    }
    Ok(())
}

/// Calls `f` on the geometry and every part of it.
fn visit(geometry: &Geometry<f64>, f: &mut dyn FnMut(&Geometry<f64>)) {
    match geometry {
        Geometry::MultiLineString(m) => {
            m.0.iter()
                .for_each(|l| visit(&Geometry::LineString(l.clone()), f));
        }
        Geometry::MultiPolygon(m) => {
            m.0.iter()
                .for_each(|p| visit(&Geometry::Polygon(p.clone()), f));
        }
        Geometry::GeometryCollection(c) => c.0.iter().for_each(|g| visit(g, f)),
        other => f(other),
    }
}

fn position(value: &Value) -> Result<Coord<f64>> {
    let numbers = value
        .as_array()
        .filter(|a| (2..=4).contains(&a.len()))
        .ok_or_else(|| err("a position has 2 or 3 numbers"))?;
    let number = |i: usize| {
        numbers[i]
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| err("a coordinate is not a finite number"))
    };
    Ok(Coord {
        x: number(0)?,
        y: number(1)?,
    })
}

fn list<T>(value: &Value, item: impl Fn(&Value) -> Result<T>) -> Result<Vec<T>> {
    value
        .as_array()
        .ok_or_else(|| err("malformed GeoJSON coordinates"))?
        .iter()
        .map(item)
        .collect()
}

fn line(value: &Value) -> Result<LineString<f64>> {
    Ok(LineString(list(value, position)?))
}

fn polygon(value: &Value) -> Result<Polygon<f64>> {
    let mut rings = list(value, line)?;
    if rings.is_empty()
        || rings
            .iter()
            .any(|r| r.0.len() < 4 || r.0.first() != r.0.last())
    {
        return Err(err(
            "a polygon ring must be closed and have at least 4 points",
        ));
    }
    let exterior = rings.remove(0);
    Ok(Polygon::new(exterior, rings))
}
