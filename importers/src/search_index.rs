//! Keeping `bando.search_names` (the name search index) in step with a layer's live table.

use bando_core::layer::{FieldDef, qualified_table, quote_ident};
use sqlx::PgConnection;

use crate::error::ImportResult;

/// Columns taken as a feature's name, first found wins.
pub const NAME_COLUMNS: [&str; 9] = [
    "name",
    "ten",
    "ten_dt",
    "tenduong",
    "com_name",
    "dist_name",
    "fullname",
    "name_vi",
    "ten_duong",
];

/// Layers above this size are not indexed for search (their names are rarely what citizens look
/// for, and indexing would dominate the import time).
pub const MAX_SEARCHABLE_FEATURES: i64 = 200_000;

/// The name column of a layer, if it has one.
pub fn name_column(fields: &[FieldDef]) -> Option<&str> {
    NAME_COLUMNS
        .into_iter()
        .find(|c| fields.iter().any(|f| f.name == *c))
}

/// Where publishing takes a layer's search rows from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRows<'a> {
    /// Computed from the live table inside the publishing transaction.
    FromLiveTable,
    /// Prepared beforehand by [`prepare_names`] in this table (dropped once copied).
    Prepared(&'a str),
}

/// The search rows of `fid, name, folded, lon, lat` for a layer table, or `None` when the layer
/// is not indexed (no name column, or too large). The label point is on the feature's surface.
/// Lines of one name are one thing cut in pieces (a street in 40 segments, a canal): they are
/// found once, at the longest piece, so a search for "Lê Lợi" answers the street, not its
/// segments. Points and areas of one name are distinct places (bus stops, wards) and all stay.
fn name_rows_sql(
    table: &str,
    fields: &[FieldDef],
    feature_count: i64,
    slug: &str,
) -> Option<String> {
    let column = name_column(fields)?;
    if feature_count > MAX_SEARCHABLE_FEATURES {
        tracing::info!(
            layer = slug,
            feature_count,
            "too large to index for name search"
        );
        return None;
    }
    let name = quote_ident(column);
    Some(format!(
        "SELECT fid, name, bando.fold(name) AS folded, ST_X(p) AS lon, ST_Y(p) AS lat \
         FROM (SELECT fid, {name}::text AS name, ST_PointOnSurface(geom) AS p, \
                      ST_Dimension(geom) = 1 AS linear, \
                      row_number() OVER (PARTITION BY ST_Dimension(geom) = 1, {name}::text \
                                         ORDER BY ST_Length(geom) DESC, fid) AS piece \
               FROM {} WHERE nullif(trim({name}::text), '') IS NOT NULL) t \
         WHERE NOT linear OR piece = 1",
        qualified_table(table)
    ))
}

/// Computes the search rows of a staging table into `names_table` (same schema), so that the
/// publishing transaction only copies them: the label points are the costly part, and here they
/// can be computed on another connection while the staging table is indexed. Returns whether
/// the layer is indexed at all (no table is made when not).
pub async fn prepare_names(
    conn: &mut PgConnection,
    staging: &str,
    names_table: &str,
    fields: &[FieldDef],
    feature_count: i64,
    slug: &str,
) -> ImportResult<bool> {
    let Some(rows) = name_rows_sql(staging, fields, feature_count, slug) else {
        return Ok(false);
    };
    sqlx::query(&format!(
        "CREATE TABLE {} AS {rows}",
        qualified_table(names_table)
    ))
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Replaces the layer's rows of the search index with the names of its live table.
pub async fn reindex_names(
    tx: &mut PgConnection,
    layer_id: i64,
    slug: &str,
    fields: &[FieldDef],
    feature_count: i64,
    source: NameRows<'_>,
) -> ImportResult<()> {
    sqlx::query("DELETE FROM bando.search_names WHERE layer_id = $1")
        .bind(layer_id)
        .execute(&mut *tx)
        .await?;
    let rows = match source {
        NameRows::Prepared(table) => format!(
            "SELECT fid, name, folded, lon, lat FROM {}",
            qualified_table(table)
        ),
        NameRows::FromLiveTable => match name_rows_sql(slug, fields, feature_count, slug) {
            Some(rows) => rows,
            None => return Ok(()),
        },
    };
    sqlx::query(&format!(
        "INSERT INTO bando.search_names (layer_id, fid, name, folded, lon, lat) \
         SELECT $1, fid, name, folded, lon, lat FROM ({rows}) r"
    ))
    .bind(layer_id)
    .execute(&mut *tx)
    .await?;
    if let NameRows::Prepared(table) = source {
        sqlx::query(&format!("DROP TABLE {}", qualified_table(table)))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
