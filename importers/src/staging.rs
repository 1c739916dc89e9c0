//! The staging table a job loads into, and how it is readied (ids, repairs, indexes, statistics)
//! before it is published.

use bando_core::layer::{FieldDef, FieldKind, qualified_table, quote_ident};
use gdal::vector::OGRFieldType;
use sqlx::PgConnection;

use crate::error::{ImportError, ImportResult};
use crate::reader::ValidationPolicy;
use crate::source::PlannedField;

/// Name of the staging table of job `job_id` (in schema `bando_staging`, see
/// [`bando_core::layer::schema_of`]).
pub fn staging_table_name(job_id: i64) -> String {
    format!("_stg_job{job_id}")
}

/// Name of the table the search rows of staging table `staging` are prepared in (same schema;
/// left-overs are cleaned up with the staging table).
pub fn staged_names_table(staging: &str) -> String {
    format!("{staging}_names")
}

/// PostgreSQL type of a column for an OGR field type. Numbers are stored as `double precision`
/// or `bigint`, never as the width/precision the file declares: declared widths are often wrong
/// (the 2019 ward DBF declares numeric(19,11) and holds values that overflow it).
pub fn column_type(ogr_type: u32) -> &'static str {
    match ogr_type {
        OGRFieldType::OFTInteger => "integer",
        OGRFieldType::OFTInteger64 => "bigint",
        OGRFieldType::OFTReal => "double precision",
        OGRFieldType::OFTDate => "date",
        OGRFieldType::OFTDateTime => "timestamptz",
        _ => "text",
    }
}

/// TileJSON type family of an OGR field type.
pub fn field_kind(ogr_type: u32) -> FieldKind {
    match ogr_type {
        OGRFieldType::OFTInteger | OGRFieldType::OFTInteger64 | OGRFieldType::OFTReal => {
            FieldKind::Number
        }
        _ => FieldKind::String,
    }
}

/// Catalog description of the fields.
pub fn field_defs(fields: &[PlannedField]) -> Vec<FieldDef> {
    fields
        .iter()
        .map(|f| FieldDef {
            name: f.column.clone(),
            source_name: f.source_name.clone(),
            kind: field_kind(f.ogr_type),
        })
        .collect()
}

/// Zooms with a pre-generalised geometry column `geom_z{zoom}` in every layer table; tiles at
/// zoom ≤ z read the column of the smallest such z (see `bando.generalize`).
pub const GENERALIZED_ZOOMS: [u8; 3] = [5, 8, 10];

/// `CREATE TABLE` of the staging table: `fid`, the attributes and `geom`. The derived geometry
/// columns are added once the rows are final and their type is known
/// ([`typed_derived_columns_sql`]).
pub fn create_table_sql(table: &str, fields: &[PlannedField]) -> String {
    let mut sql = format!("CREATE TABLE {} (fid bigint", qualified_table(table));
    for field in fields {
        sql.push_str(&format!(
            ", {} {}",
            quote_ident(&field.column),
            column_type(field.ogr_type)
        ));
    }
    sql.push_str(", geom geometry(Geometry, 4326) NOT NULL)");
    sql
}

/// Geometry columns are stored uncompressed (`EXTERNAL`): coordinates do not compress (the 2019
/// wards' `geom` + `geom_3857` take 4.28 MB with lz4 tried, 4.26 MB plain), yet PostgreSQL tries
/// on every large row: ~15 % of a polygon layer's `COPY`, and a decompression on every read.
/// This is for `geom` of a new staging table; [`typed_derived_columns_sql`] keeps it so.
pub fn uncompressed_geometry_sql(table: &str) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN geom SET STORAGE EXTERNAL",
        qualified_table(table)
    )
}

