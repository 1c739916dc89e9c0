//! CQL2 filters (OGC API – Features Part 3) for `/ogc/collections/{id}/items?filter=…`, in
//! CQL2 text or CQL2-JSON: parsed by the cql2 crate into a typed expression ([`parse`]),
//! checked against a layer's queryables and turned into SQL with bound values ([`to_sql`]).
//! Geometry literals are CRS84 lon/lat.

mod literal_geometry;
mod parse;
mod to_sql;

pub use parse::{parse_json, parse_text};
pub use to_sql::{SqlFilter, SqlValue, to_sql};

/// Why a filter was refused: the text is shown to the client as the `filter` parameter's reason.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct Cql2Error(pub String);

/// A boolean CQL2 expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All of them.
    And(Vec<Expr>),
    /// Any of them.
    Or(Vec<Expr>),
    /// The negation.
    Not(Box<Expr>),
    /// `TRUE` / `FALSE`.
    Literal(bool),
    /// `a = b`, `a < b`, …
    Compare {
        /// Left operand.
        left: Scalar,
        /// Operator.
        op: CompareOp,
        /// Right operand.
        right: Scalar,
    },
    /// `a [NOT] LIKE 'pattern'` (`%` any run, `_` one character, `\` escapes).
    Like {
        /// The text tested.
        value: Scalar,
        /// The pattern.
        pattern: Scalar,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `a [NOT] BETWEEN low AND high` (inclusive).
    Between {
        /// The number tested.
        value: Scalar,
        /// Lower bound.
        low: Scalar,
        /// Upper bound.
        high: Scalar,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `a [NOT] IN (b, c, …)`.
    In {
        /// The value tested.
        value: Scalar,
        /// The candidates.
        list: Vec<Scalar>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `a IS [NOT] NULL`.
    IsNull {
        /// The value tested.
        value: Scalar,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `S_INTERSECTS(a, b)` and the other spatial relations.
    Spatial {
        /// The relation.
        op: SpatialOp,
        /// First geometry.
        left: GeometryOperand,
        /// Second geometry.
        right: GeometryOperand,
    },
}

/// A scalar operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A queryable property, by name.
    Property(String),
    /// `'text'`.
    Text(String),
    /// A number literal.
    Number(f64),
    /// `TRUE` / `FALSE` as a value.
    Bool(bool),
    /// `CASEI(x)`: compared ignoring case.
    CaseInsensitive(Box<Scalar>),
    /// `ACCENTI(x)`: compared ignoring accents (Vietnamese diacritics and tone marks, đ → d).
    AccentInsensitive(Box<Scalar>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The spatial relations of the Spatial Functions conformance class (DE-9IM, as PostGIS's
/// `ST_*` predicates of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialOp {
    /// `S_INTERSECTS`
    Intersects,
    /// `S_EQUALS`
    Equals,
    /// `S_DISJOINT`
    Disjoint,
    /// `S_TOUCHES`
    Touches,
    /// `S_WITHIN`
    Within,
    /// `S_OVERLAPS`
    Overlaps,
    /// `S_CROSSES`
    Crosses,
    /// `S_CONTAINS`
    Contains,
}

/// A spatial operand: the layer's geometry, or a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum GeometryOperand {
    /// A property name (the layer's geometry is `geometry`).
    Property(String),
    /// A WKT or BBOX literal, lon/lat.
    Literal(geo::Geometry<f64>),
}
