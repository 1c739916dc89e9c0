//! Sprite sheets for MapLibre styles (`sprite: …/sprites/{set}`): every SVG in a folder
//! `styles/sprites/{set}/` rasterised (resvg) and packed into one PNG with its JSON index (spreet),
//! at pixel ratio 1 and 2 (`{set}.png`, `{set}@2x.png`, `{set}.json`, `{set}@2x.json`). An icon is
//! named after its file (`hospital.svg` → `hospital`). A sheet is built on first request and kept.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

/// Highest pixel ratio served (`@2x`; MapLibre asks for no other).
pub const MAX_PIXEL_RATIO: u8 = 2;

/// Why a sprite sheet could not be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SpriteError {
    /// No folder of icons by that name.
    #[error("no sprite {0:?}")]
    UnknownSet(String),
    /// The ratio asked for is not served.
    #[error("pixel ratio must be 1 or {MAX_PIXEL_RATIO}, not {0}")]
    BadRatio(String),
    /// None of the folder's icons is readable, or packing/encoding failed.
    #[error("building sprite {set:?}: {reason}")]
    Build {
        /// The sprite set.
        set: String,
        /// What went wrong.
        reason: String,
    },
}

/// One rendered sheet: the PNG and its MapLibre index (JSON).
#[derive(Debug, Clone)]
pub struct SpriteSheet {
    /// PNG image of all icons.
    pub png: Bytes,
    /// `{ name: { x, y, width, height, pixelRatio } }` as JSON.
    pub index: Bytes,
}

/// Builds and keeps the sprite sheets of the sets under one folder.
#[derive(Debug, Clone)]
pub struct SpriteServer {
    dir: Arc<PathBuf>,
    sheets: moka::future::Cache<(String, u8), Arc<SpriteSheet>>,
}

impl SpriteServer {
    /// Serves the sets found as sub-folders of `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir: Arc::new(dir),
            sheets: moka::future::Cache::builder().max_capacity(64).build(),
        }
    }

    /// Names of the sets (sub-folders holding SVG files), sorted.
    pub async fn set_names(&self) -> Vec<String> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut names: Vec<String> = std::fs::read_dir(dir.as_path())
                .into_iter()
                .flatten()
                .flatten()
                .filter(|entry| has_svg(&entry.path()))
                .filter_map(|entry| entry.file_name().into_string().ok())
                .filter(|name| bando_core::layer::validate_slug(name).is_ok())
                .collect();
            names.sort();
            names
        })
        .await
        .unwrap_or_default()
    }

    /// The sheet of `set` at `ratio` (1 or 2), built on first use.
    pub async fn sheet(&self, set: &str, ratio: u8) -> Result<Arc<SpriteSheet>, SpriteError> {
        if !(1..=MAX_PIXEL_RATIO).contains(&ratio) {
            return Err(SpriteError::BadRatio(ratio.to_string()));
        }
        // Slugs only: the name becomes a path under `dir`.
        if bando_core::layer::validate_slug(set).is_err() {
            return Err(SpriteError::UnknownSet(set.to_owned()));
        }
        let folder = self.dir.join(set);
        let name = set.to_owned();
        self.sheets
            .try_get_with((name.clone(), ratio), async move {
                tokio::task::spawn_blocking(move || build(&name, &folder, ratio).map(Arc::new))
                    .await
                    .map_err(|e| SpriteError::Build {
                        set: set.to_owned(),
                        reason: e.to_string(),
                    })?
            })
            .await
            .map_err(|e| (*e).clone())
    }
}

/// Whether `dir` is a folder holding at least one SVG file.
fn has_svg(dir: &std::path::Path) -> bool {
    spreet::get_svg_input_paths(dir, false).is_ok_and(|paths| !paths.is_empty())
}

/// Rasterises every SVG of `folder` at `ratio` and packs them into one sheet.
fn build(set: &str, folder: &std::path::Path, ratio: u8) -> Result<SpriteSheet, SpriteError> {
    let failed = |reason: String| SpriteError::Build {
        set: set.to_owned(),
        reason,
    };
    if !folder.is_dir() {
        return Err(SpriteError::UnknownSet(set.to_owned()));
    }
    let paths = spreet::get_svg_input_paths(folder, false).map_err(|e| failed(e.to_string()))?;
    if paths.is_empty() {
        return Err(SpriteError::UnknownSet(set.to_owned()));
    }
    let mut sprites = BTreeMap::new();
    for path in paths {
        let name = spreet::sprite_name(&path, folder).map_err(|e| failed(e.to_string()))?;
        // One broken icon must not take the others down: it is left out, loudly.
        match spreet::load_svg(&path).map(|tree| spreet::Sprite::new(tree, ratio)) {
            Ok(Some(sprite)) => {
                sprites.insert(name, sprite);
            }
            Ok(None) => tracing::error!(path = %path.display(), "icon has no size: left out"),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "icon unreadable: left out")
            }
        }
    }
    if sprites.is_empty() {
        return Err(failed("none of its SVG icons is readable".into()));
    }
    let count = sprites.len();
    let mut builder = spreet::Spritesheet::build();
    // A pixel of spacing keeps neighbouring icons from bleeding into each other when scaled.
    builder.sprites(sprites).spacing(1);
    let sheet = builder
        .generate()
        .ok_or_else(|| failed("icons could not be packed".into()))?;
    let png = sheet.encode_png().map_err(|e| failed(e.to_string()))?;
    let index = serde_json::to_vec(sheet.get_index()).map_err(|e| failed(e.to_string()))?;
    tracing::info!(
        set,
        ratio,
        icons = count,
        bytes = png.len(),
        "sprite sheet built"
    );
    Ok(SpriteSheet {
        png: Bytes::from(png),
        index: Bytes::from(index),
    })
}

/// Splits a sprite file name (`basemap@2x.png`) into set, pixel ratio and whether the index
/// (`.json`) rather than the image is wanted. `None` when the extension is neither.
pub fn parse_file_name(file: &str) -> Option<Result<(&str, u8, bool), SpriteError>> {
    let (stem, json) = match (file.strip_suffix(".json"), file.strip_suffix(".png")) {
        (Some(stem), _) => (stem, true),
        (None, Some(stem)) => (stem, false),
        (None, None) => return None,
    };
    Some(match stem.rsplit_once('@') {
        None => Ok((stem, 1, json)),
        Some((set, suffix)) => match suffix.strip_suffix('x').and_then(|r| r.parse::<u8>().ok()) {
            Some(ratio) if (1..=MAX_PIXEL_RATIO).contains(&ratio) => Ok((set, ratio, json)),
            _ => Err(SpriteError::BadRatio(suffix.to_owned())),
        },
    })
}
