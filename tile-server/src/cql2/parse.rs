//! CQL2 text → [`Expr`], with pest and the grammar in `cql2.pest`.

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};
use pest::Parser;
use pest::iterators::Pair;

use super::{CompareOp, Cql2Error, Expr, GeometryOperand, Scalar, SpatialOp};

#[derive(pest_derive::Parser)]
#[grammar = "cql2/cql2.pest"]
struct Cql2Parser;

type Result<T> = std::result::Result<T, Cql2Error>;

/// Longest filter accepted, in bytes: bounds parsing work (and so a request's cost).
pub const MAX_FILTER_LEN: usize = 64 * 1024;

/// Parses a CQL2 text filter.
pub fn parse(text: &str) -> Result<Expr> {
    if text.len() > MAX_FILTER_LEN {
        return Err(Cql2Error(format!("longer than {MAX_FILTER_LEN} bytes")));
    }
    let mut pairs = Cql2Parser::parse(Rule::filter, text).map_err(|e| {
        let (line, column) = match e.line_col {
            pest::error::LineColLocation::Pos(p) | pest::error::LineColLocation::Span(p, _) => p,
        };
        let at = if line == 1 {
            format!("character {column}")
        } else {
            format!("line {line}, character {column}")
        };
        Cql2Error(format!("not valid CQL2 text at {at}"))
    })?;
    let filter = pairs
        .next()
        .ok_or_else(|| Cql2Error("empty filter".into()))?;
    let expr = filter
        .into_inner()
        .next()
        .ok_or_else(|| Cql2Error("empty filter".into()))?;
    boolean_expr(expr)
}

fn boolean_expr(pair: Pair<'_, Rule>) -> Result<Expr> {
    match pair.as_rule() {
        Rule::boolean_expr => fold(pair, Expr::Or),
        Rule::boolean_term => fold(pair, Expr::And),
        Rule::boolean_factor => {
            let mut inner = pair.into_inner().peekable();
            let negated = inner.next_if(|p| p.as_rule() == Rule::not_kw).is_some();
            let primary = boolean_expr(next(&mut inner)?)?;
            Ok(if negated {
                Expr::Not(Box::new(primary))
            } else {
                primary
            })
        }
        Rule::boolean => Ok(Expr::Literal(pair.as_str().eq_ignore_ascii_case("true"))),
        Rule::comparison => {
            let mut inner = pair.into_inner();
            let left = scalar(next(&mut inner)?)?;
            let op = match next(&mut inner)?.as_str() {
                "=" => CompareOp::Eq,
                "<>" => CompareOp::Ne,
                "<" => CompareOp::Lt,
                "<=" => CompareOp::Le,
                ">" => CompareOp::Gt,
                _ => CompareOp::Ge,
            };
            let right = scalar(next(&mut inner)?)?;
            Ok(Expr::Compare { left, op, right })
        }
        Rule::like => {
            let (negated, mut operands) = negatable(pair)?;
            let pattern = operands.pop().ok_or_else(malformed)?;
            let value = operands.pop().ok_or_else(malformed)?;
            Ok(Expr::Like {
                value,
                pattern,
                negated,
            })
        }
        Rule::between => {
            let (negated, mut operands) = negatable(pair)?;
            let high = operands.pop().ok_or_else(malformed)?;
            let low = operands.pop().ok_or_else(malformed)?;
            let value = operands.pop().ok_or_else(malformed)?;
            Ok(Expr::Between {
                value,
                low,
                high,
                negated,
            })
        }
        Rule::in_list => {
            let (negated, mut operands) = negatable(pair)?;
            if operands.len() < 2 {
                return Err(malformed());
            }
            let value = operands.remove(0);
            Ok(Expr::In {
                value,
                list: operands,
                negated,
            })
        }
        Rule::is_null => {
            let (negated, mut operands) = negatable(pair)?;
            let value = operands.pop().ok_or_else(malformed)?;
            Ok(Expr::IsNull { value, negated })
        }
        Rule::spatial => {
            let mut inner = pair.into_inner();
            let op = match next(&mut inner)?.as_str().to_ascii_uppercase().as_str() {
                "S_INTERSECTS" => SpatialOp::Intersects,
                "S_EQUALS" => SpatialOp::Equals,
                "S_DISJOINT" => SpatialOp::Disjoint,
                "S_TOUCHES" => SpatialOp::Touches,
                "S_WITHIN" => SpatialOp::Within,
                "S_OVERLAPS" => SpatialOp::Overlaps,
                "S_CROSSES" => SpatialOp::Crosses,
                _ => SpatialOp::Contains,
            };
            let left = geometry_operand(next(&mut inner)?)?;
            let right = geometry_operand(next(&mut inner)?)?;
            Ok(Expr::Spatial { op, left, right })
        }
        _ => Err(malformed()),
    }
}

