//! Glyph PBFs for MapLibre (`glyphs: …/fonts/{fontstack}/{range}.pbf`), rendered from the real
//! TTF/OTF fonts in the configured folders as signed distance fields (FreeType through
//! `pbf_font_tools`, the same renderer Martin uses). A font is named "Family Style" (e.g. "Noto
//! Sans Regular"); a fontstack is a comma-separated list, the first font having a glyph wins.
//! Ranges are rendered once and cached.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use pbf_font_tools::freetype::Library;
use pbf_font_tools::prost::Message;
use pbf_font_tools::{Glyphs, combine_glyphs, glyph_range_for_face};
use tokio::sync::OnceCell;

/// Rendering parameters MapLibre expects: 24 px glyphs, 8 px SDF radius, 0.25 cutoff.
const SIZE: usize = 24;
const RADIUS: usize = 8;
const CUTOFF: f64 = 0.25;
/// Most fonts in one fontstack.
const MAX_STACK: usize = 8;

/// Why glyphs could not be served.
#[derive(Debug, thiserror::Error)]
pub enum GlyphError {
    /// A font of the stack is not installed.
    #[error("no font named {0:?}")]
    UnknownFont(String),
    /// The range is not `N*256-(N*256+255)` within the Unicode BMP.
    #[error(
        "{0:?} is not a glyph range like 0-255 (start a multiple of 256, 256 code points, up to 65535)"
    )]
    BadRange(String),
    /// The fontstack is empty or too long.
    #[error("a fontstack names 1 to {MAX_STACK} fonts")]
    BadStack,
    /// FreeType failed on an installed font.
    #[error("rendering glyphs: {0}")]
    Render(String),
}

/// Installed fonts by name, and rendered ranges.
#[derive(Debug, Clone)]
pub struct GlyphServer {
    dirs: Arc<Vec<PathBuf>>,
    fonts: Arc<OnceCell<HashMap<String, (PathBuf, isize)>>>,
    rendered: moka::future::Cache<(String, u32), Bytes>,
}

impl GlyphServer {
    /// Serves the fonts found in `dirs` (searched on first use).
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        Self {
            dirs: Arc::new(dirs),
            fonts: Arc::default(),
            rendered: moka::future::Cache::builder()
                .max_capacity(64 * 1024 * 1024)
                .weigher(|_k: &(String, u32), v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .build(),
        }
    }

    /// Names of the installed fonts, sorted.
    pub async fn font_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.fonts().await.keys().cloned().collect();
        names.sort();
        names
    }

    async fn fonts(&self) -> &HashMap<String, (PathBuf, isize)> {
        self.fonts
            .get_or_init(|| async {
                let dirs = self.dirs.clone();
                tokio::task::spawn_blocking(move || scan(&dirs))
                    .await
                    .unwrap_or_default()
            })
            .await
    }

    /// The PBF of `range` (e.g. "0-255") for `fontstack` (e.g. "Noto Sans Regular,Noto Sans Bold").
    pub async fn glyphs(&self, fontstack: &str, range: &str) -> Result<Bytes, GlyphError> {
        let start = parse_range(range)?;
        let names: Vec<&str> = fontstack.split(',').map(str::trim).collect();
        if names.is_empty() || names.len() > MAX_STACK || names.iter().any(|n| n.is_empty()) {
            return Err(GlyphError::BadStack);
        }
        let fonts = self.fonts().await;
        let mut faces = Vec::with_capacity(names.len());
        for name in &names {
            faces.push(
                fonts
                    .get(*name)
                    .cloned()
                    .ok_or_else(|| GlyphError::UnknownFont((*name).to_owned()))?,
            );
        }
        let key = (names.join(","), start);
        self.rendered
            .try_get_with(key, async move {
                tokio::task::spawn_blocking(move || render(&faces, start))
                    .await
                    .map_err(|e| GlyphError::Render(e.to_string()))?
            })
            .await
            .map_err(|e| match Arc::try_unwrap(e) {
                Ok(e) => e,
                Err(shared) => GlyphError::Render(shared.to_string()),
            })
    }
}

fn parse_range(range: &str) -> Result<u32, GlyphError> {
    let bad = || GlyphError::BadRange(range.to_owned());
    let (start, end) = range.split_once('-').ok_or_else(bad)?;
    let (start, end): (u32, u32) = (
        start.parse().map_err(|_| bad())?,
        end.parse().map_err(|_| bad())?,
    );
    if start % 256 != 0 || end != start + 255 || end > 65_535 {
        return Err(bad());
    }
    Ok(start)
}

/// Every face of every TTF/OTF/TTC file in `dirs`, by "Family Style".
fn scan(dirs: &[PathBuf]) -> HashMap<String, (PathBuf, isize)> {
    let mut fonts = HashMap::new();
    let Ok(library) = Library::init() else {
        tracing::warn!("FreeType failed to start: no glyphs will be served");
        return fonts;
    };
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for path in paths {
            let is_font = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "ttf" | "otf" | "ttc"));
            if !is_font {
                continue;
            }
            let Ok(face) = library.new_face(&path, 0) else {
                continue;
            };
            for index in 0..face.num_faces() as isize {
                let Ok(face) = library.new_face(&path, index) else {
                    continue;
                };
                if let Some(family) = face.family_name() {
                    let name = match face.style_name() {
                        Some(style) => format!("{family} {style}"),
                        None => family,
                    };
                    // The first folder wins, as on a font path.
                    fonts.entry(name).or_insert_with(|| (path.clone(), index));
                }
            }
        }
    }
    tracing::info!(fonts = fonts.len(), "fonts found for glyphs");
    fonts
}

fn render(faces: &[(PathBuf, isize)], start: u32) -> Result<Bytes, GlyphError> {
    let render_error = |e: &dyn std::fmt::Display| GlyphError::Render(e.to_string());
    let library = Library::init().map_err(|e| render_error(&e))?;
    let mut stacks = Vec::with_capacity(faces.len());
    for (path, index) in faces {
        let face = library
            .new_face(path, *index)
            .map_err(|e| render_error(&e))?;
        let stack = glyph_range_for_face(&face, start, start + 255, SIZE, RADIUS, CUTOFF)
            .map_err(|e| render_error(&e))?;
        stacks.push(Glyphs {
            stacks: vec![stack],
        });
    }
    let combined = combine_glyphs(stacks).unwrap_or_default();
    Ok(Bytes::from(combined.encode_to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert_eq!(parse_range("7680-7935").unwrap(), 7680);
        for bad in ["0-256", "1-256", "a-b", "65536-65791", "0"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }
}
