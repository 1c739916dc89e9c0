//! Publishing modes that change a live layer instead of replacing it: `append` adds the new
//! features; `upsert --key COL` replaces features whose key is already live and adds the rest.
//! Both run inside the publish transaction, after copying the live table aside for `rollback`.

use bando_core::layer::{FieldDef, qualified_table, quote_ident};
use sqlx::PgConnection;

use crate::error::{ImportError, ImportResult};

/// How a job's features reach the live layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    /// The layer becomes exactly the new features.
    #[default]
    Replace,
    /// The new features are added to the live ones.
    Append,
    /// Features with a key already live are replaced (keeping their id), the others are added.
    Upsert {
        /// Key column (its safe SQL name).
        key: String,
    },
    /// The staged rows replace the live rows with their feature ids (or are added), and the live
    /// rows with the ids in `deleted` are removed: how an OSM change file reaches a theme, whose
    /// feature ids are those of OSM objects.
    Patch {
        /// Feature ids to remove.
        deleted: Vec<i64>,
    },
}

impl PublishMode {
    /// Name stored with the job.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Append => "append",
            Self::Upsert { .. } => "upsert",
            Self::Patch { .. } => "osc",
        }
    }
}

/// What a merge changed.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The live layer's fields after the merge (new columns appended).
    pub fields: Vec<FieldDef>,
    /// Whether the live table has the generalised columns.
    pub generalized: bool,
    /// Extent of the features removed by an upsert (they may be elsewhere than their new version).
    pub removed_bounds: Option<[f64; 4]>,
    /// For a patch, the boxes of the removed and added features (grouped, see
    /// [`bando_core::notify::group_areas`]): what servers must redraw, and nothing else.
    pub changed_areas: Vec<[f64; 4]>,
}

fn invalid(reason: String) -> ImportError {
    ImportError::InvalidOption {
        field: "mode",
        reason,
    }
}

async fn column_types(tx: &mut PgConnection, table: &str) -> ImportResult<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .bind(qualified_table(table))
    .fetch_all(&mut *tx)
    .await?)
}

/// The `geom` expression that inserts the staged geometries into the live table: as they are
/// when the live column takes them (the same type, or `Geometry` for a mixed layer), made multi
/// when the live layer holds the multi kind of theirs (polygons added to a multipolygon layer);
/// any other kind is refused: the layer's type would change, which only a replace may do.
fn geometry_insert(
    live: &[(String, String)],
    staged: &[(String, String)],
) -> ImportResult<&'static str> {
    let kind = |columns: &[(String, String)]| {
        columns
            .iter()
            .find(|(n, _)| n == "geom")
            .map(|(_, ty)| {
                // `geometry(MultiPolygon,4326)` → `MULTIPOLYGON`; `geometry` → `GEOMETRY`.
                ty.trim_start_matches("geometry")
                    .trim_start_matches('(')
                    .split(',')
                    .next()
                    .filter(|k| !k.is_empty())
                    .unwrap_or("Geometry")
                    .to_ascii_uppercase()
            })
            .unwrap_or_else(|| "GEOMETRY".to_owned())
    };
    let (live, staged) = (kind(live), kind(staged));
    if live == "GEOMETRY" || live == staged {
        Ok("geom")
    } else if live.strip_prefix("MULTI") == Some(staged.as_str()) {
        Ok("ST_Multi(geom)")
    } else {
        Err(invalid(format!(
            "the layer holds {} geometries and the new data {}; publish with mode replace \
             to change its geometry type",
            live.to_lowercase(),
            staged.to_lowercase()
        )))
    }
}