/// Finishes a staging table whose rows are final, in one rewrite: the key on `fid`, `geom` typed
/// by what it holds (`geometry(MultiPolygon, 4326)`; `Geometry` for mixed layers) so that
/// `geometry_columns` tells GIS tools the type, and the derived columns, generated from `geom`
/// so that they follow every later edit, including edits made directly in SQL: `geom_3857` for
/// tiles and, unless `generalize` is false (points), the per-zoom generalised `geom_z*`. All
/// stored uncompressed (see [`uncompressed_geometry_sql`]).
pub fn typed_derived_columns_sql(table: &str, geometry_type: &str, generalize: bool) -> String {
    let kind = if geometry_type.eq_ignore_ascii_case("Geometry") {
        "Geometry"
    } else {
        geometry_type
    };
    let mut parts = vec![
        "ALTER COLUMN fid SET NOT NULL".to_owned(),
        "ADD PRIMARY KEY (fid)".to_owned(),
        format!("ALTER COLUMN geom TYPE geometry({kind}, 4326)"),
        "ALTER COLUMN geom SET STORAGE EXTERNAL".to_owned(),
        format!(
            "ADD COLUMN geom_3857 geometry({kind}, 3857) \
             GENERATED ALWAYS AS (bando.to_web_mercator(geom)) STORED"
        ),
        "ALTER COLUMN geom_3857 SET STORAGE EXTERNAL".to_owned(),
    ];
    for zoom in GENERALIZED_ZOOMS.into_iter().filter(|_| generalize) {
        parts.push(format!(
            "ADD COLUMN geom_z{zoom} geometry({kind}, 3857) \
             GENERATED ALWAYS AS (bando.generalize(geom, {zoom})) STORED"
        ));
        parts.push(format!("ALTER COLUMN geom_z{zoom} SET STORAGE EXTERNAL"));
    }
    format!(
        "ALTER TABLE {} {}",
        qualified_table(table),
        parts.join(", ")
    )
}

/// `COPY ... FROM STDIN` matching the rows the reader produces.
pub fn copy_sql(table: &str, fields: &[PlannedField]) -> String {
    let mut columns = vec!["fid".to_owned()];
    columns.extend(fields.iter().map(|f| quote_ident(&f.column)));
    columns.push("geom".to_owned());
    format!(
        "COPY {} ({}) FROM STDIN",
        qualified_table(table),
        columns.join(", ")
    )
}

/// What readying the table changed.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Geometries made valid.
    pub repaired: u64,
    /// Invalid geometries dropped (policy `skip`).
    pub skipped_invalid: u64,
    /// Geometries that became empty when repaired and were dropped.
    pub dropped_after_repair: u64,
    /// Number of rows left (counted by [`index`]).
    pub feature_count: i64,
    /// WGS84 extent.
    pub bounds: Option<[f64; 4]>,
    /// OGC geometry type of the layer, `Geometry` when mixed.
    pub geometry_type: String,
}

