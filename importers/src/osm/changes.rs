//! Applying an OSM change file (`.osc`, `.osc.gz`, as OSM's replication publishes them) to the
//! themes of an imported extract: created, modified and deleted objects by OSM id.
//!
//! The middle tables take the new versions; then every object whose drawing may have changed is
//! redrawn — the changed objects, the ways through a moved node, the multipolygons using a
//! changed way — and each theme gets, in one transaction with the others, exactly those rows
//! replaced or removed ([`PublishMode::Patch`]). Servers are told the boxes of the changed
//! features only, so only those tiles are rebuilt. A row redrawn identical to the live one (a tag
//! no theme shows changed) is not a change.
//!
//! What is not applied, and said in the job's report: objects at or below the version already
//! stored ("already applied": replication files overlap), modifications and deletions of objects
//! the extract never had ("not in the data"), new objects outside the import's area. A file with
//! nothing new and something already applied is older than the data: the job fails and nothing
//! changes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use bando_core::layer::qualified_table;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::areas::{assemble, linework};
use super::draw::{Drawer, planned_fields};
use super::elements::{Kind, Node, Relation, Way, feature_id};
use super::import::{fail_jobs, theme_slug};
use super::middle::{self, Tables};
use super::themes::{Shape, THEMES, Theme};
use super::xml::{Action, Change, ChangeFile, Object, read_change_file};
use crate::error::{ImportError, ImportResult};
use crate::import::{ImportRequest, elapsed_ms};
use crate::job::{JobFinish, JobStart, JobStatus, finish_job, start_job};
use crate::merge::PublishMode;
use crate::publish::{LayerEntry, publish};
use crate::search_index::NameRows;
use crate::staging::{
    copy_sql, create_table_sql, index, repair, staging_table_name, uncompressed_geometry_sql,
};

/// What applying a change file did to one theme.
#[derive(Debug, Clone, Serialize)]
pub struct ThemeChange {
    /// The theme's layer.
    pub layer: String,
    /// Its catalog version now (`None`: unchanged).
    pub version: Option<i32>,
    /// Rows added or replaced.
    pub upserted: u64,
    /// Rows removed.
    pub removed: u64,
}

/// The outcome of a change file.
#[derive(Debug, Clone, Serialize)]
pub struct ChangesOutcome {
    /// Job id.
    pub job_id: i64,
    /// The extract's prefix.
    pub prefix: String,
    /// Objects in the file.
    pub objects: u64,
    /// Objects applied to the data.
    pub applied: u64,
    /// Objects at or below the version already stored.
    pub already_applied: u64,
    /// Modified or deleted objects the data never had.
    pub not_in_data: u64,
    /// New objects outside the import's area.
    pub outside_area: u64,
    /// Themes that changed.
    pub themes: Vec<ThemeChange>,
    /// Things worth a look.
    pub warnings: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
}

impl ChangesOutcome {
    /// One-paragraph human summary.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "job {}: change file applied to {} — {} of {} objects applied",
            self.job_id, self.prefix, self.applied, self.objects
        );
        for (count, what) in [
            (self.already_applied, "already applied"),
            (self.not_in_data, "not in the data"),
            (self.outside_area, "new, outside the area"),
        ] {
            if count > 0 {
                text.push_str(&format!(", {count} {what}"));
            }
        }
        text.push_str(&format!(", {} ms", self.duration_ms));
        if self.themes.is_empty() {
            text.push_str("\n  no theme changed");
        }
        for t in &self.themes {
            text.push_str(&format!(
                "\n  {} version {}: {} added or replaced, {} removed",
                t.layer,
                t.version.map_or_else(|| "-".to_owned(), |v| v.to_string()),
                t.upserted,
                t.removed
            ));
        }
        for w in &self.warnings {
            text.push_str(&format!("\n  warning: {w}"));
        }
        text
    }
}

/// Whether a path names an OSM change file (`.osc`, `.osc.gz`).
pub fn is_change_file(path: &std::path::Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    name.ends_with(".osc") || name.ends_with(".osc.gz")
}

