//! Atomic publish: the staging table becomes the live layer table, the catalog row is created or
//! its version bumped, the job is marked done and the server is notified — all in one
//! transaction, so readers see either the old layer or the new one, never a mix.

use bando_core::audit::{self, Actor, AuditEntry};
use bando_core::layer::{FieldDef, Visibility, qualified_table, quote_ident, schema_of};
use bando_core::notify::PublishNotice;
use sqlx::PgConnection;

use crate::error::{ImportError, ImportResult};
use crate::job::{JobFinish, finish_job};
use crate::merge::{PublishMode, merge};
use crate::search_index::{NameRows, reindex_names};

/// Catalog values of the layer being published.
#[derive(Debug, Clone)]
pub struct LayerEntry<'a> {
    /// Slug (= live table name).
    pub slug: &'a str,
    /// Title; `None` keeps the current one (or the slug for a new layer).
    pub title: Option<&'a str>,
    /// Description; `None` keeps the current one.
    pub description: Option<&'a str>,
    /// Attribution; `None` keeps the current one.
    pub attribution: Option<&'a str>,
    /// Zoom range; `None` keeps the current one.
    pub minzoom: Option<i16>,
    /// Zoom range; `None` keeps the current one.
    pub maxzoom: Option<i16>,
    /// OGC geometry type.
    pub geometry_type: &'a str,
    /// EPSG code of the source.
    pub source_srid: Option<i32>,
    /// Label of the source CRS.
    pub source_crs: &'a str,
    /// WGS84 extent.
    pub bounds: Option<[f64; 4]>,
    /// Attribute columns.
    pub fields: &'a [FieldDef],
    /// Rows.
    pub feature_count: i64,
    /// Admin layout (e.g. `2025`); `None` keeps the current one.
    pub layout: Option<&'a str>,
    /// Start of validity; `None` keeps the current one.
    pub valid_from: Option<chrono::NaiveDate>,
    /// End of validity (exclusive); `None` keeps the current one.
    pub valid_to: Option<chrono::NaiveDate>,
    /// The table has the generalised `geom_z*` columns.
    pub generalized: bool,
    /// Boundary layers: city, district or ward; `None` keeps the current one.
    pub admin_level: Option<&'a str>,
    /// Owning agency: a new layer gets it (default `hcmc`), an existing one must have it.
    pub agency: Option<&'a str>,
    /// Visibility; `None` keeps the current one (public for a new layer).
    pub visibility: Option<Visibility>,
}

