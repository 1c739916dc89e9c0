//! Reading the layer catalog (`bando.layers`).

use sqlx::PgExecutor;

use crate::CoreResult;
use crate::layer::Layer;

/// Every layer in the catalog, ordered by slug.
pub async fn list_layers(db: impl PgExecutor<'_>) -> CoreResult<Vec<Layer>> {
    Ok(sqlx::query_as(include_str!("sql/list_layers.sql"))
        .fetch_all(db)
        .await?)
}

/// One layer by slug, if it exists.
pub async fn get_layer(db: impl PgExecutor<'_>, slug: &str) -> CoreResult<Option<Layer>> {
    Ok(sqlx::query_as(include_str!("sql/get_layer.sql"))
        .bind(slug)
        .fetch_optional(db)
        .await?)
}
