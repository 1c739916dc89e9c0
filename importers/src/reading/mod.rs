//! Reading a source: finding its files, planning the read (fields, CRS, driver) and streaming
//! its rows to the importer — on a thread of the importing process for GIS staff's own files
//! (`bando import`), or, for every upload, in a **reader process** the importer starts: a child
//! that confines itself (`confine.rs`: resource limits, no network, a file system view of its
//! job folder only, the allowed GDAL drivers only), holds no database connection or credential,
//! and sends the importer frames over a pipe (`wire.rs`). GDAL's parsers are large C code; fed a
//! hostile file, the worst they can do is end that reader, and its job with a reason
//! (`spawn.rs`), while the server and every other job carry on.
//!
//! - `order.rs`: what a reader is asked and what it answers, the same in both places;
//! - `stream.rs`: the importer's view of a read in progress;
//! - `child.rs`, `confine.rs`: the reader process; `spawn.rs`, `wire.rs`: talking to it;
//! - `limits.rs`: its limits and the report a job keeps of how it ran.

pub mod child;
mod confine;
pub mod limits;
mod order;
mod spawn;
mod stream;
mod wire;

pub use limits::{Confinement, ReaderLimits, ReaderReport};
pub use order::{ReadOrder, ReaderEvent, SourceSummary};
pub use stream::{ReaderEnd, Reading, SourceStream};
