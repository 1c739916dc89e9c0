//! A checked [`Expr`] → a SQL condition on a layer table aliased `t`, with every literal bound as
//! a parameter and every property quoted after it was found among the layer's queryables.

use bando_core::layer::{FieldDef, FieldKind, quote_ident};
use geozero::{CoordDimensions, ToWkb};
use sqlx::Arguments;
use sqlx::postgres::PgArguments;

use super::{CompareOp, Cql2Error, Expr, GeometryOperand, Scalar, SpatialOp};

type Result<T> = std::result::Result<T, Cql2Error>;

/// The names a filter may use for a layer's geometry.
pub const GEOMETRY_PROPERTIES: [&str; 2] = ["geometry", "geom"];

/// A value bound to a `$n` parameter of a [`SqlFilter`].
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// `text`
    Text(String),
    /// `float8`
    Number(f64),
    /// `boolean`
    Bool(bool),
    /// WKB, lon/lat.
    Geometry(Vec<u8>),
}

impl SqlValue {
    /// Appends the value to a query's arguments.
    pub fn add_to(&self, arguments: &mut PgArguments) -> std::result::Result<(), sqlx::Error> {
        match self {
            Self::Text(v) => arguments.add(v.clone()),
            Self::Number(v) => arguments.add(*v),
            Self::Bool(v) => arguments.add(*v),
            Self::Geometry(v) => arguments.add(v.clone()),
        }
        .map_err(sqlx::Error::Encode)
    }
}

/// A SQL boolean expression and the values of its parameters, numbered from the `first_param`
/// given to [`to_sql`].
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    /// The condition, e.g. `((t."ten")::text = $7::text)`.
    pub sql: String,
    /// `$first_param`, `$first_param + 1`, …
    pub values: Vec<SqlValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Boolean,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }
}

/// Translates `expr` for a layer whose queryable attributes are `fields`.
pub fn to_sql(expr: &Expr, fields: &[FieldDef], first_param: usize) -> Result<SqlFilter> {
    let mut writer = Writer {
        fields,
        first_param,
        values: Vec::new(),
    };
    let sql = writer.expr(expr)?;
    Ok(SqlFilter {
        sql,
        values: writer.values,
    })
}

struct Writer<'a> {
    fields: &'a [FieldDef],
    first_param: usize,
    values: Vec<SqlValue>,
}