/// Renames a table to `to`, moving it to the schema that name belongs in
/// ([`bando_core::layer::schema_of`]): a staging table becomes the live layer, the live layer a
/// kept version, and back. Renamed first, within its schema, then moved (`SET SCHEMA` keeps
/// the name, and no two tables of a schema share one).
pub async fn move_table(conn: &mut PgConnection, from: &str, to: &str) -> ImportResult<()> {
    sqlx::query(&format!(
        "ALTER TABLE {} RENAME TO {}",
        qualified_table(from),
        quote_ident(to)
    ))
    .execute(&mut *conn)
    .await?;
    let (from_schema, to_schema) = (schema_of(from), schema_of(to));
    if from_schema != to_schema {
        sqlx::query(&format!(
            "ALTER TABLE {}.{} SET SCHEMA {}",
            quote_ident(from_schema),
            quote_ident(to),
            quote_ident(to_schema)
        ))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Name the previous version of a layer is kept under, for rollback, until the next publish.
pub fn previous_table_name(layer_id: i64) -> String {
    format!("_prev_{layer_id}")
}

/// Swaps `staging` in as the live table of `entry.slug` and records everything; returns the new
/// catalog version. `names` are the search rows of `staging` if prepared (a merge with the live
/// layer ignores them and indexes the merged table).
pub async fn publish(
    conn: &mut PgConnection,
    staging: &str,
    names: NameRows<'_>,
    entry: &LayerEntry<'_>,
    job: &JobFinish,
    mode: &PublishMode,
    actor: &Actor,
) -> ImportResult<i32> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // Serialise publishers of the same layer.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('bando.layer:' || $1))")
        .bind(entry.slug)
        .execute(&mut *tx)
        .await?;
    let previous: Option<CatalogRow> = sqlx::query_as(
        "SELECT id, agency, bounds, fields, feature_count FROM bando.layers WHERE slug = $1 FOR UPDATE",
    )
    .bind(entry.slug)
    .fetch_optional(&mut *tx)
    .await?;
    if let (Some(row), Some(agency)) = (&previous, entry.agency)
        && row.agency != agency
    {
        return Err(ImportError::NotOwner {
            layer: entry.slug.to_owned(),
            agency: agency.to_owned(),
        });
    }
    let live_exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(qualified_table(entry.slug))
        .fetch_one(&mut *tx)
        .await?;
    let mut merged = None;
    if let (true, Some(CatalogRow { id, fields, .. }), false) =
        (live_exists, &previous, *mode == PublishMode::Replace)
    {
        // This publish announces its change itself, precisely; the table's edit triggers keep
        // quiet (migrations/0008).
        sqlx::query("SET LOCAL bando.publishing = 'on'")
            .execute(&mut *tx)
            .await?;
        merged = Some(
            merge(
                &mut tx,
                mode,
                staging,
                entry.slug,
                &previous_table_name(*id),
                fields,
                entry.fields,
            )
            .await?,
        );
    } else if live_exists {
        // A table without a catalog row (made by hand) is kept aside under the job's name.
        let keep_as = match &previous {
            Some(row) => previous_table_name(row.id),
            None => format!("_orphan_job{}", job.job_id),
        };
        sqlx::query(&format!(
            "DROP TABLE IF EXISTS {}",
            qualified_table(&keep_as)
        ))
        .execute(&mut *tx)
        .await?;
        move_table(&mut tx, entry.slug, &keep_as).await?;
    }
    let merged_stats;
    let merged_fields;
    let staged_bounds = entry.bounds;
    let mut entry: LayerEntry<'_> = entry.clone();
    match &merged {
        None => move_table(&mut tx, staging, entry.slug).await?,
        Some(m) => {
            // The live layer now holds old and new features: describe all of it.
            merged_stats = live_stats(&mut tx, entry.slug).await?;
            merged_fields = m.fields.clone();
            entry.fields = &merged_fields;
            entry.feature_count = merged_stats.0;
            entry.bounds = merged_stats.1;
            entry.geometry_type = &merged_stats.2;
            entry.generalized = m.generalized;
        }
    }

    // Edits made later directly in SQL notify servers too (idempotent for merged tables).
    sqlx::query("SELECT bando.watch_edits($1)")
        .bind(entry.slug)
        .execute(&mut *tx)
        .await?;

    let (layer_id, version, owner): (i64, i32, String) =
        sqlx::query_as(include_str!("sql/upsert_layer.sql"))
            .bind(entry.slug)
            .bind(entry.title)
            .bind(entry.description)
            .bind(entry.geometry_type)
            .bind(entry.source_srid)
            .bind(entry.source_crs)
            .bind(entry.bounds.map(|b| b.to_vec()))
            .bind(entry.minzoom)
            .bind(entry.maxzoom)
            .bind(entry.attribution)
            .bind(sqlx::types::Json(entry.fields))
            .bind(entry.feature_count)
            .bind(entry.layout)
            .bind(entry.valid_from)
            .bind(entry.valid_to)
            .bind(entry.generalized)
            .bind(entry.admin_level)
            .bind(entry.agency)
            .bind(entry.visibility)
            .fetch_one(&mut *tx)
            .await?;
    audit::record(
        &mut *tx,
        actor,
        AuditEntry {
            action: "publish",
            agency: Some(&owner),
            target: entry.slug,
            details: serde_json::json!({
                "version": version, "job": job.job_id, "mode": mode.as_str(),
                "features": entry.feature_count,
            }),
        },
    )
    .await?;

    let names = match (&merged, names) {
        (Some(_), NameRows::Prepared(table)) => {
            sqlx::query(&format!("DROP TABLE {}", qualified_table(table)))
                .execute(&mut *tx)
                .await?;
            NameRows::FromLiveTable
        }
        (_, names) => names,
    };
    reindex_names(
        &mut tx,
        layer_id,
        entry.slug,
        entry.fields,
        entry.feature_count,
        names,
    )
    .await?;
    finish_job(&mut tx, job, Some(version)).await?;

    let changed = match (&merged, &previous) {
        // Only the new features and those they replaced changed.
        (Some(m), _) => Changed::Within(union_bounds(m.removed_bounds, staged_bounds)),
        (None, Some(old))
            if live_exists
                && old.fields.0.as_slice() == entry.fields
                && old.feature_count <= MAX_FEATURES_TO_DIFF =>
        {
            changed_extent(
                &mut tx,
                &previous_table_name(old.id),
                entry.slug,
                entry.fields,
            )
            .await?
        }
        (None, old) => Changed::Within(union_bounds(
            old.as_ref()
                .and_then(|row| row.bounds.clone())
                .and_then(|b| <[f64; 4]>::try_from(b).ok()),
            entry.bounds,
        )),
    };
    let notice = PublishNotice {
        id: layer_id,
        layer: entry.slug.to_owned(),
        version,
        bounds: match changed {
            Changed::Within(bounds) => bounds,
            Changed::Nothing => None,
        },
        areas: merged
            .as_ref()
            .map(|m| m.changed_areas.clone())
            .unwrap_or_default(),
        unchanged: changed == Changed::Nothing,
        revision: None,
        seq: None,
    };
    bando_core::notify::announce(&mut tx, &notice).await?;
    tx.commit().await?;
    Ok(version)
}

/// The current catalog row of a layer being published.
#[derive(sqlx::FromRow)]
struct CatalogRow {
    id: i64,
    agency: String,
    bounds: Option<Vec<f64>>,
    fields: sqlx::types::Json<Vec<FieldDef>>,
    feature_count: i64,
}

/// Above this many features a republish is announced as changing its whole extent, rather than
/// holding the publish transaction for a row-by-row comparison.
const MAX_FEATURES_TO_DIFF: i64 = 500_000;

/// What a publish changed, for servers to drop exactly the tiles concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Changed {
    /// The new version is row for row the old one.
    Nothing,
    /// Features within this WGS84 extent changed (`None`: anywhere).
    Within(Option<[f64; 4]>),
}

