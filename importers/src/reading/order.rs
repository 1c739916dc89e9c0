//! What a reader is asked to do and what it says back, the same on a thread of this process and
//! in a confined reader process: unpack (uploads), find the files, checksum, convert, plan, then
//! stream the rows.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::convert::{Converter, convert};
use crate::error::{ImportError, ImportResult};
use crate::reader::{ReadRules, ReadStats, read_all};
use crate::source::{PlannedField, SourceOptions, discover, plan};

/// A source to read and how: the trusted part of an import (no database, no credentials).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReadOrder {
    /// A file or a folder of files merged into one layer; relative to the reader's working folder
    /// in a reader process.
    pub path: PathBuf,
    /// How to read it.
    pub source: SourceOptions,
    /// Converter for a non-GIS source.
    pub convert: Option<Converter>,
    /// What to do with bad features.
    pub rules: ReadRules,
    /// `path` is a zip to unpack first (an upload), expanding to at most this many bytes.
    pub unpack_cap: Option<u64>,
}

/// What a reader found before the rows: everything the importer needs to create the staging
/// table and the job's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSummary {
    /// SHA-256 of the files and reading options.
    pub checksum: String,
    /// The GDAL driver that read the source (or the converter's label).
    pub format: String,
    /// The union of the files' fields.
    pub fields: Vec<PlannedField>,
    /// The source CRS (`mixed` when files disagree).
    pub crs_label: String,
    /// Its EPSG code when all files share one.
    pub epsg: Option<i32>,
    /// Every file declares points: no generalised columns are needed.
    pub points_only: bool,
    /// Features the drivers declare.
    pub feature_count: u64,
}

/// What a reader sends while it reads.
#[derive(Debug)]
pub enum ReaderEvent {
    /// The source is planned; rows follow.
    Planned(SourceSummary),
    /// A chunk of COPY text rows.
    Rows(Vec<u8>),
    /// Features read so far.
    Progress(u64),
}

/// Reads `order` with `work_dir` as the place for files it makes (unpacked zips, converted
/// sources), sending what it finds to `emit`; returns the reader's statistics.
pub fn read(
    order: &ReadOrder,
    work_dir: &Path,
    emit: &mut dyn FnMut(ReaderEvent) -> ImportResult<()>,
) -> ImportResult<ReadStats> {
    let path = match order.unpack_cap {
        Some(cap) => crate::archive::unpack(&order.path, &work_dir.join("unpacked"), cap)?,
        None => order.path.clone(),
    };
    let files = discover(&path)?;
    let reading = format!("{:?} {:?}", order.source, order.convert);
    let checksum = crate::checksum::source_checksum(&files, &reading)?;
    let readable = match order.convert {
        Some(c) => {
            let out_dir = work_dir.join("converted");
            std::fs::create_dir_all(&out_dir).map_err(|e| ImportError::Source {
                path: out_dir.clone(),
                reason: e.to_string(),
            })?;
            files
                .iter()
                .map(|f| convert(c, f, &out_dir))
                .collect::<ImportResult<Vec<_>>>()?
        }
        None => files,
    };
    let plan = plan(&readable, &order.source)?;
    let summary = SourceSummary {
        checksum,
        format: order
            .convert
            .map_or_else(|| plan.format.clone(), |c| c.label().to_owned()),
        fields: plan.fields.clone(),
        crs_label: plan.crs_label(),
        epsg: plan.epsg(),
        points_only: plan.points_only,
        feature_count: plan.feature_count(),
    };
    emit(ReaderEvent::Planned(summary))?;
    // Rows and progress go out through the one `emit`, never at the same time.
    let emit = std::cell::RefCell::new(emit);
    read_all(
        &plan,
        &order.rules,
        &mut |rows| (emit.borrow_mut())(ReaderEvent::Rows(rows)),
        // Progress is advisory: a reader that cannot say it finds out on its next rows.
        &mut |read| {
            let _ = (emit.borrow_mut())(ReaderEvent::Progress(read));
        },
    )
}