impl Writer<'_> {
    fn bind(&mut self, value: SqlValue, cast: &str) -> String {
        self.values.push(value);
        format!("${}::{cast}", self.first_param + self.values.len() - 1)
    }

    fn expr(&mut self, expr: &Expr) -> Result<String> {
        Ok(match expr {
            Expr::And(parts) => self.join(parts, " AND ")?,
            Expr::Or(parts) => self.join(parts, " OR ")?,
            Expr::Not(inner) => format!("(NOT {})", self.expr(inner)?),
            Expr::Literal(true) => "true".into(),
            Expr::Literal(false) => "false".into(),
            Expr::Compare { left, op, right } => {
                let (left, left_kind) = self.scalar(left)?;
                let (right, right_kind) = self.scalar(right)?;
                same_kind(left_kind, right_kind)?;
                let op = match op {
                    CompareOp::Eq => "=",
                    CompareOp::Ne => "<>",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                };
                format!("({left} {op} {right})")
            }
            Expr::Like {
                value,
                pattern,
                negated,
            } => {
                let value = self.scalar_of(value, Kind::Text, "LIKE")?;
                check_pattern(pattern)?;
                let pattern = self.scalar_of(pattern, Kind::Text, "LIKE")?;
                let not = if *negated { "NOT " } else { "" };
                format!("({value} {not}LIKE {pattern})")
            }
            Expr::Between {
                value,
                low,
                high,
                negated,
            } => {
                let value = self.scalar_of(value, Kind::Number, "BETWEEN")?;
                let low = self.scalar_of(low, Kind::Number, "BETWEEN")?;
                let high = self.scalar_of(high, Kind::Number, "BETWEEN")?;
                let not = if *negated { "NOT " } else { "" };
                format!("({value} {not}BETWEEN {low} AND {high})")
            }
            Expr::In {
                value,
                list,
                negated,
            } => {
                let (value, kind) = self.scalar(value)?;
                let list = list
                    .iter()
                    .map(|item| {
                        let (sql, item_kind) = self.scalar(item)?;
                        same_kind(kind, item_kind)?;
                        Ok(sql)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let not = if *negated { "NOT " } else { "" };
                format!("({value} {not}IN ({}))", list.join(", "))
            }
            Expr::IsNull { value, negated } => {
                let (value, _) = self.scalar(value)?;
                let not = if *negated { "NOT " } else { "" };
                format!("({value} IS {not}NULL)")
            }
            Expr::Spatial { op, left, right } => {
                let function = match op {
                    SpatialOp::Intersects => "ST_Intersects",
                    SpatialOp::Equals => "ST_Equals",
                    SpatialOp::Disjoint => "ST_Disjoint",
                    SpatialOp::Touches => "ST_Touches",
                    SpatialOp::Within => "ST_Within",
                    SpatialOp::Overlaps => "ST_Overlaps",
                    SpatialOp::Crosses => "ST_Crosses",
                    SpatialOp::Contains => "ST_Contains",
                };
                // GEOS evaluates only intersects/disjoint on collections; refuse rather than fail.
                if !matches!(op, SpatialOp::Intersects | SpatialOp::Disjoint)
                    && [left, right].iter().any(|g| {
                        matches!(
                            g,
                            GeometryOperand::Literal(geo::Geometry::GeometryCollection(_))
                        )
                    })
                {
                    return Err(Cql2Error(
                        "a GEOMETRYCOLLECTION literal works with S_INTERSECTS and S_DISJOINT only"
                            .into(),
                    ));
                }
                let left = self.geometry(left)?;
                let right = self.geometry(right)?;
                format!("{function}({left}, {right})")
            }
        })
    }

    fn join(&mut self, parts: &[Expr], separator: &str) -> Result<String> {
        let parts = parts
            .iter()
            .map(|p| self.expr(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(format!("({})", parts.join(separator)))
    }

    fn scalar_of(&mut self, scalar: &Scalar, wanted: Kind, operator: &str) -> Result<String> {
        let (sql, kind) = self.scalar(scalar)?;
        if kind != wanted {
            return Err(Cql2Error(format!(
                "{operator} takes {} operands, not {}",
                wanted.name(),
                kind.name()
            )));
        }
        Ok(sql)
    }

    fn scalar(&mut self, scalar: &Scalar) -> Result<(String, Kind)> {
        Ok(match scalar {
            Scalar::Property(name) => {
                let field = self.field(name)?;
                let (cast, kind) = match field.kind {
                    FieldKind::String => ("text", Kind::Text),
                    FieldKind::Number => ("float8", Kind::Number),
                    FieldKind::Boolean => ("boolean", Kind::Boolean),
                };
                (format!("(t.{})::{cast}", quote_ident(&field.name)), kind)
            }
            Scalar::Text(v) => (self.bind(SqlValue::Text(v.clone()), "text"), Kind::Text),
            Scalar::Number(v) => (self.bind(SqlValue::Number(*v), "float8"), Kind::Number),
            Scalar::Bool(v) => (self.bind(SqlValue::Bool(*v), "boolean"), Kind::Boolean),
            Scalar::CaseInsensitive(inner) => (
                format!("lower({})", self.scalar_of(inner, Kind::Text, "CASEI")?),
                Kind::Text,
            ),
            // PostgreSQL's unaccent rules cover Vietnamese: every tone mark and vowel diacritic,
            // đ/Đ (and Ð, U+00D0) → d/D. NFC first so decomposed input folds the same.
            Scalar::AccentInsensitive(inner) => (
                format!(
                    "unaccent('unaccent'::regdictionary, normalize({}, NFC))",
                    self.scalar_of(inner, Kind::Text, "ACCENTI")?
                ),
                Kind::Text,
            ),
        })
    }

    fn field(&self, name: &str) -> Result<&FieldDef> {
        if GEOMETRY_PROPERTIES.contains(&name) {
            return Err(Cql2Error(format!(
                "{name} is the geometry: compare it with S_INTERSECTS and the other spatial functions"
            )));
        }
        self.fields.iter().find(|f| f.name == name).ok_or_else(|| {
            Cql2Error(format!(
                "unknown property {name:?} (the collection's queryables list the properties)"
            ))
        })
    }

    fn geometry(&mut self, operand: &GeometryOperand) -> Result<String> {
        match operand {
            GeometryOperand::Property(name) if GEOMETRY_PROPERTIES.contains(&name.as_str()) => {
                Ok("t.geom".into())
            }
            GeometryOperand::Property(name) => {
                self.field(name)?;
                Err(Cql2Error(format!("{name} is not a geometry")))
            }
            GeometryOperand::Literal(geometry) => {
                let wkb = geometry
                    .to_wkb(CoordDimensions::xy())
                    .map_err(|e| Cql2Error(format!("geometry literal: {e}")))?;
                Ok(format!(
                    "ST_GeomFromWKB({}, 4326)",
                    self.bind(SqlValue::Geometry(wkb), "bytea")
                ))
            }
        }
    }
}

/// A LIKE pattern is a text literal, possibly in CASEI / ACCENTI (as CQL2's grammar has it), and
/// `\` escapes the character after it, so it cannot end a pattern.
fn check_pattern(pattern: &Scalar) -> Result<()> {
    match pattern {
        Scalar::CaseInsensitive(inner) | Scalar::AccentInsensitive(inner) => check_pattern(inner),
        Scalar::Text(text) => {
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                if c == '\\' && chars.next().is_none() {
                    return Err(Cql2Error(
                        "a LIKE pattern cannot end with the escape character \\".into(),
                    ));
                }
            }
            Ok(())
        }
        _ => Err(Cql2Error(
            "the pattern of LIKE must be a text literal ('…'), possibly in CASEI or ACCENTI".into(),
        )),
    }
}

fn same_kind(left: Kind, right: Kind) -> Result<()> {
    if left == right {
        Ok(())
    } else {
        Err(Cql2Error(format!(
            "cannot compare {} with {}",
            left.name(),
            right.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::cql2::parse_text;

    fn fields() -> Vec<FieldDef> {
        [
            ("ten", FieldKind::String),
            ("dan_so", FieldKind::Number),
            ("open", FieldKind::Boolean),
        ]
        .into_iter()
        .map(|(name, kind)| FieldDef {
            name: name.into(),
            source_name: name.into(),
            kind,
        })
        .collect()
    }

    fn sql(text: &str) -> std::result::Result<SqlFilter, String> {
        to_sql(&parse_text(text).map_err(|e| e.0)?, &fields(), 7).map_err(|e| e.0)
    }

    #[test]
    fn literals_are_bound_and_properties_quoted() {
        let filter = sql("CASEI(ACCENTI(ten)) LIKE 'ben%' AND dan_so >= 10000").unwrap();
        assert_eq!(
            filter.sql,
            "((lower(unaccent('unaccent'::regdictionary, normalize((t.\"ten\")::text, NFC))) LIKE $7::text) \
             AND ((t.\"dan_so\")::float8 >= $8::float8))"
        );
        assert_eq!(
            filter.values,
            vec![SqlValue::Text("ben%".into()), SqlValue::Number(10000.0)]
        );
        let injected = sql("ten = 'x''); DROP TABLE bando.layers; --'").unwrap();
        assert_eq!(injected.sql, "((t.\"ten\")::text = $7::text)");
    }

    #[test]
    fn spatial_literals_are_bound_as_wkb() {
        let filter = sql("S_INTERSECTS(geometry, POINT(106.7 10.77))").unwrap();
        assert_eq!(
            filter.sql,
            "ST_Intersects(t.geom, ST_GeomFromWKB($7::bytea, 4326))"
        );
        assert!(matches!(filter.values[..], [SqlValue::Geometry(_)]));
    }

    #[test]
    fn unknown_properties_and_type_mismatches_are_refused() {
        for (bad, why) in [
            ("colour = 'red'", "unknown property \"colour\""),
            ("\"ten; DROP TABLE x\" = 'a'", "unknown property"),
            ("ten = 5", "cannot compare text with number"),
            ("dan_so LIKE '1%'", "LIKE takes text operands"),
            (
                "ten BETWEEN 1 AND 2",
                "BETWEEN takes number operands, not text",
            ),
            ("open IN (TRUE, 'yes')", "cannot compare boolean with text"),
            ("geometry = 'x'", "is the geometry"),
            ("S_WITHIN(ten, BBOX(0,0,1,1))", "ten is not a geometry"),
            ("CASEI(dan_so) = 'x'", "CASEI takes text"),
            ("ten LIKE 'abc\\'", "cannot end with the escape character"),
            ("ten LIKE ten", "must be a text literal"),
        ] {
            let error = sql(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
