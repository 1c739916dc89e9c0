//! `rollback`: puts the previous version of a layer back live, in one transaction. The version
//! it replaces becomes the new "previous", so a rollback can be undone the same way.

use bando_core::audit::{self, Actor, AuditEntry};
use bando_core::layer::{qualified_table, validate_slug};
use bando_core::notify::PublishNotice;
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{ImportError, ImportResult};
use crate::publish::{previous_table_name, union_bounds};

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackOutcome {
    /// The layer.
    pub layer: String,
    /// The catalog version now live (a new number: clients' caches must not mix them up).
    pub version: i32,
    /// The version whose data is live again.
    pub restored_version: i32,
}

/// What `rollback_layer.sql` returns.
#[derive(sqlx::FromRow)]
struct SwappedRow {
    version: i32,
    fields: sqlx::types::Json<Vec<bando_core::layer::FieldDef>>,
    feature_count: i64,
    bounds: Option<Vec<f64>>,
    old_bounds: Option<Vec<f64>>,
    restored: i32,
}

/// Rolls `slug` back to its previous version; `actor` is recorded in the audit log.
pub async fn rollback(pool: &PgPool, slug: &str, actor: &Actor) -> ImportResult<RollbackOutcome> {
    validate_slug(slug)?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('bando.layer:' || $1))")
        .bind(slug)
        .execute(&mut *tx)
        .await?;
    let layer: Option<(i64, String)> =
        sqlx::query_as("SELECT id, agency FROM bando.layers WHERE slug = $1 FOR UPDATE")
            .bind(slug)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((layer_id, owner)) = layer else {
        return Err(ImportError::InvalidOption {
            field: "layer",
            reason: format!("no layer {slug:?}"),
        });
    };
    let previous = previous_table_name(layer_id);
    let has_previous: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(qualified_table(&previous))
        .fetch_one(&mut *tx)
        .await?;
    let row: Option<SwappedRow> = if has_previous {
        sqlx::query_as(include_str!("sql/rollback_layer.sql"))
            .bind(slug)
            .fetch_optional(&mut *tx)
            .await?
    } else {
        None
    };
    let Some(SwappedRow {
        version,
        fields,
        feature_count,
        bounds,
        old_bounds,
        restored,
    }) = row
    else {
        return Err(ImportError::InvalidOption {
            field: "layer",
            reason: format!("layer {slug:?} has no previous version to roll back to"),
        });
    };
    let swap = format!("_swap_{layer_id}");
    for (from, to) in [
        (slug, swap.as_str()),
        (previous.as_str(), slug),
        (swap.as_str(), previous.as_str()),
    ] {
        crate::publish::move_table(&mut tx, from, to).await?;
    }
    // A version kept from before edit tracking existed gets its triggers now (idempotent).
    sqlx::query("SELECT bando.watch_edits($1)")
        .bind(slug)
        .execute(&mut *tx)
        .await?;
    crate::search_index::reindex_names(
        &mut tx,
        layer_id,
        slug,
        &fields,
        feature_count,
        crate::search_index::NameRows::FromLiveTable,
    )
    .await?;
    let to_array = |b: Option<Vec<f64>>| b.and_then(|b| <[f64; 4]>::try_from(b).ok());
    let notice = PublishNotice {
        id: layer_id,
        layer: slug.to_owned(),
        version,
        bounds: union_bounds(to_array(bounds), to_array(old_bounds)),
        areas: Vec::new(),
        unchanged: false,
        revision: None,
        seq: None,
    };
    bando_core::notify::announce(&mut tx, &notice).await?;
    sqlx::query(
        "INSERT INTO bando.import_jobs (layer_slug, source_path, mode, status, published_version, \
         report, finished_at, duration_ms) \
         VALUES ($1, '', 'rollback', 'succeeded', $2, jsonb_build_object('restored_version', $3::int), now(), 0)",
    )
    .bind(slug)
    .bind(version)
    .bind(restored)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        AuditEntry {
            action: "rollback",
            agency: Some(&owner),
            target: slug,
            details: serde_json::json!({ "version": version, "restored_version": restored }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(RollbackOutcome {
        layer: slug.to_owned(),
        version,
        restored_version: restored,
    })
}