/// Applies the change file at `request.path` to the extract imported as `request.layer`.
/// `request.area` bounds where new objects are taken.
pub async fn apply_changes(pool: &PgPool, request: &ImportRequest) -> ImportResult<ChangesOutcome> {
    let started = Instant::now();
    let prefix = request.layer.clone();
    let mut conn = pool.acquire().await?.detach();
    crate::queue::sweep(&mut conn).await?;
    let source_path = request.path.display().to_string();
    let job_id = start_job(
        &mut conn,
        &JobStart {
            layer: &prefix,
            source_path: &source_path,
            mode: PublishMode::Patch {
                deleted: Vec::new(),
            }
            .as_str(),
            policy: request.policy.as_str(),
            agency: request.agency.as_deref(),
        },
    )
    .await?;
    match apply(&mut conn, request, job_id, started).await {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            fail_jobs(&mut conn, &[job_id], &error).await;
            Err(error)
        }
    }
}

/// Objects the change file leaves as they are, by reason.
#[derive(Debug, Default)]
struct Unapplied {
    already_applied: u64,
    not_in_data: u64,
    outside_area: u64,
}

async fn apply(
    conn: &mut PgConnection,
    request: &ImportRequest,
    job_id: i64,
    started: Instant,
) -> ImportResult<ChangesOutcome> {
    let prefix = &request.layer;
    let data_timestamp: Option<Option<chrono::DateTime<chrono::Utc>>> =
        sqlx::query_scalar("SELECT data_timestamp FROM bando.osm_sources WHERE prefix = $1")
            .bind(prefix)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(data_timestamp) = data_timestamp else {
        return Err(ImportError::InvalidOption {
            field: "layer",
            reason: format!(
                "no OSM extract was imported as {prefix:?}; import one first \
                 (bando import extract.osm.pbf --layer {prefix})"
            ),
        });
    };
    if !middle::exists(conn, prefix).await? {
        return Err(ImportError::InvalidOption {
            field: "layer",
            reason: format!("the OSM objects of {prefix:?} are missing; re-import its extract"),
        });
    }
    let path = request.path.clone();
    let file = tokio::task::spawn_blocking(move || read_change_file(&path))
        .await
        .map_err(|e| ImportError::ReaderStopped(e.to_string()))??;
    let checksum = {
        let path = request.path.clone();
        tokio::task::spawn_blocking(move || crate::checksum::source_checksum(&[path], "osc"))
            .await
            .map_err(|e| ImportError::ReaderStopped(e.to_string()))??
    };
    crate::import::describe_source(conn, job_id, "OSM change", &checksum, "EPSG:4326").await?;

    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // One change file at a time per extract.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('bando.osm:' || $1))")
        .bind(prefix)
        .execute(&mut *tx)
        .await?;
    let tables = Tables::of(prefix);
    middle::index_for_changes(&mut tx, &tables).await?;
    let latest = latest_changes(&file);
    let objects = latest.len() as u64;
    let (accepted, unapplied) = sift(&mut tx, &tables, &latest, request.area).await?;
    // Nothing new, and some of it seen before (a deletion of an object not stored may be one
    // applied before too): the file is older than the data.
    if accepted.is_empty() && unapplied.already_applied > 0 {
        return Err(ImportError::Source {
            path: request.path.clone(),
            reason: format!(
                "the change file is older than the data: nothing in it is newer than what is \
                 imported ({} of its {objects} objects at or below the versions already \
                 imported; data as of {}, newest object in the file {})",
                unapplied.already_applied,
                data_timestamp.map_or_else(|| "?".to_owned(), |t| t.to_rfc3339()),
                file.newest
                    .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339()),
            ),
        });
    }
    let touched = store(&mut tx, &tables, &accepted).await?;
    let (drawer, touched_fids) = redraw(&mut tx, &tables, &accepted, &touched).await?;
    let warnings: Vec<String> = drawer
        .themes
        .iter()
        .zip(&THEMES)
        .flat_map(|(rows, theme)| {
            rows.warnings()
                .into_iter()
                .map(move |w| format!("{}: {w}", theme.name))
        })
        .collect();

    let mut themes = Vec::new();
    for ((theme, rows), index) in THEMES.iter().zip(drawer.themes).zip(0_i64..) {
        // One staging table per theme, named after the job (kept apart by the theme's index).
        let staging = format!("{}_{index}", staging_table_name(job_id));
        if let Some(change) = patch_theme(
            &mut tx,
            request,
            job_id,
            theme,
            &staging,
            rows.copy,
            &rows.fids,
            &touched_fids,
        )
        .await?
        {
            themes.push(change);
        }
    }
    let applied = accepted.len() as u64;
    if applied > 0 {
        sqlx::query(
            "UPDATE bando.osm_sources SET updated_at = now(), changes_applied = changes_applied + 1, \
             data_timestamp = greatest(data_timestamp, $2) WHERE prefix = $1",
        )
        .bind(prefix)
        .bind(file.newest)
        .execute(&mut *tx)
        .await?;
    }
    let theme_report: BTreeMap<&str, &ThemeChange> =
        themes.iter().map(|t| (t.layer.as_str(), t)).collect();
    let finish = JobFinish {
        job_id,
        status: JobStatus::Succeeded,
        read: objects,
        written: themes.iter().map(|t| t.upserted).sum(),
        repaired: 0,
        skipped: unapplied.already_applied + unapplied.not_in_data + unapplied.outside_area,
        report: serde_json::json!({
            "applied": applied,
            "already_applied": unapplied.already_applied,
            "not_in_data": unapplied.not_in_data,
            "outside_area": unapplied.outside_area,
            "themes": theme_report,
            "warnings": warnings,
            "note": if themes.is_empty() { Some("no theme changed") } else { None },
        }),
        error: None,
    };
    finish_job(&mut tx, &finish, None).await?;
    tx.commit().await?;
    Ok(ChangesOutcome {
        job_id,
        prefix: prefix.clone(),
        objects,
        applied,
        already_applied: unapplied.already_applied,
        not_in_data: unapplied.not_in_data,
        outside_area: unapplied.outside_area,
        themes,
        warnings,
        duration_ms: elapsed_ms(started),
    })
}