/// `a OR b OR c` / `a AND b AND c`, flattened; a single operand is itself.
fn fold(pair: Pair<'_, Rule>, combine: fn(Vec<Expr>) -> Expr) -> Result<Expr> {
    let mut operands = pair
        .into_inner()
        .filter(|p| !is_keyword(p))
        .map(boolean_expr)
        .collect::<Result<Vec<_>>>()?;
    Ok(if operands.len() == 1 {
        operands.remove(0)
    } else {
        combine(operands)
    })
}

/// The operands of a predicate that may carry `NOT` (LIKE, BETWEEN, IN, IS NULL).
fn negatable(pair: Pair<'_, Rule>) -> Result<(bool, Vec<Scalar>)> {
    let mut negated = false;
    let mut operands = Vec::new();
    for p in pair.into_inner() {
        if p.as_rule() == Rule::not_kw {
            negated = true;
        } else if !is_keyword(&p) {
            operands.push(scalar(p)?);
        }
    }
    Ok((negated, operands))
}

fn is_keyword(pair: &Pair<'_, Rule>) -> bool {
    matches!(
        pair.as_rule(),
        Rule::or_kw
            | Rule::and_kw
            | Rule::like_kw
            | Rule::between_kw
            | Rule::in_kw
            | Rule::is_kw
            | Rule::null_kw
    )
}

fn scalar(pair: Pair<'_, Rule>) -> Result<Scalar> {
    match pair.as_rule() {
        Rule::string => {
            let body = pair.into_inner().next().map_or("", |b| b.as_str());
            Ok(Scalar::Text(body.replace("''", "'")))
        }
        Rule::number => number(&pair).map(Scalar::Number),
        Rule::boolean => Ok(Scalar::Bool(pair.as_str().eq_ignore_ascii_case("true"))),
        Rule::property => Ok(Scalar::Property(property_name(pair))),
        Rule::casei => Ok(Scalar::CaseInsensitive(Box::new(scalar(next(
            &mut pair.into_inner(),
        )?)?))),
        Rule::accenti => Ok(Scalar::AccentInsensitive(Box::new(scalar(next(
            &mut pair.into_inner(),
        )?)?))),
        _ => Err(malformed()),
    }
}

fn property_name(pair: Pair<'_, Rule>) -> String {
    pair.into_inner()
        .next()
        .map_or_else(String::new, |name| name.as_str().to_owned())
}

fn number(pair: &Pair<'_, Rule>) -> Result<f64> {
    pair.as_str()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| Cql2Error(format!("number {} is out of range", pair.as_str())))
}

fn geometry_operand(pair: Pair<'_, Rule>) -> Result<GeometryOperand> {
    if pair.as_rule() == Rule::property {
        return Ok(GeometryOperand::Property(property_name(pair)));
    }
    let geometry = geometry(pair)?;
    check_geometry(&geometry)?;
    Ok(GeometryOperand::Literal(geometry))
}

