//! CQL2 text and CQL2-JSON → [`Expr`]: the cql2 crate parses both encodings into one
//! expression tree; this turns that tree into the subset bando evaluates (comparisons, `LIKE`,
//! `BETWEEN`, `IN`, `IS NULL`, `CASEI`/`ACCENTI`, spatial relations), refusing the rest with a
//! reason a client can act on.
//!
//! Kept by hand, and why: the crate's own SQL (`ToSqlAst`) inlines literal values and knows no
//! queryables, so the SQL is ours ([`super::to_sql`], bound parameters only); its geometry
//! literals are not checked (`literal_geometry`); and it recurses once per nesting level, so the
//! depth of a text filter is bounded here before the crate sees it. One shortfall of the crate's
//! grammar is accepted rather than patched: a number written without its leading zero (`.5`,
//! which the CQL2 BNF allows) is refused as not valid CQL2 text; `0.5` works.

use ::cql2::Expr as Parsed;

use super::literal_geometry;
use super::{CompareOp, Cql2Error, Expr, GeometryOperand, Scalar, SpatialOp};

type Result<T> = std::result::Result<T, Cql2Error>;

/// Longest filter accepted, in bytes: bounds parsing work (and so a request's cost).
pub const MAX_FILTER_LEN: usize = 64 * 1024;

/// Deepest nesting of parentheses, and most `NOT`s, accepted in a text filter: the crate's
/// parser recurses per level and overflows a thread's stack a few hundred levels down (about 60
/// in a debug build). Hand-written filters stay far below this.
const MAX_DEPTH: usize = 32;

fn err(reason: impl Into<String>) -> Cql2Error {
    Cql2Error(reason.into())
}

/// Parses a CQL2 text filter (`filter-lang=cql2-text`).
pub fn parse_text(text: &str) -> Result<Expr> {
    check_length(text)?;
    check_depth(text)?;
    let parsed = ::cql2::parse_text(text).map_err(|e| match e {
        ::cql2::Error::Pest(p) => {
            let (line, column) = match p.line_col {
                pest::error::LineColLocation::Pos(at)
                | pest::error::LineColLocation::Span(at, _) => at,
            };
            if line == 1 {
                err(format!("not valid CQL2 text at character {column}"))
            } else {
                err(format!(
                    "not valid CQL2 text at line {line}, character {column}"
                ))
            }
        }
        other => err(format!("not valid CQL2 text: {other}")),
    })?;
    condition(parsed)
}

/// Parses a CQL2-JSON filter (`filter-lang=cql2-json`, the JSON in the query string).
pub fn parse_json(text: &str) -> Result<Expr> {
    check_length(text)?;
    // serde_json's recursion limit (128 levels) bounds the depth here.
    let parsed = ::cql2::parse_json(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            err(format!(
                "not valid JSON at line {}, column {}",
                e.line(),
                e.column()
            ))
        } else {
            err(
                "not valid CQL2-JSON: expected {\"op\", \"args\"}, {\"property\"}, a literal, \
                 a GeoJSON geometry or {\"bbox\"}",
            )
        }
    })?;
    condition(parsed)
}

fn check_length(text: &str) -> Result<()> {
    if text.len() > MAX_FILTER_LEN {
        return Err(err(format!("longer than {MAX_FILTER_LEN} bytes")));
    }
    Ok(())
}