/// The last change of each object (a file may change one object several times).
fn latest_changes(file: &ChangeFile) -> Vec<&Change> {
    let mut last: HashMap<(Kind, i64), usize> = HashMap::new();
    for (i, change) in file.changes.iter().enumerate() {
        last.insert(change.object.key(), i);
    }
    let mut indices: Vec<usize> = last.into_values().collect();
    indices.sort_unstable();
    indices.into_iter().map(|i| &file.changes[i]).collect()
}

/// Splits the changes into those to apply and those left as they are.
async fn sift<'a>(
    tx: &mut PgConnection,
    tables: &Tables,
    latest: &[&'a Change],
    area: Option<[f64; 4]>,
) -> ImportResult<(Vec<&'a Change>, Unapplied)> {
    let mut stored: HashMap<Kind, HashMap<i64, Option<i32>>> = HashMap::new();
    for kind in [Kind::Node, Kind::Way, Kind::Relation] {
        let ids: Vec<i64> = latest
            .iter()
            .filter(|c| c.object.key().0 == kind)
            .map(|c| c.object.key().1)
            .collect();
        stored.insert(kind, middle::versions(tx, tables, kind, &ids).await?);
    }
    let inside = |lon: f64, lat: f64| {
        area.is_none_or(|[w, s, e, n]| lon >= w && lon <= e && lat >= s && lat <= n)
    };
    let mut unapplied = Unapplied::default();
    let mut accepted = Vec::new();
    for change in latest {
        let (kind, id) = change.object.key();
        let known = stored.get(&kind).and_then(|m| m.get(&id));
        match (known, change.action) {
            // Stored at this version or later: this part of the file was applied before.
            (Some(Some(have)), _) if change.object.version().is_some_and(|v| v <= *have) => {
                unapplied.already_applied += 1;
            }
            (None, Action::Modify | Action::Delete) => {
                // A relation of another type (a route) is never stored: its deletion is no news.
                unapplied.not_in_data += 1;
            }
            (None, Action::Create) => match &change.object {
                Object::Node(n) if !inside(n.lon, n.lat) => unapplied.outside_area += 1,
                _ => accepted.push(*change),
            },
            _ => accepted.push(*change),
        }
    }
    Ok((accepted, unapplied))
}

/// What the stored changes touched.
#[derive(Debug, Default)]
struct Touched {
    /// Changed nodes (all: created, modified, deleted).
    nodes: Vec<i64>,
    /// Ways to redraw: changed ones and those through changed nodes.
    ways: Vec<i64>,
    /// Multipolygons to redraw: changed ones and those using a way to redraw.
    relations: Vec<i64>,
}