fn geometry(pair: Pair<'_, Rule>) -> Result<Geometry<f64>> {
    let rule = pair.as_rule();
    let mut inner = pair.into_inner();
    Ok(match rule {
        Rule::point => Geometry::Point(Point(coordinate(next(&mut inner)?)?)),
        Rule::linestring => Geometry::LineString(line(next(&mut inner)?)?),
        Rule::polygon => Geometry::Polygon(polygon(next(&mut inner)?)?),
        Rule::multipoint => Geometry::MultiPoint(MultiPoint(
            inner
                .map(|c| coordinate(c).map(Point))
                .collect::<Result<_>>()?,
        )),
        Rule::multilinestring => {
            Geometry::MultiLineString(MultiLineString(inner.map(line).collect::<Result<_>>()?))
        }
        Rule::multipolygon => {
            Geometry::MultiPolygon(MultiPolygon(inner.map(polygon).collect::<Result<_>>()?))
        }
        Rule::geometry_collection => {
            Geometry::GeometryCollection(inner.map(geometry).collect::<Result<Vec<_>>>()?.into())
        }
        Rule::bbox => {
            let numbers = inner.map(|n| number(&n)).collect::<Result<Vec<_>>>()?;
            // 2D: minx, miny, maxx, maxy; 3D: minx, miny, minz, maxx, maxy, maxz.
            let [w, s, e, n] = match numbers[..] {
                [w, s, e, n] | [w, s, _, e, n, _] => [w, s, e, n],
                _ => return Err(malformed()),
            };
            if w > e || s > n {
                return Err(Cql2Error(
                    "BBOX must be (west, south, east, north) with west ≤ east and south ≤ north"
                        .into(),
                ));
            }
            Geometry::Polygon(
                geo::Rect::new(Coord { x: w, y: s }, Coord { x: e, y: n }).to_polygon(),
            )
        }
        _ => return Err(malformed()),
    })
}

fn coordinate(pair: Pair<'_, Rule>) -> Result<Coord<f64>> {
    let mut numbers = pair.into_inner();
    let x = number(&next(&mut numbers)?)?;
    let y = number(&next(&mut numbers)?)?;
    // A Z value, if any, is dropped: relations are evaluated in 2D.
    Ok(Coord { x, y })
}

fn line(pair: Pair<'_, Rule>) -> Result<LineString<f64>> {
    Ok(LineString(
        pair.into_inner().map(coordinate).collect::<Result<_>>()?,
    ))
}

fn polygon(pair: Pair<'_, Rule>) -> Result<Polygon<f64>> {
    let mut rings = pair.into_inner().map(line).collect::<Result<Vec<_>>>()?;
    if rings.is_empty() {
        return Err(malformed());
    }
    // Checked here: geo's `Polygon::new` would close an open ring silently.
    if rings
        .iter()
        .any(|ring| ring.0.len() < 4 || ring.0.first() != ring.0.last())
    {
        return Err(Cql2Error(
            "a polygon ring must be closed and have at least 4 points".into(),
        ));
    }
    let exterior = rings.remove(0);
    Ok(Polygon::new(exterior, rings))
}

/// Literal geometries must be usable as they are: lon/lat in range, lines of two points or more,
/// and valid (a self-intersecting polygon has no defined
/// relations).
fn check_geometry(geometry: &Geometry<f64>) -> Result<()> {
    use geo::{CoordsIter, Validation};
    if let Some(c) = geometry
        .coords_iter()
        .find(|c| !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y))
    {
        return Err(Cql2Error(format!(
            "coordinate ({} {}) is outside lon -180..180, lat -90..90",
            c.x, c.y
        )));
    }
    let mut problem = None;
    visit(geometry, &mut |g| match g {
        Geometry::LineString(l) if l.0.len() < 2 => {
            problem.get_or_insert(Cql2Error("a line needs at least 2 points".into()));
        }
        _ => {}
    });
    if let Some(problem) = problem {
        return Err(problem);
    }
    if let Err(errors) = geometry.check_validation() {
        return Err(Cql2Error(format!("invalid geometry: {errors}")));
    }
    Ok(())
}

/// Calls `f` on the geometry and every part of it.
fn visit(geometry: &Geometry<f64>, f: &mut dyn FnMut(&Geometry<f64>)) {
    match geometry {
        Geometry::MultiLineString(m) => {
            m.0.iter()
                .for_each(|l| visit(&Geometry::LineString(l.clone()), f))
        }
        Geometry::MultiPolygon(m) => {
            m.0.iter()
                .for_each(|p| visit(&Geometry::Polygon(p.clone()), f))
        }
        Geometry::GeometryCollection(c) => c.0.iter().for_each(|g| visit(g, f)),
        other => f(other),
    }
}