/// Refuses text nested deeper than [`MAX_DEPTH`] (parentheses, or `NOT`s, outside quotes).
fn check_depth(text: &str) -> Result<()> {
    let chars: Vec<char> = text.chars().collect();
    let (mut depth, mut deepest, mut nots) = (0usize, 0usize, 0usize);
    let mut quote: Option<char> = None;
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    for (i, &c) in chars.iter().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' => depth = depth.saturating_sub(1),
                'n' | 'N'
                    if !word(i.checked_sub(1).and_then(|p| chars.get(p)))
                        && chars.get(i..i + 3).is_some_and(|w| {
                            w.iter().collect::<String>().eq_ignore_ascii_case("not")
                        })
                        && !word(chars.get(i + 3)) =>
                {
                    nots += 1;
                }
                _ => {}
            },
        }
    }
    if deepest > MAX_DEPTH || nots > MAX_DEPTH {
        return Err(err(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    Ok(())
}

/// The boolean operators and predicates, by their canonical (crate) names.
const CONDITIONS: &[&str] = &[
    "and", "or", "not", "=", "<>", "<", "<=", ">", ">=", "like", "between", "in", "isNull",
];

fn is_condition(op: &str) -> bool {
    CONDITIONS.contains(&op) || op.starts_with("s_")
}

fn condition(parsed: Parsed) -> Result<Expr> {
    let Parsed::Operation { op, args } = parsed else {
        return match parsed {
            Parsed::Bool(b) => Ok(Expr::Literal(b)),
            other => Err(err(format!("{} is not a condition", describe(&other)))),
        };
    };
    let mut args: Vec<Parsed> = args.into_iter().map(|a| *a).collect();
    let arity = args.len();
    // Operands are taken from the end: `pop` gives the last one.
    let mut take = || {
        args.pop()
            .ok_or_else(|| err(format!("{op}: an operand is missing")))
    };
    let expr = match (op.as_str(), arity) {
        ("and", n) if n >= 2 => Expr::And(args.into_iter().map(condition).collect::<Result<_>>()?),
        ("or", n) if n >= 2 => Expr::Or(args.into_iter().map(condition).collect::<Result<_>>()?),
        ("not", 1) => negate(condition(take()?)?),
        ("=" | "<>" | "<" | "<=" | ">" | ">=", 2) => {
            let right = scalar(take()?)?;
            Expr::Compare {
                left: scalar(take()?)?,
                op: compare_op(&op),
                right,
            }
        }
        ("like", 2) => {
            let pattern = scalar(take()?)?;
            Expr::Like {
                value: scalar(take()?)?,
                pattern,
                negated: false,
            }
        }
        ("between", 3) => {
            let high = scalar(take()?)?;
            let low = scalar(take()?)?;
            Expr::Between {
                value: scalar(take()?)?,
                low,
                high,
                negated: false,
            }
        }
        ("in", 2) => {
            let Parsed::Array(list) = take()? else {
                return Err(err("IN takes a list: a IN (b, c)"));
            };
            if list.is_empty() {
                return Err(err("IN needs at least one value"));
            }
            let list = list
                .into_iter()
                .map(|i| scalar(*i))
                .collect::<Result<_>>()?;
            Expr::In {
                value: scalar(take()?)?,
                list,
                negated: false,
            }
        }
        ("isNull", 1) => Expr::IsNull {
            value: scalar(take()?)?,
            negated: false,
        },
        (spatial, 2) if spatial.starts_with("s_") => {
            let relation = spatial_op(spatial).ok_or_else(|| unsupported(spatial))?;
            let right = geometry_operand(take()?)?;
            Expr::Spatial {
                op: relation,
                left: geometry_operand(take()?)?,
                right,
            }
        }
        (known, n) if is_condition(known) => {
            return Err(err(format!("{known} cannot take {n} operand(s)")));
        }
        (other, _) => return Err(unsupported(other)),
    };
    Ok(expr)
}

/// `NOT` folded into the predicates that have a negated form (`NOT LIKE`, `IS NOT NULL`, …).
fn negate(expr: Expr) -> Expr {
    match expr {
        Expr::Like {
            value,
            pattern,
            negated,
        } => Expr::Like {
            value,
            pattern,
            negated: !negated,
        },
        Expr::Between {
            value,
            low,
            high,
            negated,
        } => Expr::Between {
            value,
            low,
            high,
            negated: !negated,
        },
        Expr::In {
            value,
            list,
            negated,
        } => Expr::In {
            value,
            list,
            negated: !negated,
        },
        Expr::IsNull { value, negated } => Expr::IsNull {
            value,
            negated: !negated,
        },
        other => Expr::Not(Box::new(other)),
    }
}

fn compare_op(op: &str) -> CompareOp {
    match op {
        "=" => CompareOp::Eq,
        "<>" => CompareOp::Ne,
        "<" => CompareOp::Lt,
        "<=" => CompareOp::Le,
        ">" => CompareOp::Gt,
        _ => CompareOp::Ge,
    }
}

fn spatial_op(op: &str) -> Option<SpatialOp> {
    Some(match op {
        "s_intersects" => SpatialOp::Intersects,
        "s_equals" => SpatialOp::Equals,
        "s_disjoint" => SpatialOp::Disjoint,
        "s_touches" => SpatialOp::Touches,
        "s_within" => SpatialOp::Within,
        "s_overlaps" => SpatialOp::Overlaps,
        "s_crosses" => SpatialOp::Crosses,
        "s_contains" => SpatialOp::Contains,
        _ => return None,
    })
}

/// Why an operation the crate parsed is not evaluated here.
fn unsupported(op: &str) -> Cql2Error {
    const GEOMETRIES: [&str; 7] = [
        "POINT",
        "LINESTRING",
        "POLYGON",
        "MULTIPOINT",
        "MULTILINESTRING",
        "MULTIPOLYGON",
        "GEOMETRYCOLLECTION",
    ];
    match op {
        "+" | "-" | "*" | "/" | "%" | "^" | "div" => err("arithmetic is not supported"),
        o if o.starts_with("t_") => err(format!("{o}: temporal operators are not supported")),
        o if o.starts_with("a_") => err(format!("{o}: array operators are not supported")),
        o if GEOMETRIES.iter().any(|g| g.eq_ignore_ascii_case(o)) => {
            err(format!("malformed {} literal", o.to_uppercase()))
        }
        o => err(format!("unknown function {o}")),
    }
}

fn describe(parsed: &Parsed) -> &'static str {
    match parsed {
        Parsed::Property { .. } => "a property",
        Parsed::Literal(_) => "a text",
        Parsed::Float(_) => "a number",
        Parsed::Bool(_) => "a boolean",
        Parsed::Null => "NULL",
        Parsed::Array(_) => "a list",
        Parsed::Geometry(_) | Parsed::BBox { .. } => "a geometry",
        Parsed::Date { .. } | Parsed::Timestamp { .. } | Parsed::Interval { .. } => {
            "a temporal value"
        }
        Parsed::Operation { .. } => "an operation",
    }
}

fn scalar(parsed: Parsed) -> Result<Scalar> {
    Ok(match parsed {
        Parsed::Property { property } => Scalar::Property(property),
        Parsed::Literal(s) => Scalar::Text(s),
        Parsed::Float(f) if f.is_finite() => Scalar::Number(f),
        Parsed::Float(f) => return Err(err(format!("number {f} is out of range"))),
        Parsed::Bool(b) => Scalar::Bool(b),
        Parsed::Operation { op, mut args }
            if args.len() == 1 && (op == "casei" || op == "accenti") =>
        {
            let inner = Box::new(scalar(*args.remove(0))?);
            if op == "casei" {
                Scalar::CaseInsensitive(inner)
            } else {
                Scalar::AccentInsensitive(inner)
            }
        }
        Parsed::Operation { op, args } if op == "casei" || op == "accenti" => {
            return Err(err(format!(
                "{} takes one operand, not {}",
                op.to_uppercase(),
                args.len()
            )));
        }
        Parsed::Operation { op, .. } if is_condition(&op) => {
            return Err(err(format!("{op} is a condition, not a value")));
        }
        Parsed::Operation { op, .. } => return Err(unsupported(&op)),
        Parsed::Date { .. } | Parsed::Timestamp { .. } | Parsed::Interval { .. } => {
            return Err(err(
                "temporal values (DATE, TIMESTAMP, INTERVAL) are not supported: no queryable is temporal",
            ));
        }
        other => return Err(err(format!("{} cannot be compared here", describe(&other)))),
    })
}

fn geometry_operand(parsed: Parsed) -> Result<GeometryOperand> {
    let geometry = match parsed {
        Parsed::Property { property } => return Ok(GeometryOperand::Property(property)),
        Parsed::BBox { bbox } => {
            let numbers = bbox
                .into_iter()
                .map(|b| match *b {
                    Parsed::Float(f) if f.is_finite() => Ok(f),
                    _ => Err(err("BBOX takes numbers")),
                })
                .collect::<Result<Vec<_>>>()?;
            literal_geometry::from_bbox(&numbers)?
        }
        // A WKT literal serializes as GeoJSON too: text and JSON share one reader.
        Parsed::Geometry(g) => {
            let value =
                serde_json::to_value(&g).map_err(|e| err(format!("malformed geometry: {e}")))?;
            literal_geometry::from_geojson(&value)?
        }
        Parsed::Operation { op, .. } => return Err(unsupported(&op)),
        other => {
            return Err(err(format!(
                "spatial functions take geometries, not {}",
                describe(&other)
            )));
        }
    };
    literal_geometry::check(&geometry)?;
    Ok(GeometryOperand::Literal(geometry))
}

#[cfg(test)]
mod tests {
    use geo::Geometry;

    use super::*;

    fn prop(name: &str) -> Scalar {
        Scalar::Property(name.into())
    }

    #[test]
    fn precedence_and_keywords_are_case_insensitive() {
        let parsed = parse_text("a = 1 or b <> 'x' AND NOT c IS NULL").unwrap();
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
                    // `NOT` folds into the predicate's negated form.
                    Expr::IsNull {
                        value: prop("c"),
                        negated: true
                    },
                ]),
            ])
        );
    }

    #[test]
    fn advanced_comparisons_and_functions() {
        assert_eq!(
            parse_text("CASEI(ten) NOT LIKE 'b%n ''x'''").unwrap(),
            Expr::Like {
                value: Scalar::CaseInsensitive(Box::new(prop("ten"))),
                pattern: Scalar::Text("b%n 'x'".into()),
                negated: true
            }
        );
        assert_eq!(
            parse_text("\"Shape Area\" between -1.5e3 and 0.5").unwrap(),
            Expr::Between {
                value: prop("Shape Area"),
                low: Scalar::Number(-1500.0),
                high: Scalar::Number(0.5),
                negated: false
            }
        );
        assert_eq!(
            parse_text("code IN ('26740', '26743')").unwrap(),
            Expr::In {
                value: prop("code"),
                list: vec![Scalar::Text("26740".into()), Scalar::Text("26743".into())],
                negated: false
            }
        );
        // Keywords are whole words: `android`, `note`, `island` are property names.
        assert!(parse_text("android = note AND island IS NOT NULL").is_ok());
    }

    #[test]
    fn geometry_literals() {
        let Expr::Spatial { op, left, right } =
            parse_text("s_intersects(geometry, POLYGON((106 10, 107 10, 107 11, 106 10)))")
                .unwrap()
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
            "S_CONTAINS(MULTIPOINT((1 2), (3 4)), geometry)",
            "S_CROSSES(geometry, LINESTRING Z (1 2 3, 4 5 6))",
            "S_DISJOINT(geometry, GEOMETRYCOLLECTION(POINT(1 2), MULTILINESTRING((0 0, 1 1))))",
        ] {
            assert!(parse_text(ok).is_ok(), "{ok}");
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
            let error = parse_text(bad).unwrap_err().0;
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn json_and_text_are_one_expression() {
        for (text, json) in [
            (
                "name = 'Bến Thành' AND NOT population < 10000",
                r#"{"op": "and", "args": [{"op": "=", "args": [{"property": "name"}, "Bến Thành"]},
                    {"op": "not", "args": [{"op": "<", "args": [{"property": "population"}, 10000]}]}]}"#,
            ),
            (
                "ACCENTI(ten) LIKE ACCENTI('ben%')",
                r#"{"op": "like", "args": [{"op": "accenti", "args": [{"property": "ten"}]},
                    {"op": "accenti", "args": ["ben%"]}]}"#,
            ),
            (
                "code NOT IN ('26740', '26743')",
                r#"{"op": "not", "args": [{"op": "in", "args": [{"property": "code"}, ["26740", "26743"]]}]}"#,
            ),
            (
                "S_WITHIN(geometry, POLYGON((106 10, 107 10, 107 11, 106 10)))",
                r#"{"op": "s_within", "args": [{"property": "geometry"},
                    {"type": "Polygon", "coordinates": [[[106, 10], [107, 10], [107, 11], [106, 10]]]}]}"#,
            ),
            (
                "S_INTERSECTS(geometry, BBOX(106.6, 10.7, 106.8, 10.9))",
                r#"{"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [106.6, 10.7, 106.8, 10.9]}]}"#,
            ),
        ] {
            assert_eq!(
                parse_text(text).unwrap(),
                parse_json(json).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn json_refusals_say_why() {
        for (bad, why) in [
            ("{\"op\": \"=\"", "not valid JSON at line 1"),
            (
                "{\"op\": \"=\", \"args\": [{\"property\": \"a\"}]}",
                "cannot take 1 operand",
            ),
            ("{\"property\": \"a\"}", "a property is not a condition"),
            ("{\"op\": \"+\", \"args\": [1, 2]}", "arithmetic"),
            (
                "{\"op\": \"s_intersects\", \"args\": [{\"property\": \"geometry\"}, {\"type\": \"Point\", \"coordinates\": [200, 10]}]}",
                "outside lon",
            ),
        ] {
            let error = parse_json(bad).unwrap_err().0;
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("{}a = 1{}", "(".repeat(1000), ")".repeat(1000));
        assert!(parse_text(&deep).unwrap_err().0.contains("nested deeper"));
        let nots = format!("{}a = 1", "NOT ".repeat(1000));
        assert!(parse_text(&nots).unwrap_err().0.contains("nested deeper"));
        let fine = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse_text(&fine).is_ok());
    }
}
