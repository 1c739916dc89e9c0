//! What a map style needs besides tiles: glyphs for labels and sprite sheets for icons.

pub mod glyphs;
pub mod sprites;
