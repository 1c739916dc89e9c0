//! Retiring layers without losing them: `retire` takes a layer off every surface at once (its
//! catalog row is deleted in one transaction, which notifies every server: catalogs, tiles and
//! composites, OGC, search, ward and nearest indexes lose it, and its cached tiles are dropped),
//! keeping its table (`bando_history._retired_<id>`), catalog row and grants in
//! `bando.retired_layers`; `restore` puts it all back under the same id with a new revision;
//! `purge` drops it for good, on request or once its `purge_after` has passed. Each is recorded
//! in the audit log.

use bando_core::audit::{self, Actor, AuditEntry};
use bando_core::layer::{FieldDef, qualified_table, validate_slug};
use bando_core::notify::PublishNotice;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::error::{ImportError, ImportResult};
use crate::publish::{move_table, previous_table_name};

/// A retired layer, restorable until `purge_after`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RetiredLayer {
    /// Its slug.
    pub layer: String,
    /// The catalog id it had and gets back.
    pub layer_id: i64,
    /// The agency that owned it.
    pub agency: String,
    /// Its title.
    pub title: String,
    /// Features it held.
    pub feature_count: i64,
    /// When it was retired.
    pub retired_at: DateTime<Utc>,
    /// Who retired it (`key 12 of health`, `cli:alice`).
    pub retired_by: String,
    /// When it is purged, unless restored first.
    pub purge_after: DateTime<Utc>,
}

const RETIRED_COLUMNS: &str = "SELECT slug AS layer, layer_id, agency, \
     coalesce(catalog_row->>'title', slug) AS title, \
     coalesce((catalog_row->>'feature_count')::bigint, 0) AS feature_count, \
     retired_at, coalesce(retired_by->>'name', '') AS retired_by, purge_after \
     FROM bando.retired_layers";

fn retired_table_name(layer_id: i64) -> String {
    format!("_retired_{layer_id}")
}

/// Serialises changes of one layer slug (publishes, rollbacks, retire, restore) in `tx`.
async fn lock_slug(tx: &mut PgConnection, slug: &str) -> ImportResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('bando.layer:' || $1))")
        .bind(slug)
        .execute(tx)
        .await?;
    Ok(())
}

