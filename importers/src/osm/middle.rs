//! The OSM objects of an imported extract, kept in schema `osm_middle` (see
//! `migrations/0007_osm.sql`) so change files can be applied: node locations, ways with their node
//! lists and tags, multipolygon relations with their members and tags.

use std::collections::HashMap;

use bando_core::layer::quote_ident;
use sqlx::PgConnection;

use super::elements::{Extract, Kind, Member, Relation, Tags, Way};
use crate::copy_text::{push_null, push_text};
use crate::error::ImportResult;

/// Schema of the middle tables.
pub const SCHEMA: &str = "osm_middle";

/// Node coordinates are stored as integers in OSM's own unit, 10⁻⁷ degree (exact, and PostgreSQL
/// reads integers from `COPY` faster than decimals).
const COORDINATE_UNIT: f64 = 1e7;

fn to_units(degrees: f64) -> i64 {
    (degrees * COORDINATE_UNIT).round() as i64
}

/// The three middle tables of an extract imported with `prefix` (or of a staging set).
#[derive(Debug, Clone)]
pub struct Tables {
    /// `(id, version, lon, lat)`, coordinates in 10⁻⁷ degree.
    pub nodes: String,
    /// `(id, version, nodes, tags)`.
    pub ways: String,
    /// `(id, version, members, way_ids, tags)`.
    pub relations: String,
}

impl Tables {
    /// The live tables of `prefix`.
    pub fn of(prefix: &str) -> Self {
        Self::named(prefix)
    }

    /// The staging tables of job `job_id` (cleaned up with its other staging tables).
    pub fn staging(job_id: i64) -> Self {
        Self::named(&format!("_stg_job{job_id}"))
    }

    fn named(stem: &str) -> Self {
        let table = |suffix: &str| {
            format!(
                "{}.{}",
                quote_ident(SCHEMA),
                quote_ident(&format!("{stem}_{suffix}"))
            )
        };
        Self {
            nodes: table("nodes"),
            ways: table("ways"),
            relations: table("relations"),
        }
    }

    fn all(&self) -> [&str; 3] {
        [&self.nodes, &self.ways, &self.relations]
    }
}

/// Whether an extract was imported with `prefix` (its middle exists).
pub async fn exists(conn: &mut PgConnection, prefix: &str) -> ImportResult<bool> {
    Ok(sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(Tables::of(prefix).ways)
        .fetch_one(&mut *conn)
        .await?)
}

/// `COPY` text of the three tables for a whole extract.
pub struct MiddleRows {
    /// Node rows.
    pub nodes: Vec<u8>,
    /// Way rows.
    pub ways: Vec<u8>,
    /// Relation rows.
    pub relations: Vec<u8>,
}

/// Encodes an extract's objects for the middle tables.
pub fn rows(extract: &Extract) -> MiddleRows {
    let mut nodes = Vec::with_capacity(extract.locations.len() * 36);
    for (id, version, lon, lat) in extract.locations.iter() {
        push_node(&mut nodes, id, (version != 0).then_some(version), lon, lat);
    }
    let mut ways = Vec::new();
    for way in &extract.ways {
        push_way(&mut ways, way);
    }
    let mut relations = Vec::new();
    for relation in &extract.relations {
        push_relation(&mut relations, relation);
    }
    MiddleRows {
        nodes,
        ways,
        relations,
    }
}

fn push_version(out: &mut Vec<u8>, version: Option<i32>) {
    match version {
        Some(v) => out.extend_from_slice(v.to_string().as_bytes()),
        None => push_null(out),
    }
}

fn push_node(out: &mut Vec<u8>, id: i64, version: Option<i32>, lon: f64, lat: f64) {
    out.extend_from_slice(id.to_string().as_bytes());
    out.push(b'\t');
    push_version(out, version);
    out.extend_from_slice(format!("\t{}\t{}\n", to_units(lon), to_units(lat)).as_bytes());
}

