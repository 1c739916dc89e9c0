//! How a tile reaches a client: the in-memory cache (L1), the shared cache in Redis (L2), then a
//! build by PostGIS (on a replica that is current, else the primary), all kept exact by the
//! change log; the sources that build tiles, the composite definitions they draw, and the PMTiles
//! export.

pub mod cache;
pub mod change_log;
pub mod composite;
pub mod export;
pub mod shared_cache;
pub mod sources;
