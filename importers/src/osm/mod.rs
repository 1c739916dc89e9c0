//! OpenStreetMap extracts (`.osm.pbf`, `.osm`) mapped to the base-map themes the tiles serve, and
//! kept current with OSM change files (`.osc`, `.osc.gz`).
//!
//! An import reads the file once ([`pbf`], [`xml`]) into its objects ([`elements`]), assembles
//! multipolygons with PostGIS ([`areas`]), draws every object into the rows of each theme it
//! belongs to ([`themes`] says which, [`draw`] and [`geometry`] make the rows), and publishes the
//! themes as layers `<prefix>_<theme>` in one transaction ([`import`]), keeping the objects in
//! [`middle`] tables. A change file updates the middle and redraws exactly the objects it touches
//! ([`changes`]).

pub mod areas;
pub mod changes;
pub mod draw;
pub mod elements;
pub mod geometry;
pub mod import;
pub mod middle;
pub mod pbf;
pub mod themes;
pub mod xml;

pub use changes::apply_changes;
pub use import::{OSM_ATTRIBUTION, ThemeOutcome, import_osm, is_osm, theme_slug};
pub use themes::THEMES;