/// Writes the accepted changes into the middle tables; returns what must be redrawn.
async fn store(
    tx: &mut PgConnection,
    tables: &Tables,
    accepted: &[&Change],
) -> ImportResult<Touched> {
    let mut nodes = Vec::new();
    let mut ways: Vec<&Way> = Vec::new();
    let mut relations: Vec<&Relation> = Vec::new();
    let mut deleted: HashMap<Kind, Vec<i64>> = HashMap::new();
    let mut touched = Touched::default();
    let mut changed_ways = Vec::new();
    let mut changed_relations = Vec::new();
    for change in accepted {
        let (kind, id) = change.object.key();
        match kind {
            Kind::Node => touched.nodes.push(id),
            Kind::Way => changed_ways.push(id),
            Kind::Relation => changed_relations.push(id),
        }
        match (&change.action, &change.object) {
            (Action::Delete, _) => deleted.entry(kind).or_default().push(id),
            (_, Object::Node(n)) if n.lon.is_finite() && n.lat.is_finite() => {
                nodes.push((n.id, n.version, n.lon, n.lat));
            }
            (_, Object::Node(_)) => deleted.entry(kind).or_default().push(id),
            (_, Object::Way(w)) => ways.push(w),
            // Only multipolygons are kept; a relation that stopped being one is removed.
            (_, Object::Relation(r)) if r.is_area() => relations.push(r),
            (_, Object::Relation(_)) => deleted.entry(kind).or_default().push(id),
        }
    }
    middle::upsert_nodes(tx, tables, &nodes).await?;
    middle::upsert_ways(tx, tables, &ways).await?;
    middle::upsert_relations(tx, tables, &relations).await?;
    for (kind, ids) in &deleted {
        middle::delete(tx, tables, *kind, ids).await?;
    }
    let mut way_ids: HashSet<i64> = changed_ways.into_iter().collect();
    way_ids.extend(middle::ways_through(tx, tables, &touched.nodes).await?);
    touched.ways = way_ids.into_iter().collect();
    let mut relation_ids: HashSet<i64> = changed_relations.into_iter().collect();
    relation_ids.extend(middle::relations_using(tx, tables, &touched.ways).await?);
    touched.relations = relation_ids.into_iter().collect();
    Ok(touched)
}

/// Redraws the touched objects from the middle; returns the rows and every touched feature id
/// (those without a new row are removed from the themes).
async fn redraw(
    tx: &mut PgConnection,
    tables: &Tables,
    accepted: &[&Change],
    touched: &Touched,
) -> ImportResult<(Drawer, Vec<i64>)> {
    let mut drawer = Drawer::default();
    let mut fids: Vec<i64> = touched
        .nodes
        .iter()
        .map(|&id| feature_id(Kind::Node, id))
        .chain(touched.ways.iter().map(|&id| feature_id(Kind::Way, id)))
        .chain(
            touched
                .relations
                .iter()
                .map(|&id| feature_id(Kind::Relation, id)),
        )
        .collect();
    fids.sort_unstable();
    fids.dedup();

    // Nodes: drawn from the file (their tags are not stored).
    for change in accepted {
        if let (Action::Create | Action::Modify, Object::Node(node)) =
            (change.action, &change.object)
            && !node.tags.is_empty()
            && node.lon.is_finite()
        {
            drawer.node(&Node { ..node.clone() });
        }
    }

    let relations = middle::fetch_relations(tx, tables, &touched.relations).await?;
    let mut way_ids: HashSet<i64> = touched.ways.iter().copied().collect();
    way_ids.extend(relations.iter().flat_map(Relation::way_ids));
    let way_ids: Vec<i64> = way_ids.into_iter().collect();
    let ways = middle::fetch_ways(tx, tables, &way_ids).await?;
    let node_ids: Vec<i64> = ways.iter().flat_map(|w| w.refs.iter().copied()).collect();
    let locations = middle::fetch_locations(tx, tables, &node_ids).await?;
    let location = |id: i64| locations.get(&id).copied();
    let touched_ways: HashSet<i64> = touched.ways.iter().copied().collect();
    for way in ways.iter().filter(|w| touched_ways.contains(&w.id)) {
        drawer.way(way, &location);
    }
    let by_id: HashMap<i64, &Way> = ways.iter().map(|w| (w.id, w)).collect();
    let wanted: Vec<&Relation> = relations
        .iter()
        .filter(|r| Drawer::wants_relation(r))
        .collect();
    let work: Vec<_> = wanted
        .iter()
        .map(|r| linework(r, &|id| by_id.get(&id).copied(), &location))
        .collect();
    let assembled = assemble(tx, &work).await?;
    for (relation, lines) in wanted.iter().zip(&work) {
        drawer.relation(relation, assembled.get(&relation.id), lines.missing_members);
    }
    Ok((drawer, fids))
}

