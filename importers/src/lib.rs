//! bando's importers: read any GDAL vector source, reproject to WGS84 with PROJ, load it with
//! `COPY` into a staging table, validate and repair it, and publish it atomically into the
//! catalog, recording every step as an import job.
//!
//! The flow of [`import`]: [`source`] finds files, fields and CRSs → [`job`] opens the job →
//! [`reader`] streams reprojected rows → [`staging`] readies the table → [`publish`] swaps it live.

pub mod archive;
pub mod checksum;
pub mod cli;
pub mod convert;
pub mod copy_text;
pub mod crs_definition;
pub mod drivers;
pub mod error;
pub mod field_names;
pub mod gdal_errors;
pub mod job;
pub mod jobs;
pub mod merge;
pub mod metadata;
pub mod osm;
pub mod publish;
pub mod queue;
pub mod reader;
pub mod reading;
pub mod retire;
pub mod rollback;
pub mod search_index;
pub mod source;
pub mod staging;
pub mod text_encoding;

mod import;

pub use error::{ImportError, ImportResult};
pub use import::{ImportOutcome, ImportRequest, import, import_reporting_job};
