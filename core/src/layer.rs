//! The catalog's model of a published layer, and the naming rules for the SQL objects behind it.

use serde::{Deserialize, Serialize};

use crate::{CoreError, CoreResult};

/// Schema holding one table per published layer, and nothing else: tools that list it (QGIS,
/// Martin, GeoServer, ogr2ogr) see exactly the live layers.
pub const LAYER_SCHEMA: &str = "layers";

/// Schema of the tables an import loads before publishing (`_stg_job<id>…`).
pub const STAGING_SCHEMA: &str = "bando_staging";

/// Schema of the versions kept for rollback (`_prev_<layer id>`) and of tables found in the way of
/// a publish (`_orphan_job<id>`).
pub const HISTORY_SCHEMA: &str = "bando_history";

/// Who may see a layer. Enforcement lives in the server; the catalog records the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "bando.visibility", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone, without a key.
    Public,
    /// The owning agency and the agencies it grants.
    Restricted,
    /// The owning agency only.
    Private,
}

/// One attribute column of a layer table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    /// Column name in the layer table (a safe SQL identifier).
    pub name: String,
    /// The attribute's name in the source file, before it was made safe.
    pub source_name: String,
    /// Value type as TileJSON `vector_layers` names it: `String`, `Number` or `Boolean`.
    #[serde(rename = "type")]
    pub kind: FieldKind,
}

/// The type families an attribute can have in MVT / TileJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldKind {
    /// Text, dates and anything else that is written as a string.
    String,
    /// Integers and floating-point numbers.
    Number,
    /// true / false.
    Boolean,
}

/// A row of `bando.layers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Layer {
    /// Catalog id.
    pub id: i64,
    /// URL and table name of the layer.
    pub slug: String,
    /// Human title.
    pub title: String,
    /// Free text.
    pub description: String,
    /// OGC geometry type name, `Geometry` when mixed.
    pub geometry_type: String,
    /// EPSG code of the source data, when it had one.
    pub source_srid: Option<i32>,
    /// Description of the source CRS as read from the file.
    pub source_crs: Option<String>,
    /// WGS84 `[west, south, east, north]` of the data.
    pub bounds: Option<Vec<f64>>,
    /// Lowest zoom the layer is served at.
    pub minzoom: i16,
    /// Highest zoom the layer is served at.
    pub maxzoom: i16,
    /// Attribution shown by map clients.
    pub attribution: String,
    /// Owning agency slug.
    pub agency: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// Attribute columns.
    #[sqlx(json)]
    pub fields: Vec<FieldDef>,
    /// Number of features in the live table.
    pub feature_count: i64,
    /// Publish counter; part of tile URLs and cache keys.
    pub version: i32,
    /// Last publish.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Admin layout (boundary layers), e.g. `2025`.
    pub layout: Option<String>,
    /// First day the layer is valid.
    pub valid_from: Option<chrono::NaiveDate>,
    /// First day it is no longer valid.
    pub valid_to: Option<chrono::NaiveDate>,
    /// The table has generalised `geom_z5`, `geom_z8`, `geom_z10` columns.
    pub generalized: bool,
    /// Boundary layers: `city`, `district` or `ward`.
    pub admin_level: Option<String>,
    /// Content revision, from one database-wide sequence: changes on every publish, rollback
    /// and SQL edit of the layer, never repeats. Tile URLs carry it.
    pub revision: i64,
}

impl Layer {
    /// The live table, quoted: `"layers"."<slug>"`.
    pub fn qualified_table(&self) -> String {
        qualified_table(&self.slug)
    }
}

/// Checks a layer slug: lower-case ASCII letter first, then letters, digits or `_`, at most 63 bytes
/// (PostgreSQL's identifier limit), so it is usable as-is in URLs and table names.
pub fn validate_slug(name: &str) -> CoreResult<()> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 63 {
        Some("must be at most 63 characters")
    } else if !name.as_bytes()[0].is_ascii_lowercase() {
        Some("must start with a lower-case letter a-z")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("may contain only a-z, 0-9 and _")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CoreError::InvalidLayerName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Quotes an SQL identifier: wraps it in double quotes and doubles embedded quotes.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The schema a layer-related table lives in, which its name tells: a staging table
/// (`_stg_…`) in [`STAGING_SCHEMA`], a kept version (`_prev_…`, `_orphan_…`) or a retired layer
/// (`_retired_…`) in [`HISTORY_SCHEMA`], a live layer (its slug, which starts with a letter) in
/// [`LAYER_SCHEMA`].
pub fn schema_of(table: &str) -> &'static str {
    if table.starts_with("_stg_") {
        STAGING_SCHEMA
    } else if table.starts_with("_prev_")
        || table.starts_with("_orphan_")
        || table.starts_with("_retired_")
    {
        HISTORY_SCHEMA
    } else {
        LAYER_SCHEMA
    }
}

/// `"<schema>"."<table>"`, the schema chosen by [`schema_of`]: `"layers"."wards_2025"`,
/// `"bando_staging"."_stg_job12"`, `"bando_history"."_prev_3"`.
pub fn qualified_table(table: &str) -> String {
    format!("{}.{}", quote_ident(schema_of(table)), quote_ident(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_rule() {
        assert!(validate_slug("wards_2025").is_ok());
        for bad in [
            "",
            "Wards",
            "1wards",
            "wa-rds",
            "wards;drop",
            &"a".repeat(64),
        ] {
            assert!(validate_slug(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn quoting_doubles_embedded_quotes() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(qualified_table("x"), r#""layers"."x""#);
        assert_eq!(
            qualified_table("_stg_job7"),
            r#""bando_staging"."_stg_job7""#
        );
        assert_eq!(qualified_table("_prev_3"), r#""bando_history"."_prev_3""#);
    }
}