/// Retires live layer `slug`, restorable for `keep_days` days; `actor` is recorded.
pub async fn retire(
    pool: &PgPool,
    slug: &str,
    keep_days: u32,
    actor: &Actor,
) -> ImportResult<RetiredLayer> {
    validate_slug(slug)?;
    let mut tx = pool.begin().await?;
    lock_slug(&mut tx, slug).await?;
    let layer: Option<(i64, String)> =
        sqlx::query_as("SELECT id, agency FROM bando.layers WHERE slug = $1 FOR UPDATE")
            .bind(slug)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((layer_id, agency)) = layer else {
        return Err(ImportError::NoSuchLayer(format!("no layer {slug:?}")));
    };
    let actor_json = serde_json::to_value(actor).unwrap_or_default();
    let (retired_at, purge_after): (DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as(include_str!("sql/retire_layer.sql"))
            .bind(layer_id)
            .bind(&actor_json)
            .bind(i32::try_from(keep_days).unwrap_or(i32::MAX))
            .fetch_one(&mut *tx)
            .await?;
    move_table(&mut tx, slug, &retired_table_name(layer_id)).await?;
    // Cascades to its grants and search rows; the delete trigger tells every server.
    sqlx::query("DELETE FROM bando.layers WHERE id = $1")
        .bind(layer_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        actor,
        AuditEntry {
            action: "retire",
            agency: Some(&agency),
            target: slug,
            details: serde_json::json!({ "layer_id": layer_id, "purge_after": purge_after }),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(layer = slug, %retired_at, %purge_after, "layer retired");
    Ok(find_retired(pool, slug).await?.unwrap_or(RetiredLayer {
        layer: slug.to_owned(),
        layer_id,
        agency,
        title: slug.to_owned(),
        feature_count: 0,
        retired_at,
        retired_by: actor.name.clone(),
        purge_after,
    }))
}

/// The latest retirement of `slug`, if it is still kept.
pub async fn find_retired(pool: &PgPool, slug: &str) -> ImportResult<Option<RetiredLayer>> {
    Ok(sqlx::query_as(&format!(
        "{RETIRED_COLUMNS} WHERE slug = $1 ORDER BY retired_at DESC, layer_id DESC LIMIT 1"
    ))
    .bind(slug)
    .fetch_optional(pool)
    .await?)
}

/// Retired layers still kept, newest first; of `agency` only when given.
pub async fn list_retired(pool: &PgPool, agency: Option<&str>) -> ImportResult<Vec<RetiredLayer>> {
    Ok(sqlx::query_as(&format!(
        "{RETIRED_COLUMNS} WHERE $1::text IS NULL OR agency = $1 \
         ORDER BY retired_at DESC, layer_id DESC"
    ))
    .bind(agency)
    .fetch_all(pool)
    .await?)
}

/// What `restore_layer.sql` returns.
#[derive(sqlx::FromRow)]
struct RestoredRow {
    id: i64,
    version: i32,
    fields: sqlx::types::Json<Vec<FieldDef>>,
    feature_count: i64,
    bounds: Option<Vec<f64>>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    /// The layer, live again.
    pub layer: String,
    /// Its catalog id (the one it had).
    pub layer_id: i64,
    /// Features it holds.
    pub feature_count: i64,
}

/// Puts the latest retired `slug` back live, as it was; refused if a live layer has the name.
pub async fn restore(pool: &PgPool, slug: &str, actor: &Actor) -> ImportResult<RestoreOutcome> {
    validate_slug(slug)?;
    let mut tx = pool.begin().await?;
    lock_slug(&mut tx, slug).await?;
    let retired: Option<(i64, String)> = sqlx::query_as(
        "SELECT layer_id, agency FROM bando.retired_layers WHERE slug = $1 \
         ORDER BY retired_at DESC, layer_id DESC LIMIT 1 FOR UPDATE",
    )
    .bind(slug)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((layer_id, agency)) = retired else {
        return Err(ImportError::NoSuchLayer(format!(
            "no retired layer {slug:?} (never retired, restored or purged)"
        )));
    };
    let taken: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bando.layers WHERE slug = $1)")
            .bind(slug)
            .fetch_one(&mut *tx)
            .await?;
    if taken {
        return Err(ImportError::Conflict(format!(
            "a live layer {slug:?} was published after this one was retired; retire it first"
        )));
    }
    move_table(&mut tx, &retired_table_name(layer_id), slug).await?;
    let RestoredRow {
        id,
        version,
        fields,
        feature_count,
        bounds,
    } = sqlx::query_as(include_str!("sql/restore_layer.sql"))
        .bind(layer_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("SELECT bando.watch_edits($1)")
        .bind(slug)
        .execute(&mut *tx)
        .await?;
    crate::search_index::reindex_names(
        &mut tx,
        id,
        slug,
        &fields,
        feature_count,
        crate::search_index::NameRows::FromLiveTable,
    )
    .await?;
    sqlx::query("DELETE FROM bando.retired_layers WHERE layer_id = $1")
        .bind(layer_id)
        .execute(&mut *tx)
        .await?;
    let notice = PublishNotice {
        id,
        layer: slug.to_owned(),
        version,
        bounds: bounds.and_then(|b| <[f64; 4]>::try_from(b).ok()),
        areas: Vec::new(),
        unchanged: false,
        revision: None,
        seq: None,
    };
    bando_core::notify::announce(&mut tx, &notice).await?;
    audit::record(
        &mut *tx,
        actor,
        AuditEntry {
            action: "restore",
            agency: Some(&agency),
            target: slug,
            details: serde_json::json!({ "layer_id": layer_id }),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(layer = slug, "layer restored");
    Ok(RestoreOutcome {
        layer: slug.to_owned(),
        layer_id,
        feature_count,
    })
}

/// Drops the latest retired `slug` for good: its table, its kept previous version, its record.
pub async fn purge(pool: &PgPool, slug: &str, actor: &Actor) -> ImportResult<RetiredLayer> {
    validate_slug(slug)?;
    let Some(retired) = find_retired(pool, slug).await? else {
        return Err(ImportError::NoSuchLayer(format!(
            "no retired layer {slug:?} (never retired, restored or purged)"
        )));
    };
    purge_one(pool, &retired, actor).await?;
    Ok(retired)
}

/// Purges every retired layer whose `purge_after` has passed; returns them.
pub async fn purge_expired(pool: &PgPool, actor: &Actor) -> ImportResult<Vec<RetiredLayer>> {
    let expired: Vec<RetiredLayer> = sqlx::query_as(&format!(
        "{RETIRED_COLUMNS} WHERE purge_after <= now() ORDER BY purge_after"
    ))
    .fetch_all(pool)
    .await?;
    for retired in &expired {
        purge_one(pool, retired, actor).await?;
    }
    Ok(expired)
}

async fn purge_one(pool: &PgPool, retired: &RetiredLayer, actor: &Actor) -> ImportResult<()> {
    let mut tx = pool.begin().await?;
    lock_slug(&mut tx, &retired.layer).await?;
    let gone = sqlx::query("DELETE FROM bando.retired_layers WHERE layer_id = $1")
        .bind(retired.layer_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 0 {
        // Restored or purged meanwhile (by another server's sweep, say).
        return Ok(());
    }
    for table in [
        retired_table_name(retired.layer_id),
        previous_table_name(retired.layer_id),
    ] {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", qualified_table(&table)))
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        AuditEntry {
            action: "purge",
            agency: Some(&retired.agency),
            target: &retired.layer,
            details: serde_json::json!({ "layer_id": retired.layer_id, "retired_at": retired.retired_at }),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(layer = %retired.layer, "retired layer purged");
    Ok(())
}
