//! Changing what the catalog says about a layer — title, description, attribution, zooms,
//! layout, validity dates, visibility — without touching its data: the API's
//! `PATCH /v1/layers/{layer}` and `bando layers update`. The update notifies every server (the
//! catalog trigger), which reloads its catalog and, where layout, validity or zooms changed,
//! drops the layer's tiles and rebuilds the ward index.

use bando_core::audit::{self, Actor, AuditEntry};
use bando_core::layer::{Visibility, validate_slug};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::error::{ImportError, ImportResult};

/// The catalog values to change; the others stay as they are. In JSON a value left out is
/// unchanged, and `null` is refused (no value here can be cleared).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct LayerUpdate {
    /// Human title.
    #[serde(default, deserialize_with = "present")]
    #[arg(long)]
    pub title: Option<String>,
    /// Description.
    #[serde(default, deserialize_with = "present")]
    #[arg(long)]
    pub description: Option<String>,
    /// Attribution shown with the layer's tiles.
    #[serde(default, deserialize_with = "present")]
    #[arg(long)]
    pub attribution: Option<String>,
    /// Lowest zoom served (0-24).
    #[serde(default, deserialize_with = "zoom")]
    #[arg(long)]
    pub minzoom: Option<i16>,
    /// Highest zoom served (0-24).
    #[serde(default, deserialize_with = "zoom")]
    #[arg(long)]
    pub maxzoom: Option<i16>,
    /// Admin layout (e.g. `2025`) of a boundary layer.
    #[serde(default, deserialize_with = "present")]
    #[arg(long)]
    pub layout: Option<String>,
    /// First day the layer is valid.
    #[serde(default, deserialize_with = "present")]
    #[arg(long)]
    pub valid_from: Option<NaiveDate>,
    /// First day it no longer is.
    #[serde(default, deserialize_with = "present")]
    #[arg(long)]
    pub valid_to: Option<NaiveDate>,
    /// Who may see it.
    #[serde(default, deserialize_with = "present")]
    #[arg(long, value_parser = parse_visibility)]
    pub visibility: Option<Visibility>,
}

/// `public`, `restricted` or `private` on the command line.
fn parse_visibility(value: &str) -> Result<Visibility, String> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| format!("{value:?} is not public, restricted or private"))
}

/// A value that is there: `null` is an error, not "unchanged".
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// A zoom: a whole number, also when written `14.0` (JSON does not tell them apart); its range is
/// checked with the other values.
fn zoom<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i16>, D::Error> {
    let number = f64::deserialize(deserializer)?;
    if number.fract() != 0.0 {
        return Err(serde::de::Error::custom(format!(
            "a zoom is a whole number, not {number}"
        )));
    }
    // Anything outside i16 is out of 0..=24 too, and refused as such by `check`.
    Ok(Some(number.clamp(-1.0, 25.0) as i16))
}

impl LayerUpdate {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn check(&self) -> ImportResult<()> {
        if self.is_empty() {
            return Err(ImportError::InvalidOption {
                field: "body",
                reason: "nothing to change: give at least one of title, description, \
                         attribution, minzoom, maxzoom, layout, valid_from, valid_to, visibility"
                    .to_owned(),
            });
        }
        for (field, zoom) in [("minzoom", self.minzoom), ("maxzoom", self.maxzoom)] {
            if zoom.is_some_and(|z| !(0..=24).contains(&z)) {
                return Err(ImportError::InvalidOption {
                    field,
                    reason: "must be between 0 and 24".to_owned(),
                });
            }
        }
        if self.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ImportError::InvalidOption {
                field: "title",
                reason: "must not be empty".to_owned(),
            });
        }
        Ok(())
    }
}

/// The catalog values of a layer after an update.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LayerMetadata {
    /// Slug.
    pub layer: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Attribution.
    pub attribution: String,
    /// Lowest zoom served.
    pub minzoom: i16,
    /// Highest zoom served.
    pub maxzoom: i16,
    /// Admin layout.
    pub layout: Option<String>,
    /// Valid from.
    pub valid_from: Option<NaiveDate>,
    /// Valid until (exclusive).
    pub valid_to: Option<NaiveDate>,
    /// Visibility.
    pub visibility: Visibility,
    /// Owner.
    pub agency: String,
}

/// Applies `change` to layer `slug`; `actor` is recorded in the audit log (`visibility` for a
/// visibility change alone, `update` otherwise, with the values before and after).
pub async fn update_layer(
    pool: &PgPool,
    slug: &str,
    change: &LayerUpdate,
    actor: &Actor,
) -> ImportResult<LayerMetadata> {
    validate_slug(slug)?;
    change.check()?;
    let mut tx = pool.begin().await?;
    let before: Option<LayerMetadata> = sqlx::query_as(include_str!("sql/layer_metadata.sql"))
        .bind(slug)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(before) = before else {
        return Err(ImportError::NoSuchLayer(format!("no layer {slug:?}")));
    };
    let after: LayerMetadata = sqlx::query_as(include_str!("sql/update_layer_metadata.sql"))
        .bind(slug)
        .bind(&change.title)
        .bind(&change.description)
        .bind(&change.attribution)
        .bind(change.minzoom)
        .bind(change.maxzoom)
        .bind(&change.layout)
        .bind(change.valid_from)
        .bind(change.valid_to)
        .bind(change.visibility)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            // A CHECK the merged values break: zooms crossed, validity backwards.
            sqlx::Error::Database(d) if d.code().as_deref() == Some("23514") => {
                let field = if d.constraint().is_some_and(|c| c.contains("validity")) {
                    "valid_to"
                } else {
                    "maxzoom"
                };
                ImportError::InvalidOption {
                    field,
                    reason: if field == "valid_to" {
                        "must be after valid_from".to_owned()
                    } else {
                        "minzoom must not exceed maxzoom".to_owned()
                    },
                }
            }
            _ => ImportError::Database(e),
        })?;
    let only_visibility = LayerUpdate {
        visibility: change.visibility,
        ..LayerUpdate::default()
    } == *change;
    let details = if only_visibility {
        serde_json::json!({ "from": before.visibility, "to": after.visibility })
    } else {
        serde_json::json!({ "from": before, "to": after })
    };
    audit::record(
        &mut *tx,
        actor,
        AuditEntry {
            action: if only_visibility {
                "visibility"
            } else {
                "update"
            },
            agency: Some(&after.agency),
            target: slug,
            details,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// The catalog values of layer `slug`, if it is live.
pub async fn layer_metadata(pool: &PgPool, slug: &str) -> ImportResult<Option<LayerMetadata>> {
    Ok(sqlx::query_as(include_str!("sql/layer_metadata.sql"))
        .bind(slug)
        .fetch_optional(pool)
        .await?)
}