fn tags_json(tags: &Tags) -> String {
    let map: serde_json::Map<String, serde_json::Value> = tags
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn id_array(ids: impl Iterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
    format!("{{{}}}", ids.join(","))
}

fn push_way(out: &mut Vec<u8>, way: &Way) {
    out.extend_from_slice(way.id.to_string().as_bytes());
    out.push(b'\t');
    push_version(out, way.version);
    out.push(b'\t');
    out.extend_from_slice(id_array(way.refs.iter().copied()).as_bytes());
    out.push(b'\t');
    push_text(out, &tags_json(&way.tags));
    out.push(b'\n');
}

fn members_json(members: &[Member]) -> String {
    serde_json::Value::Array(
        members
            .iter()
            .map(|m| serde_json::json!([m.kind.letter(), m.id, m.role]))
            .collect(),
    )
    .to_string()
}

fn push_relation(out: &mut Vec<u8>, relation: &Relation) {
    out.extend_from_slice(relation.id.to_string().as_bytes());
    out.push(b'\t');
    push_version(out, relation.version);
    out.push(b'\t');
    push_text(out, &members_json(&relation.members));
    out.push(b'\t');
    out.extend_from_slice(id_array(relation.way_ids()).as_bytes());
    out.push(b'\t');
    push_text(out, &tags_json(&relation.tags));
    out.push(b'\n');
}

/// Creates and fills the staging middle tables of a full import, with their indexes.
pub async fn load(conn: &mut PgConnection, tables: &Tables, rows: MiddleRows) -> ImportResult<()> {
    sqlx::query(&format!(
        "CREATE TABLE {} (id bigint NOT NULL, version integer, lon integer NOT NULL, \
         lat integer NOT NULL)",
        tables.nodes
    ))
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "CREATE TABLE {} (id bigint NOT NULL, version integer, nodes bigint[] NOT NULL, \
         tags jsonb NOT NULL)",
        tables.ways
    ))
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "CREATE TABLE {} (id bigint NOT NULL, version integer, members jsonb NOT NULL, \
         way_ids bigint[] NOT NULL, tags jsonb NOT NULL)",
        tables.relations
    ))
    .execute(&mut *conn)
    .await?;
    for (table, data) in [
        (&tables.nodes, rows.nodes),
        (&tables.ways, rows.ways),
        (&tables.relations, rows.relations),
    ] {
        let mut copy = conn
            .copy_in_raw(&format!("COPY {table} FROM STDIN"))
            .await?;
        copy.send(data).await?;
        copy.finish().await?;
    }
    for table in tables.all() {
        sqlx::query(&format!("ALTER TABLE {table} ADD PRIMARY KEY (id)"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Indexes "which ways go through this node" and "which multipolygons use this way", which a
/// change file's moved nodes and changed ways need. Built by the first change file rather than
/// by the import: the ways' index took a fifth of a city extract's import (0.45 s of 2.4 s),
/// and an extract that is only ever re-imported whole never needs it.
pub async fn index_for_changes(conn: &mut PgConnection, tables: &Tables) -> ImportResult<()> {
    for (table, column) in [(&tables.ways, "nodes"), (&tables.relations, "way_ids")] {
        let name = format!(
            "{}_{column}_idx",
            table.rsplit('.').next().unwrap_or(table).trim_matches('"')
        );
        sqlx::query(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {table} USING gin ({column})",
            quote_ident(&name)
        ))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Makes the staging middle tables the live ones of `prefix` (inside the publish transaction).
pub async fn swap_in(tx: &mut PgConnection, staging: &Tables, prefix: &str) -> ImportResult<()> {
    let live = Tables::of(prefix);
    for (from, to) in staging.all().into_iter().zip(live.all()) {
        sqlx::query(&format!("DROP TABLE IF EXISTS {to}"))
            .execute(&mut *tx)
            .await?;
        let new_name = to.rsplit('.').next().unwrap_or(to);
        sqlx::query(&format!("ALTER TABLE {from} RENAME TO {new_name}"))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Drops the staging middle tables (a failed or dry run).
pub async fn drop_tables(conn: &mut PgConnection, tables: &Tables) -> ImportResult<()> {
    sqlx::query(&format!("DROP TABLE IF EXISTS {}", tables.all().join(", ")))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Versions of the stored objects among `keys` (absent: not stored).
pub async fn versions(
    conn: &mut PgConnection,
    tables: &Tables,
    kind: Kind,
    ids: &[i64],
) -> ImportResult<HashMap<i64, Option<i32>>> {
    let table = match kind {
        Kind::Node => &tables.nodes,
        Kind::Way => &tables.ways,
        Kind::Relation => &tables.relations,
    };
    let rows: Vec<(i64, Option<i32>)> = sqlx::query_as(&format!(
        "SELECT id, version FROM {table} WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Stores nodes (insert or replace).
pub async fn upsert_nodes(
    conn: &mut PgConnection,
    tables: &Tables,
    nodes: &[(i64, Option<i32>, f64, f64)],
) -> ImportResult<()> {
    if nodes.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = nodes.iter().map(|n| n.0).collect();
    let versions: Vec<Option<i32>> = nodes.iter().map(|n| n.1).collect();
    let lons: Vec<i64> = nodes.iter().map(|n| to_units(n.2)).collect();
    let lats: Vec<i64> = nodes.iter().map(|n| to_units(n.3)).collect();
    sqlx::query(&format!(
        "INSERT INTO {} (id, version, lon, lat) \
         SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bigint[]::integer[], $4::bigint[]::integer[]) \
         ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, lon = EXCLUDED.lon, lat = EXCLUDED.lat",
        tables.nodes
    ))
    .bind(&ids)
    .bind(&versions)
    .bind(&lons)
    .bind(&lats)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores ways (insert or replace).
pub async fn upsert_ways(
    conn: &mut PgConnection,
    tables: &Tables,
    ways: &[&Way],
) -> ImportResult<()> {
    for way in ways {
        sqlx::query(&format!(
            "INSERT INTO {} (id, version, nodes, tags) VALUES ($1, $2, $3, $4::jsonb) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, nodes = EXCLUDED.nodes, \
             tags = EXCLUDED.tags",
            tables.ways
        ))
        .bind(way.id)
        .bind(way.version)
        .bind(&way.refs)
        .bind(tags_json(&way.tags))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Stores multipolygon relations (insert or replace).
pub async fn upsert_relations(
    conn: &mut PgConnection,
    tables: &Tables,
    relations: &[&Relation],
) -> ImportResult<()> {
    for relation in relations {
        sqlx::query(&format!(
            "INSERT INTO {} (id, version, members, way_ids, tags) \
             VALUES ($1, $2, $3::jsonb, $4, $5::jsonb) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, members = EXCLUDED.members, \
             way_ids = EXCLUDED.way_ids, tags = EXCLUDED.tags",
            tables.relations
        ))
        .bind(relation.id)
        .bind(relation.version)
        .bind(members_json(&relation.members))
        .bind(relation.way_ids().collect::<Vec<_>>())
        .bind(tags_json(&relation.tags))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Removes objects of one kind.
pub async fn delete(
    conn: &mut PgConnection,
    tables: &Tables,
    kind: Kind,
    ids: &[i64],
) -> ImportResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let table = match kind {
        Kind::Node => &tables.nodes,
        Kind::Way => &tables.ways,
        Kind::Relation => &tables.relations,
    };
    sqlx::query(&format!("DELETE FROM {table} WHERE id = ANY($1)"))
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ids of the stored ways through any of `nodes`.
pub async fn ways_through(
    conn: &mut PgConnection,
    tables: &Tables,
    nodes: &[i64],
) -> ImportResult<Vec<i64>> {
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar(&format!("SELECT id FROM {} WHERE nodes && $1", tables.ways))
            .bind(nodes)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Ids of the stored relations with any of `ways` as a member.
pub async fn relations_using(
    conn: &mut PgConnection,
    tables: &Tables,
    ways: &[i64],
) -> ImportResult<Vec<i64>> {
    if ways.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar(&format!(
        "SELECT id FROM {} WHERE way_ids && $1",
        tables.relations
    ))
    .bind(ways)
    .fetch_all(&mut *conn)
    .await?)
}

/// The stored ways among `ids`.
pub async fn fetch_ways(
    conn: &mut PgConnection,
    tables: &Tables,
    ids: &[i64],
) -> ImportResult<Vec<Way>> {
    type Row = (
        i64,
        Option<i32>,
        Vec<i64>,
        sqlx::types::Json<HashMap<String, String>>,
    );
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT id, version, nodes, tags FROM {} WHERE id = ANY($1)",
        tables.ways
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, version, refs, tags)| Way {
            id,
            version,
            refs,
            tags: tags.0.into_iter().collect(),
        })
        .collect())
}

/// The stored relations among `ids`.
pub async fn fetch_relations(
    conn: &mut PgConnection,
    tables: &Tables,
    ids: &[i64],
) -> ImportResult<Vec<Relation>> {
    type Row = (
        i64,
        Option<i32>,
        sqlx::types::Json<Vec<(String, i64, String)>>,
        sqlx::types::Json<HashMap<String, String>>,
    );
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT id, version, members, tags FROM {} WHERE id = ANY($1)",
        tables.relations
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, version, members, tags)| Relation {
            id,
            version,
            members: members
                .0
                .into_iter()
                .map(|(letter, id, role)| Member {
                    kind: match letter.as_str() {
                        "n" => Kind::Node,
                        "r" => Kind::Relation,
                        _ => Kind::Way,
                    },
                    id,
                    role,
                })
                .collect(),
            tags: tags.0.into_iter().collect(),
        })
        .collect())
}

/// Locations of the stored nodes among `ids`.
pub async fn fetch_locations(
    conn: &mut PgConnection,
    tables: &Tables,
    ids: &[i64],
) -> ImportResult<HashMap<i64, (f64, f64)>> {
    let rows: Vec<(i64, i32, i32)> = sqlx::query_as(&format!(
        "SELECT id, lon, lat FROM {} WHERE id = ANY($1)",
        tables.nodes
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, x, y)| {
            (
                id,
                (
                    f64::from(x) / COORDINATE_UNIT,
                    f64::from(y) / COORDINATE_UNIT,
                ),
            )
        })
        .collect())
}
