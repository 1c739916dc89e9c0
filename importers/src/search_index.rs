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

/// Replaces the layer's rows of the search index with the names of its live table.
pub async fn reindex_names(
    tx: &mut PgConnection,
    layer_id: i64,
    slug: &str,
    fields: &[FieldDef],
    feature_count: i64,
) -> ImportResult<()> {
    sqlx::query("DELETE FROM bando.search_names WHERE layer_id = $1")
        .bind(layer_id)
        .execute(&mut *tx)
        .await?;
    let Some(column) = name_column(fields) else {
        return Ok(());
    };
    if feature_count > MAX_SEARCHABLE_FEATURES {
        tracing::info!(
            layer = slug,
            feature_count,
            "too large to index for name search"
        );
        return Ok(());
    }
    let name = quote_ident(column);
    sqlx::query(&format!(
        "INSERT INTO bando.search_names (layer_id, fid, name, folded, lon, lat) \
         SELECT $1, fid, {name}::text, bando.fold({name}::text), ST_X(p), ST_Y(p) \
         FROM (SELECT fid, {name}, ST_PointOnSurface(geom) AS p FROM {}) t \
         WHERE nullif(trim({name}::text), '') IS NOT NULL",
        qualified_table(slug)
    ))
    .bind(layer_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
