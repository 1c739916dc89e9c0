//! Spatial and text queries answered in memory (ward lookup, nearest points, name search) and
//! what OGC API – Features queries are made of (CQL2 filters, `datetime`).

pub mod admin_lookup;
pub mod cql2;
pub mod footprint;
pub mod nearest_index;
pub mod ogc_datetime;
pub mod search_index;

/// Columns of a layer table that are not attributes (removed from properties in answers).
pub const NON_ATTRIBUTE_COLUMNS: &str =
    "ARRAY['geom', 'geom_3857', 'geom_z5', 'geom_z8', 'geom_z10']";