/// Stages one theme's redrawn rows and patches the live layer with them; `None` when nothing
/// in this theme changed.
#[allow(
    clippy::too_many_arguments,
    reason = "the steps of one theme's patch, named"
)]
async fn patch_theme(
    tx: &mut PgConnection,
    request: &ImportRequest,
    job_id: i64,
    theme: &Theme,
    staging: &str,
    rows: Vec<u8>,
    drawn: &[i64],
    touched: &[i64],
) -> ImportResult<Option<ThemeChange>> {
    let slug = theme_slug(&request.layer, theme);
    let live = qualified_table(&slug);
    let live_exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&live)
        .fetch_one(&mut *tx)
        .await?;
    if !live_exists {
        // The extract had nothing of this theme; a change file does not start one.
        return Ok(None);
    }
    let fields = planned_fields(theme);
    let generalize = theme.shape != Shape::Point;
    let stg = qualified_table(staging);
    sqlx::query(&create_table_sql(staging, &fields))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&uncompressed_geometry_sql(staging))
        .execute(&mut *tx)
        .await?;
    if !rows.is_empty() {
        let mut copy = tx.copy_in_raw(&copy_sql(staging, &fields)).await?;
        copy.send(rows).await?;
        copy.finish().await?;
    }
    let repaired = repair(tx, staging, true, request.policy, generalize).await?;
    // Rows redrawn exactly as they are live are no change.
    let columns: Vec<String> = fields
        .iter()
        .map(|f| bando_core::layer::quote_ident(&f.column))
        .collect();
    let row = |alias: &str| {
        let cols: Vec<String> = columns.iter().map(|c| format!("{alias}.{c}")).collect();
        format!("ROW({})", cols.join(", "))
    };
    sqlx::query(&format!(
        "DELETE FROM {stg} s USING {live} l WHERE s.fid = l.fid AND s.geom = l.geom \
         AND {} IS NOT DISTINCT FROM {}",
        row("s"),
        row("l")
    ))
    .execute(&mut *tx)
    .await?;
    let drawn: HashSet<i64> = drawn.iter().copied().collect();
    let gone: Vec<i64> = touched
        .iter()
        .copied()
        .filter(|fid| !drawn.contains(fid))
        .collect();
    let removed: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM {live} WHERE fid = ANY($1)"))
            .bind(&gone)
            .fetch_one(&mut *tx)
            .await?;
    let prepared = index(tx, staging, &fields, repaired).await?;
    if prepared.feature_count == 0 && removed == 0 {
        sqlx::query(&format!("DROP TABLE {stg}"))
            .execute(&mut *tx)
            .await?;
        return Ok(None);
    }
    let upserted = u64::try_from(prepared.feature_count).unwrap_or_default();
    let removed = u64::try_from(removed).unwrap_or_default();
    let finish = JobFinish {
        job_id,
        status: JobStatus::Succeeded,
        read: 0,
        written: upserted,
        repaired: prepared.repaired,
        skipped: 0,
        report: serde_json::json!({}),
        error: None,
    };
    let field_defs = crate::staging::field_defs(&fields);
    let entry = LayerEntry {
        slug: &slug,
        title: None,
        description: None,
        attribution: None,
        minzoom: None,
        maxzoom: None,
        geometry_type: &prepared.geometry_type,
        source_srid: Some(4326),
        source_crs: "EPSG:4326",
        bounds: prepared.bounds,
        fields: &field_defs,
        feature_count: prepared.feature_count,
        layout: None,
        valid_from: None,
        valid_to: None,
        generalized: generalize,
        admin_level: None,
        agency: request.agency.as_deref(),
        visibility: None,
    };
    let version = publish(
        tx,
        staging,
        NameRows::FromLiveTable,
        &entry,
        &finish,
        &PublishMode::Patch { deleted: gone },
        &request.actor,
    )
    .await?;
    Ok(Some(ThemeChange {
        layer: slug,
        version: Some(version),
        upserted,
        removed,
    }))
}