fn next<'i>(pairs: &mut impl Iterator<Item = Pair<'i, Rule>>) -> Result<Pair<'i, Rule>> {
    pairs.next().ok_or_else(malformed)
}

fn malformed() -> Cql2Error {
    Cql2Error("not valid CQL2 text".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str) -> Scalar {
        Scalar::Property(name.into())
    }

    #[test]
    fn precedence_and_keywords_are_case_insensitive() {
        let parsed = parse("a = 1 or b <> 'x' AND NOT c IS NULL").unwrap();
        assert_eq!(
            parsed,
            Expr::Or(vec![
                Expr::Compare {
                    left: prop("a"),
                    op: CompareOp::Eq,
                    right: Scalar::Number(1.0)
                },
                Expr::And(vec![
                    Expr::Compare {
                        left: prop("b"),
                        op: CompareOp::Ne,
                        right: Scalar::Text("x".into())
                    },
                    Expr::Not(Box::new(Expr::IsNull {
                        value: prop("c"),
                        negated: false
                    })),
                ]),
            ])
        );
    }

    #[test]
    fn advanced_comparisons_and_functions() {
        assert_eq!(
            parse("CASEI(ten) NOT LIKE 'b%n ''x'''").unwrap(),
            Expr::Like {
                value: Scalar::CaseInsensitive(Box::new(prop("ten"))),
                pattern: Scalar::Text("b%n 'x'".into()),
                negated: true
            }
        );
        assert_eq!(
            parse("\"Shape Area\" between -1.5e3 and .5").unwrap(),
            Expr::Between {
                value: prop("Shape Area"),
                low: Scalar::Number(-1500.0),
                high: Scalar::Number(0.5),
                negated: false
            }
        );
        assert_eq!(
            parse("code IN ('26740', '26743')").unwrap(),
            Expr::In {
                value: prop("code"),
                list: vec![Scalar::Text("26740".into()), Scalar::Text("26743".into())],
                negated: false
            }
        );
        // Keywords are whole words: `android`, `note`, `island` are property names.
        assert!(parse("android = note AND island IS NOT NULL").is_ok());
    }

    #[test]
    fn geometry_literals() {
        let Expr::Spatial { op, left, right } =
            parse("s_intersects(geometry, POLYGON((106 10, 107 10, 107 11, 106 10)))").unwrap()
        else {
            panic!("a spatial predicate")
        };
        assert_eq!(op, SpatialOp::Intersects);
        assert_eq!(left, GeometryOperand::Property("geometry".into()));
        assert!(matches!(
            right,
            GeometryOperand::Literal(Geometry::Polygon(_))
        ));
        for ok in [
            "S_WITHIN(geometry, BBOX(106.6, 10.7, 106.8, 10.9))",
            "S_CONTAINS(MULTIPOINT((1 2), 3 4), geometry)",
            "S_CROSSES(geometry, LINESTRING Z (1 2 3, 4 5 6))",
            "S_DISJOINT(geometry, GEOMETRYCOLLECTION(POINT(1 2), MULTILINESTRING((0 0, 1 1))))",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refusals_say_why() {
        for (bad, why) in [
            ("a =", "not valid CQL2 text at character 4"),
            ("a = 1 AND", "not valid CQL2 text"),
            ("'unterminated = a", "not valid CQL2 text"),
            ("S_INTERSECTS(geometry, POINT(200 10))", "outside lon"),
            (
                "S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 1)))",
                "closed",
            ),
            (
                "S_INTERSECTS(geometry, LINESTRING(0 0))",
                "at least 2 points",
            ),
            (
                "S_INTERSECTS(geometry, POLYGON((0 0, 2 2, 2 0, 0 2, 0 0)))",
                "invalid geometry",
            ),
            ("S_INTERSECTS(geometry, BBOX(10, 0, 0, 10))", "west ≤ east"),
            ("a = 1e999", "out of range"),
        ] {
            let error = parse(bad).unwrap_err().0;
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
