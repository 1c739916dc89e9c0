//! Code shared by the bando tile server and importers.
//!
//! - [`access`], [`api_key`], [`audit`]: who may see which layer, API keys (stored hashed), the
//!   audit log,
//! - [`layer`]: the catalog's layer model and SQL identifier rules,
//! - [`catalog`]: reading and writing catalog rows,
//! - [`tile`]: Web Mercator tile maths (z/x/y addressing, bounds),
//! - [`db`]: connecting, migrating and pinging PostgreSQL,
//! - [`embedded`]: the private PostgreSQL + PostGIS cluster used when no `DATABASE_URL` is given,
//! - [`notify`]: the publish notifications the importers send and the server listens to.
//!
//! No HTTP framework here: both binaries depend on this crate.

pub mod access;
pub mod api_key;
pub mod audit;
pub mod cancel_on_drop;
pub mod catalog;
pub mod db;
pub mod embedded;
pub mod error;
pub mod layer;
pub mod notify;
pub mod scratch;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tile;

pub use error::{CoreError, CoreResult};