/// The extent of the features that differ between the old and new table of a layer (same columns):
/// rows added, removed or modified, compared whole by feature id.
async fn changed_extent(
    tx: &mut PgConnection,
    old: &str,
    new: &str,
    fields: &[FieldDef],
) -> ImportResult<Changed> {
    let row = |alias: &str| {
        let columns: Vec<String> = fields
            .iter()
            .map(|f| format!("{alias}.{}", quote_ident(&f.name)))
            .collect();
        format!("ROW({})", columns.join(", "))
    };
    let same = if fields.is_empty() {
        "n.geom = o.geom".to_owned()
    } else {
        format!(
            "n.geom = o.geom AND {} IS NOT DISTINCT FROM {}",
            row("n"),
            row("o")
        )
    };
    let sql = include_str!("sql/changed_extent.sql")
        .replace("{old}", &qualified_table(old))
        .replace("{new}", &qualified_table(new))
        .replace("{same}", &same);
    let (w, s, e, n): (Option<f64>, Option<f64>, Option<f64>, Option<f64>) =
        sqlx::query_as(&sql).fetch_one(&mut *tx).await?;
    Ok(match (w, s, e, n) {
        (Some(w), Some(s), Some(e), Some(n)) => Changed::Within(Some([w, s, e, n])),
        _ => Changed::Nothing,
    })
}

#[derive(sqlx::FromRow)]
struct LiveStats {
    count: i64,
    w: Option<f64>,
    s: Option<f64>,
    e: Option<f64>,
    n: Option<f64>,
    types: Vec<String>,
}

/// Count, extent and geometry type of a live table.
async fn live_stats(
    tx: &mut PgConnection,
    slug: &str,
) -> ImportResult<(i64, Option<[f64; 4]>, String)> {
    let t = qualified_table(slug);
    let LiveStats {
        count,
        w,
        s,
        e,
        n,
        types,
    } = sqlx::query_as(&format!(
        "SELECT (SELECT count(*) FROM {t}) AS count, ST_XMin(ext) AS w, ST_YMin(ext) AS s, \
             ST_XMax(ext) AS e, ST_YMax(ext) AS n, \
             ARRAY(SELECT DISTINCT GeometryType(geom) FROM {t}) AS types \
             FROM (SELECT ST_Extent(geom)::geometry AS ext FROM {t}) e"
    ))
    .fetch_one(&mut *tx)
    .await?;
    let bounds = match (w, s, e, n) {
        (Some(w), Some(s), Some(e), Some(n)) => Some([w, s, e, n]),
        _ => None,
    };
    let kind = match types.as_slice() {
        [one] => crate::staging::ogc_type_name(one),
        _ => "Geometry".to_owned(),
    };
    Ok((count, bounds, kind))
}

/// The extent covering both the old and the new data: everything a client may see change.
pub fn union_bounds(a: Option<[f64; 4]>, b: Option<[f64; 4]>) -> Option<[f64; 4]> {
    match (a, b) {
        (Some(a), Some(b)) => Some([
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[2].max(b[2]),
            a[3].max(b[3]),
        ]),
        (a, b) => a.or(b),
    }
}
