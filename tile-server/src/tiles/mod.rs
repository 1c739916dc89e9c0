//! How a tile reaches a client: the in-memory cache (L1), the shared cache in Redis (L2), then a
//! build by PostGIS (on a replica that is current, else the primary), all kept exact by the
//! change log.

pub mod cache;
pub mod change_log;
pub mod shared_cache;
