//! OpenStreetMap extracts (`.osm`, `.osm.pbf`, read by GDAL's OSM driver) mapped to the base-map
//! layers the tiles serve. Each theme is one SQL query over the driver's `points`, `lines` and
//! `multipolygons` layers and is imported — validated and published atomically — as
//! `<prefix>_<theme>` with a `class` column the style keys on.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use sqlx::PgPool;

use crate::error::{ImportError, ImportResult};
use crate::import::{ImportOutcome, ImportRequest, Progress, import};

/// A base-map theme and the query that extracts it.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    /// Layer suffix.
    pub name: &'static str,
    /// Zoom range it is served at.
    pub zooms: (u8, u8),
    /// SQLite-dialect query over the OSM driver's layers.
    pub sql: &'static str,
}

/// The themes, in drawing order.
pub const THEMES: [Theme; 8] = [
    Theme {
        name: "landuse",
        zooms: (8, 22),
        sql: include_str!("sql/osm/landuse.sql"),
    },
    Theme {
        name: "water",
        zooms: (4, 22),
        sql: include_str!("sql/osm/water.sql"),
    },
    Theme {
        name: "waterways",
        zooms: (8, 22),
        sql: include_str!("sql/osm/waterways.sql"),
    },
    Theme {
        name: "roads",
        zooms: (5, 22),
        sql: include_str!("sql/osm/roads.sql"),
    },
    Theme {
        name: "railways",
        zooms: (8, 22),
        sql: include_str!("sql/osm/railways.sql"),
    },
    Theme {
        name: "buildings",
        zooms: (13, 22),
        sql: include_str!("sql/osm/buildings.sql"),
    },
    Theme {
        name: "pois",
        zooms: (12, 22),
        sql: include_str!("sql/osm/pois.sql"),
    },
    Theme {
        name: "places",
        zooms: (4, 22),
        sql: include_str!("sql/osm/places.sql"),
    },
];

/// Whether a path names an OSM extract.
pub fn is_osm(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    name.ends_with(".osm") || name.ends_with(".osm.pbf") || name.ends_with(".pbf")
}

/// Outcome of one theme.
#[derive(Debug, Clone, Serialize)]
pub struct ThemeOutcome {
    /// The theme.
    pub theme: &'static str,
    /// Its import, or why there is none.
    pub outcome: Option<ImportOutcome>,
    /// Set when the extract has nothing for this theme.
    pub note: Option<String>,
}

/// Imports every theme of the extract in `base.path` as `<base.layer>_<theme>`.
pub async fn import_osm(
    pool: &PgPool,
    base: &ImportRequest,
    progress: Progress,
) -> ImportResult<Vec<ThemeOutcome>> {
    let mut results = Vec::new();
    for theme in THEMES {
        let mut request = base.clone();
        request.layer = format!("{}_{}", base.layer, theme.name);
        request.source.sql = Some(theme.sql.to_owned());
        request.minzoom = request.minzoom.or(Some(theme.zooms.0));
        request.maxzoom = request.maxzoom.or(Some(theme.zooms.1));
        request.title = Some(format!(
            "{} — {}",
            base.title.as_deref().unwrap_or("OpenStreetMap"),
            theme.name
        ));
        if request.attribution.is_none() {
            request.attribution = Some("© OpenStreetMap contributors (ODbL)".to_owned());
        }
        match import(pool, &request, Arc::clone(&progress)).await {
            Ok(outcome) => results.push(ThemeOutcome {
                theme: theme.name,
                outcome: Some(outcome),
                note: None,
            }),
            // A small extract may have no railway: that theme is simply absent.
            Err(ImportError::NothingToPublish { .. }) => results.push(ThemeOutcome {
                theme: theme.name,
                outcome: None,
                note: Some("no feature in this extract".to_owned()),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(results)
}