/// Merges `staging` into the live table `slug` (whose current catalog fields are
/// `live_fields`), keeping a copy of the live table as `previous` for rollback.
pub async fn merge(
    tx: &mut PgConnection,
    mode: &PublishMode,
    staging: &str,
    slug: &str,
    previous: &str,
    live_fields: &[FieldDef],
    new_fields: &[FieldDef],
) -> ImportResult<Merged> {
    let live = qualified_table(slug);
    let stg = qualified_table(staging);
    let live_types = column_types(tx, slug).await?;
    let stg_types = column_types(tx, staging).await?;
    let generated = ["geom_3857", "geom_z5", "geom_z8", "geom_z10"];
    let stg_columns: Vec<&(String, String)> = stg_types
        .iter()
        .filter(|(name, _)| !generated.contains(&name.as_str()))
        .collect();

    // Nothing staged (an OSM change that only deletes): nothing to fit into the live type.
    let staged_rows: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {stg})"))
        .fetch_one(&mut *tx)
        .await?;
    let geometry = if staged_rows {
        geometry_insert(&live_types, &stg_types)?
    } else {
        "geom"
    };
    let mut fields = live_fields.to_vec();
    for (name, ty) in stg_columns.iter().filter(|(name, _)| name != "geom") {
        match live_types.iter().find(|(n, _)| n == name) {
            Some((_, live_ty)) if live_ty != ty => {
                return Err(invalid(format!(
                    "column {name} is {ty} in the new data but {live_ty} in the live layer; \
                     publish with mode replace"
                )));
            }
            Some(_) => {}
            None => {
                sqlx::query(&format!(
                    "ALTER TABLE {live} ADD COLUMN {} {ty}",
                    quote_ident(name)
                ))
                .execute(&mut *tx)
                .await?;
                if let Some(f) = new_fields.iter().find(|f| &f.name == name) {
                    fields.push(f.clone());
                }
            }
        }
    }

    // Keep the live version for rollback.
    let previous_table = qualified_table(previous);
    let live_columns: Vec<String> = live_types
        .iter()
        .filter(|(name, _)| !generated.contains(&name.as_str()))
        .map(|(name, _)| quote_ident(name))
        .collect();
    sqlx::query(&format!("DROP TABLE IF EXISTS {previous_table}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "CREATE TABLE {previous_table} (LIKE {live} INCLUDING ALL)"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO {previous_table} ({cols}) SELECT {cols} FROM {live}",
        cols = live_columns.join(", ")
    ))
    .execute(&mut *tx)
    .await?;

    // New ids: after the live ones; an upsert keeps the id of the feature it replaces.
    sqlx::query(&format!(
        "ALTER TABLE {stg} DROP CONSTRAINT IF EXISTS {}",
        quote_ident(&format!("{staging}_pkey"))
    ))
    .execute(&mut *tx)
    .await?;
    let mut removed_bounds = None;
    let mut changed_areas = Vec::new();
    match mode {
        PublishMode::Replace => {}
        PublishMode::Patch { deleted } => {
            let boxes: Vec<(f64, f64, f64, f64)> = sqlx::query_as(&format!(
                "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM ( \
                   SELECT geom::box2d AS b FROM {live} WHERE fid = ANY($1) OR fid IN (SELECT fid FROM {stg}) \
                   UNION ALL SELECT geom::box2d FROM {stg}) x"
            ))
            .bind(deleted)
            .fetch_all(&mut *tx)
            .await?;
            let boxes: Vec<[f64; 4]> = boxes.into_iter().map(|(w, s, e, n)| [w, s, e, n]).collect();
            removed_bounds = boxes.iter().copied().reduce(|a, b| {
                [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ]
            });
            changed_areas =
                bando_core::notify::group_areas(&boxes, bando_core::notify::MAX_NOTICE_AREAS);
            sqlx::query(&format!(
                "DELETE FROM {live} WHERE fid = ANY($1) OR fid IN (SELECT fid FROM {stg})"
            ))
            .bind(deleted)
            .execute(&mut *tx)
            .await?;
        }
        PublishMode::Append => {
            sqlx::query(&format!(
                "WITH base AS (SELECT coalesce(max(fid), 0) AS m FROM {live}), \
                 numbered AS (SELECT ctid, row_number() OVER (ORDER BY fid) AS rn FROM {stg}) \
                 UPDATE {stg} SET fid = base.m + numbered.rn FROM numbered, base \
                 WHERE {stg}.ctid = numbered.ctid"
            ))
            .execute(&mut *tx)
            .await?;
        }
        PublishMode::Upsert { key } => {
            if !stg_columns.iter().any(|(n, _)| n == key)
                || !live_types.iter().any(|(n, _)| n == key)
            {
                return Err(invalid(format!(
                    "upsert key {key} must be a column of both the new data and the live layer"
                )));
            }
            let k = quote_ident(key);
            let repeated: Option<String> = sqlx::query_scalar(&format!(
                "SELECT {k}::text FROM {stg} GROUP BY {k} HAVING count(*) > 1 LIMIT 1"
            ))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(value) = repeated {
                return Err(invalid(format!(
                    "upsert key {key} repeats the value {value:?} in the new data"
                )));
            }
            sqlx::query(&format!(
                "WITH base AS (SELECT coalesce(max(fid), 0) AS m FROM {live}), \
                 numbered AS (SELECT s.ctid, l.fid AS live_fid, \
                                     row_number() OVER (ORDER BY s.fid) AS rn \
                              FROM {stg} s LEFT JOIN {live} l ON l.{k} = s.{k}) \
                 UPDATE {stg} SET fid = coalesce(numbered.live_fid, base.m + numbered.rn) \
                 FROM numbered, base WHERE {stg}.ctid = numbered.ctid"
            ))
            .execute(&mut *tx)
            .await?;
            let extent: Option<(f64, f64, f64, f64)> = sqlx::query_as(&format!(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM \
                 (SELECT ST_Extent(l.geom)::geometry AS e FROM {live} l JOIN {stg} s ON l.{k} = s.{k}) x \
                 WHERE e IS NOT NULL"
            ))
            .fetch_optional(&mut *tx)
            .await?;
            removed_bounds = extent.map(|(w, s, e, n)| [w, s, e, n]);
            sqlx::query(&format!(
                "DELETE FROM {live} l USING {stg} s WHERE l.{k} = s.{k}"
            ))
            .execute(&mut *tx)
            .await?;
        }
    }
    let columns: Vec<String> = stg_columns.iter().map(|(n, _)| quote_ident(n)).collect();
    let values: Vec<String> = stg_columns
        .iter()
        .map(|(n, _)| {
            if n == "geom" {
                geometry.to_owned()
            } else {
                quote_ident(n)
            }
        })
        .collect();
    sqlx::query(&format!(
        "INSERT INTO {live} ({}) SELECT {} FROM {stg}",
        columns.join(", "),
        values.join(", ")
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!("DROP TABLE {stg}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("ANALYZE {live}"))
        .execute(&mut *tx)
        .await?;
    Ok(Merged {
        generalized: live_types.iter().any(|(n, _)| n == "geom_z5"),
        fields,
        removed_bounds,
        changed_areas,
    })
}
