//! `bando layers`: what GIS staff do with layers without SQL — list and show them, change their
//! catalog values, retire (delete) them, restore or purge retired ones. The same operations as
//! the API (`PATCH`/`DELETE /v1/layers/{layer}`, `/v1/retired-layers`), recorded in the audit
//! log as the operator on this machine; running servers apply them through the notifications.

use anyhow::{Context, bail};
use bando_core::audit::Actor;
use bando_importers::metadata::{LayerUpdate, update_layer};
use bando_importers::retire;
use sqlx::PgPool;

/// `bando layers …`.
#[derive(Debug, clap::Subcommand)]
pub enum LayersAction {
    /// The live layers.
    List {
        /// Only this agency's.
        #[arg(long)]
        agency: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// One live layer's catalog entry (fields, bounds, zooms, validity, version).
    Show {
        /// Layer slug.
        layer: String,
    },
    /// Change catalog values (the data stays as it is).
    Update {
        /// Layer slug.
        layer: String,
        #[command(flatten)]
        change: LayerUpdate,
    },
    /// Retire a layer: gone from every catalog, tile, search and lookup at once, restorable
    /// with `restore` until purged.
    Delete {
        /// Layer slug.
        layer: String,
        /// Days it stays restorable before the servers purge it.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
        keep_days: u32,
    },
    /// Retired layers still restorable.
    Retired {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a retired layer back live, as it was.
    Restore {
        /// Layer slug.
        layer: String,
    },
    /// Drop a retired layer for good (its data, its kept previous version).
    Purge {
        /// Layer slug.
        layer: String,
    },
}

/// Runs a `layers` action; returns what to print.
pub async fn layers(pool: &PgPool, action: LayersAction) -> anyhow::Result<String> {
    let actor = Actor::command_line();
    match action {
        LayersAction::List { agency, json } => {
            let layers: Vec<_> = bando_core::catalog::list_layers(pool)
                .await?
                .into_iter()
                .filter(|l| agency.as_deref().is_none_or(|a| l.agency == a))
                .collect();
            if json {
                return Ok(serde_json::to_string_pretty(&layers)?);
            }
            let mut out = format!(
                "{:<28} {:<12} {:<10} {:>9} {:<16} {:>3} {:<7} {}",
                "LAYER",
                "AGENCY",
                "VISIBLE",
                "FEATURES",
                "GEOMETRY",
                "VER",
                "ZOOMS",
                "LAYOUT/VALID"
            );
            for l in &layers {
                let validity = match (&l.layout, l.valid_from, l.valid_to) {
                    (None, None, None) => String::new(),
                    (layout, from, to) => format!(
                        "{} {}..{}",
                        layout.as_deref().unwrap_or("-"),
                        from.map_or_else(String::new, |d| d.to_string()),
                        to.map_or_else(String::new, |d| d.to_string())
                    ),
                };
                out.push_str(&format!(
                    "\n{:<28} {:<12} {:<10} {:>9} {:<16} {:>3} {:<7} {}",
                    l.slug,
                    l.agency,
                    format!("{:?}", l.visibility).to_lowercase(),
                    l.feature_count,
                    l.geometry_type,
                    l.version,
                    format!("{}-{}", l.minzoom, l.maxzoom),
                    validity
                ));
            }
            Ok(out)
        }
        LayersAction::Show { layer } => {
            let found = bando_core::catalog::get_layer(pool, &layer)
                .await?
                .with_context(|| format!("no layer {layer:?}"))?;
            Ok(serde_json::to_string_pretty(&found)?)
        }
        LayersAction::Update { layer, change } => {
            if change.is_empty() {
                bail!(
                    "nothing to change: give at least one of --title, --description, --attribution, --minzoom, --maxzoom, --layout, --valid-from, --valid-to, --visibility"
                );
            }
            let updated = update_layer(pool, &layer, &change, &actor).await?;
            Ok(serde_json::to_string_pretty(&updated)?)
        }
        LayersAction::Delete { layer, keep_days } => {
            let retired = retire::retire(pool, &layer, keep_days, &actor).await?;
            Ok(format!(
                "layer {} retired: gone from every surface; `bando layers restore {}` brings it back until {}",
                retired.layer,
                retired.layer,
                retired.purge_after.format("%Y-%m-%d %H:%M UTC")
            ))
        }
        LayersAction::Retired { json } => {
            let retired = retire::list_retired(pool, None).await?;
            if json {
                return Ok(serde_json::to_string_pretty(&retired)?);
            }
            let mut out = format!(
                "{:<28} {:<12} {:>9} {:<20} {:<20} {}",
                "LAYER", "AGENCY", "FEATURES", "RETIRED", "PURGED AFTER", "BY"
            );
            for r in &retired {
                out.push_str(&format!(
                    "\n{:<28} {:<12} {:>9} {:<20} {:<20} {}",
                    r.layer,
                    r.agency,
                    r.feature_count,
                    r.retired_at.format("%Y-%m-%d %H:%M"),
                    r.purge_after.format("%Y-%m-%d %H:%M"),
                    r.retired_by
                ));
            }
            Ok(out)
        }
        LayersAction::Restore { layer } => {
            let restored = retire::restore(pool, &layer, &actor).await?;
            Ok(format!(
                "layer {} restored: live again with its {} features",
                restored.layer, restored.feature_count
            ))
        }
        LayersAction::Purge { layer } => {
            let purged = retire::purge(pool, &layer, &actor).await?;
            Ok(format!("retired layer {} purged for good", purged.layer))
        }
    }
}