/// Repairs invalid geometries (keeping their type), drops empty ones, renumbers ids if the
/// source's were not unique, unifies single/multi types, then types the geometry and adds the
/// key and derived columns ([`typed_derived_columns_sql`]): after this the rows are final.
pub async fn repair(
    conn: &mut PgConnection,
    table: &str,
    fids_unique: bool,
    policy: ValidationPolicy,
    generalize: bool,
) -> ImportResult<Prepared> {
    let t = qualified_table(table);
    let mut repaired = 0;
    let mut skipped_invalid = 0;
    match policy {
        ValidationPolicy::Repair => {
            repaired = sqlx::query(&format!(
                "UPDATE {t} SET geom = ST_MakeValid(geom, 'method=structure') WHERE NOT ST_IsValid(geom)"
            ))
            .execute(&mut *conn)
            .await?
            .rows_affected();
        }
        ValidationPolicy::Skip => {
            skipped_invalid = sqlx::query(&format!("DELETE FROM {t} WHERE NOT ST_IsValid(geom)"))
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
        ValidationPolicy::Fail => {
            let first: Option<(Option<i64>, String)> = sqlx::query_as(&format!(
                "SELECT fid, ST_IsValidReason(geom) FROM {t} WHERE NOT ST_IsValid(geom) LIMIT 1"
            ))
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((fid, reason)) = first {
                tracing::warn!(?fid, %reason, "invalid geometry");
                return Err(ImportError::Validation {
                    feature: format!("#{}", fid.map_or_else(|| "?".to_owned(), |f| f.to_string())),
                    reason: "invalid_geometry",
                });
            }
        }
    }
    let dropped_after_repair = sqlx::query(&format!("DELETE FROM {t} WHERE ST_IsEmpty(geom)"))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if !fids_unique {
        // Source ids missing or repeated (e.g. a folder of files each numbering from 0): number rows.
        sqlx::query(&format!(
            "WITH n AS (SELECT ctid, row_number() OVER () AS rn FROM {t}) \
             UPDATE {t} SET fid = n.rn FROM n WHERE {t}.ctid = n.ctid"
        ))
        .execute(&mut *conn)
        .await?;
    }
    let types = geometry_types(conn, &t).await?;
    let geometry_type = unify_geometry_type(conn, &t, &types).await?;
    // Here, not in `index`: altering the table takes an exclusive lock, which would wait for
    // readers of the staging table on another connection.
    sqlx::query(&typed_derived_columns_sql(
        table,
        &geometry_type,
        generalize,
    ))
    .execute(&mut *conn)
    .await?;
    Ok(Prepared {
        repaired,
        skipped_invalid,
        dropped_after_repair,
        feature_count: 0,
        bounds: None,
        geometry_type,
    })
}

/// Builds the spatial indexes of a repaired staging table and gathers its statistics
/// (the count and extent go into `repaired`). The generalised `geom_z*` columns are left out of
/// `ANALYZE`: no index or join uses them, and their statistics cost as much as the others'.
pub async fn index(
    conn: &mut PgConnection,
    table: &str,
    fields: &[PlannedField],
    repaired: Prepared,
) -> ImportResult<Prepared> {
    let t = qualified_table(table);
    for column in ["geom", "geom_3857"] {
        sqlx::query(&format!(
            "CREATE INDEX {} ON {t} USING gist ({column})",
            quote_ident(&format!("{table}_{column}_idx"))
        ))
        .execute(&mut *conn)
        .await?;
    }
    let mut analyzed = vec!["fid".to_owned()];
    analyzed.extend(fields.iter().map(|f| quote_ident(&f.column)));
    analyzed.extend(["geom".to_owned(), "geom_3857".to_owned()]);
    // A 3,000-row sample (statistics target 10) instead of 30,000: the planner only needs the
    // rough size and extent to pick the spatial index, and sampling a large layer's geometries
    // at the default target took longer than indexing it (33,000 roads: 233 vs 40 ms).
    // Autovacuum refreshes the statistics at the server's target later.
    sqlx::query("SET default_statistics_target = 10")
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!("ANALYZE {t} ({})", analyzed.join(", ")))
        .execute(&mut *conn)
        .await?;
    sqlx::query("RESET default_statistics_target")
        .execute(&mut *conn)
        .await?;

    let stats_sql = include_str!("sql/staging_stats.sql").replace("{table}", &t);
    let row: Option<(i64, f64, f64, f64, f64)> = sqlx::query_as(&format!(
        "SELECT feature_count, west, south, east, north FROM ({stats_sql}) s"
    ))
    .fetch_optional(&mut *conn)
    .await?;
    let (feature_count, bounds) = match row {
        Some((n, w, s, e, north)) => (n, Some([w, s, e, north])),
        None => (0, None),
    };
    Ok(Prepared {
        feature_count,
        bounds,
        ..repaired
    })
}

async fn geometry_types(conn: &mut PgConnection, t: &str) -> ImportResult<Vec<String>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT DISTINCT GeometryType(geom) FROM {t} ORDER BY 1"
    ))
    .fetch_all(&mut *conn)
    .await?)
}

/// Documented rule for mixed types: single and multi of the same kind (Polygon + MultiPolygon)
/// are promoted to multi; different kinds (points with polygons) stay as they are and the layer
/// is typed `Geometry`.
async fn unify_geometry_type(
    conn: &mut PgConnection,
    t: &str,
    types: &[String],
) -> ImportResult<String> {
    let kinds: std::collections::BTreeSet<&str> = types
        .iter()
        .map(|ty| ty.strip_prefix("MULTI").unwrap_or(ty))
        .collect();
    let name = match (types.len(), kinds.len()) {
        (0, _) => return Ok("Geometry".to_owned()),
        (1, _) => types[0].clone(),
        (_, 1) => {
            sqlx::query(&format!(
                "UPDATE {t} SET geom = ST_Multi(geom) WHERE GeometryType(geom) NOT LIKE 'MULTI%'"
            ))
            .execute(&mut *conn)
            .await?;
            format!("MULTI{}", kinds.first().copied().unwrap_or_default())
        }
        _ => return Ok("Geometry".to_owned()),
    };
    Ok(ogc_type_name(&name))
}

/// `MULTIPOLYGON` → `MultiPolygon`.
pub fn ogc_type_name(upper: &str) -> String {
    const NAMES: [&str; 7] = [
        "Point",
        "LineString",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ];
    NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(upper))
        .map_or_else(|| "Geometry".to_owned(), |n| (*n).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_ogc_case() {
        assert_eq!(ogc_type_name("MULTIPOLYGON"), "MultiPolygon");
        assert_eq!(ogc_type_name("POINT"), "Point");
        assert_eq!(ogc_type_name("CURVEPOLYGON"), "Geometry");
    }
}
