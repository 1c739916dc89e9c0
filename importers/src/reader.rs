//! Reading features with GDAL, reprojecting them to WGS84 with PROJ, and encoding them as COPY
//! rows. Runs on a blocking thread (GDAL and PROJ handles are not `Send`); rows leave it in chunks
//! through a channel to the task that streams them into PostgreSQL.

use std::collections::{BTreeMap, HashSet};

use gdal::vector::{FieldValue, LayerAccess};
use geo_types::Geometry;
use geozero::{CoordDimensions, ToWkb};
use proj::{Proj, Transform};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::copy_text::{push_null, push_text};
use crate::error::{ImportError, ImportResult};
use crate::gdal_errors;
use crate::source::{PlannedFile, SourcePlan, latin1_bytes, open_layer, open_with};
use crate::text_encoding::{self, TextEncoding};

/// Bytes of COPY data sent per chunk.
const CHUNK_BYTES: usize = 1 << 20;

/// How many offending features the report lists by id.
pub const MAX_EXAMPLES: usize = 50;

/// A feature left out or changed, for the job report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// `file name#fid`.
    pub feature: String,
    /// Machine-readable reason, e.g. `null_geometry`.
    pub reason: &'static str,
}

/// What the reader saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadStats {
    /// Features read from the source.
    pub read: u64,
    /// Rows sent to the database.
    pub written: u64,
    /// Features left out, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The first offending features.
    pub examples: Vec<Problem>,
    /// Whether every written row had a distinct source feature id.
    #[serde(skip)]
    pub fids_unique: bool,
    /// Source feature ids seen more than once (the rows are kept and renumbered).
    pub duplicate_ids: u64,
    /// Things worth a look that did not stop the import.
    pub warnings: Vec<String>,
    /// Text values that look mis-decoded (mojibake).
    pub mis_decoded_text: u64,
    /// Stop at the first bad feature (policy `fail`).
    #[serde(skip)]
    pub fail_fast: bool,
}

/// What to do with a bad feature.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ValidationPolicy {
    /// Repair what can be repaired (invalid geometry), skip what cannot, and go on.
    #[default]
    Repair,
    /// Skip every bad feature, including invalid geometries.
    Skip,
    /// Fail the job at the first bad feature; nothing is published.
    Fail,
}

impl ValidationPolicy {
    /// Name stored with the job.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Repair => "repair",
            Self::Skip => "skip",
            Self::Fail => "fail",
        }
    }
}

/// The merged Ho Chi Minh City (since July 2025, Côn Đảo included) with a margin:
/// `[west, south, east, north]`. Features entirely outside are `out_of_area`.
pub const DEFAULT_AREA: [f64; 4] = [105.8, 8.3, 107.9, 11.8];

impl ReadStats {
    /// Total features left out.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Records a left-out feature; under policy `fail`, stops the job instead.
    fn skip(
        &mut self,
        file: &PlannedFile,
        fid: Option<u64>,
        reason: &'static str,
    ) -> ImportResult<()> {
        let name = file_name(file);
        let fid = fid.map_or_else(|| "?".to_owned(), |f| f.to_string());
        if self.fail_fast {
            return Err(ImportError::Validation {
                feature: format!("{name}#{fid}"),
                reason,
            });
        }
        *self.skipped.entry(reason).or_default() += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(Problem {
                feature: format!("{name}#{fid}"),
                reason,
            });
        }
        Ok(())
    }
}

/// Why a feature is left out: the names the reader uses (and job reports show).
pub const SKIP_REASONS: [&str; 6] = [
    "null_geometry",
    "empty_geometry",
    "unsupported_geometry",
    "reprojection_failed",
    "coordinates_out_of_range",
    "out_of_area",
];

/// The reader's own name for a skip reason read back (from a reader process's report).
pub fn skip_reason(name: &str) -> Option<&'static str> {
    SKIP_REASONS.iter().copied().find(|r| *r == name)
}

/// Where the reader's rows go, a chunk at a time; an error stops the read.
pub type RowSink<'a> = dyn FnMut(Vec<u8>) -> ImportResult<()> + 'a;

/// Reads every file of `plan`, sending COPY text rows
/// (`fid`, the plan's fields in order, EWKB hex geometry) to `sink`. `progress` is called with the
/// number of features read so far.
pub fn read_all(
    plan: &SourcePlan,
    rules: &ReadRules,
    sink: &mut RowSink<'_>,
    progress: &mut dyn FnMut(u64),
) -> ImportResult<ReadStats> {
    let mut stats = ReadStats {
        fids_unique: true,
        fail_fast: rules.policy == ValidationPolicy::Fail,
        ..ReadStats::default()
    };
    let mut seen_fids = HashSet::new();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + 64 * 1024);
    let mut values: Vec<Option<FieldValue>> = vec![None; plan.fields.len()];
    gdal_errors::install();
    gdal_errors::take_failures();
    gdal_errors::take_warnings();
    for file in &plan.files {
        let dataset = open_with(&file.path, &file.open_options, file.drivers)?;
        let read_before = stats.read;
        if let Some(encoding) = file.text_encoding {
            stats.warnings.push(format!(
                "{}: text decoded as {encoding:?} (no .cpg, or --encoding)",
                file_name(file)
            ));
        }
        if file.crs.assumed {
            stats.warnings.push(format!(
                "{}: no CRS in the source; coordinates are lon/lat, EPSG:4326 assumed",
                file_name(file)
            ));
        }
        let mut layer = open_layer(
            &dataset,
            &file.path,
            Some(&file.layer_name),
            file.sql.as_deref(),
        )?;
        let to_wgs84 = if file.crs.is_wgs84() {
            None
        } else {
            Some(
                Proj::new_known_crs(&file.crs.definition, "EPSG:4326", None).map_err(|e| {
                    ImportError::Crs {
                        path: file.path.clone(),
                        reason: format!("no transformation from {} to WGS84: {e}", file.crs.label),
                    }
                })?,
            )
        };
        for feature in layer.features() {
            stats.read += 1;
            if stats.read.is_multiple_of(2000) {
                progress(stats.read);
            }
            let fid = feature.fid();
            let Some(gdal_geometry) = feature.geometry().filter(|g| !is_null(g)) else {
                stats.skip(file, fid, "null_geometry")?;
                continue;
            };
            if gdal_geometry.is_empty() {
                stats.skip(file, fid, "empty_geometry")?;
                continue;
            }
            let converted = if has_z_or_m(gdal_geometry.geometry_type()) {
                // Heights and measures are not kept: tiles and queries are 2D.
                let mut flat = gdal_geometry.clone();
                flat.flatten_to_2d();
                flat.to_geo()
            } else {
                gdal_geometry.to_geo()
            };
            let Ok(mut geometry) = converted else {
                stats.skip(file, fid, "unsupported_geometry")?;
                continue;
            };
            if let Some(proj) = &to_wgs84
                && geometry.transform(proj).is_err()
            {
                stats.skip(file, fid, "reprojection_failed")?;
                continue;
            }
            if !within_lonlat_range(&geometry) {
                if file.crs.assumed {
                    return Err(ImportError::Crs {
                        path: file.path.clone(),
                        reason: "has no coordinate reference system and its coordinates are not \
                                 longitude/latitude (projected metres?); pass --source-crs, \
                                 e.g. --source-crs EPSG:9210"
                            .to_owned(),
                    });
                }
                stats.skip(file, fid, "coordinates_out_of_range")?;
                continue;
            }
            if let Some(area) = rules.area
                && !intersects_area(&geometry, area)
            {
                stats.skip(file, fid, "out_of_area")?;
                continue;
            }
            let Ok(ewkb) = geometry.to_ewkb(CoordDimensions::xy(), Some(4326)) else {
                stats.skip(file, fid, "unsupported_geometry")?;
                continue;
            };

            for v in values.iter_mut() {
                *v = None;
            }
            for (file_index, &plan_index) in file.field_map.iter().enumerate() {
                let value = feature.field(file_index).ok().flatten();
                values[plan_index] = decode_text(value, file.text_encoding, &mut stats);
            }
            match fid {
                Some(fid) => {
                    if !seen_fids.insert(fid) {
                        stats.fids_unique = false;
                        stats.duplicate_ids += 1;
                    }
                    chunk.extend_from_slice(fid.to_string().as_bytes());
                }
                None => {
                    stats.fids_unique = false;
                    push_null(&mut chunk);
                }
            }
            for value in &values {
                chunk.push(b'\t');
                push_value(&mut chunk, value.as_ref());
            }
            chunk.push(b'\t');
            // Hex written in place: going through a String cost a tenth of the reader's time.
            let start = chunk.len();
            chunk.resize(start + 2 * ewkb.len(), 0);
            // Cannot fail: the slice is exactly twice the input.
            let _ = hex::encode_to_slice(&ewkb, &mut chunk[start..]);
            chunk.push(b'\n');
            stats.written += 1;
            if chunk.len() >= CHUNK_BYTES {
                send(sink, &mut chunk)?;
            }
        }
        let failures = gdal_errors::take_failures();
        let read_here = stats.read - read_before;
        if !failures.is_empty() || read_here < file.feature_count && file.feature_count != u64::MAX
        {
            return Err(ImportError::Unreadable {
                path: file.path.clone(),
                message: format!(
                    "truncated or corrupt{}; {read_here} of the {} features it declares were readable",
                    failures
                        .first()
                        .map(|f| format!(" ({})", f.trim()))
                        .unwrap_or_default(),
                    file.feature_count,
                ),
            });
        }
    }
    if !chunk.is_empty() {
        send(sink, &mut chunk)?;
    }
    if plan.files.len() > 1 && !stats.fids_unique {
        stats.duplicate_ids = 0; // Files numbering from 0 each is expected, not a data problem.
    }
    if stats.duplicate_ids > 0 {
        stats.warnings.push(format!(
            "{} features repeat an id already seen; ids were renumbered",
            stats.duplicate_ids
        ));
    }
    let mut gdal_warnings = gdal_errors::take_warnings();
    gdal_warnings.count += plan.gdal_warnings.count;
    for message in &plan.gdal_warnings.first {
        if gdal_warnings.first.len() < gdal_errors::QUOTED_WARNINGS
            && !gdal_warnings.first.contains(message)
        {
            gdal_warnings.first.push(message.clone());
        }
    }
    if let Some(line) = gdal_warnings.summary() {
        stats.warnings.push(line);
    }
    if stats.mis_decoded_text > 0 {
        stats.warnings.push(format!(
            "{} text values look mis-decoded (mojibake); check the encoding (--encoding)",
            stats.mis_decoded_text
        ));
    }
    progress(stats.read);
    Ok(stats)
}

fn file_name(file: &PlannedFile) -> String {
    file.path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Re-decodes raw text (read as Latin-1) with the file's encoding, and flags mojibake.
fn decode_text(
    value: Option<FieldValue>,
    encoding: Option<TextEncoding>,
    stats: &mut ReadStats,
) -> Option<FieldValue> {
    match value {
        Some(FieldValue::StringValue(s)) => {
            let text = match encoding {
                Some(e) if !s.is_ascii() => text_encoding::decode(&latin1_bytes(&s), e),
                _ => s,
            };
            if !text.is_ascii() && text_encoding::looks_mis_decoded(&text) {
                stats.mis_decoded_text += 1;
            }
            Some(FieldValue::StringValue(text))
        }
        other => other,
    }
}

fn send(sink: &mut RowSink<'_>, chunk: &mut Vec<u8>) -> ImportResult<()> {
    let full = std::mem::replace(chunk, Vec::with_capacity(CHUNK_BYTES + 64 * 1024));
    sink(full)
}

/// Checks applied while reading.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize)]
pub struct ReadRules {
    /// What to do with bad features.
    pub policy: ValidationPolicy,
    /// WGS84 envelope features must touch; `None` accepts anywhere.
    pub area: Option<[f64; 4]>,
}

fn intersects_area(geometry: &Geometry<f64>, [w, s, e, n]: [f64; 4]) -> bool {
    use geo::BoundingRect;
    geometry
        .bounding_rect()
        .is_some_and(|r| r.min().x <= e && r.max().x >= w && r.min().y <= n && r.max().y >= s)
}

/// The gdal crate hands out a geometry wrapping a NULL pointer for a feature without one (a CSV
/// row whose coordinates do not parse). Asking its type is the only safe probe: GDAL answers
/// "unknown" and reports the NULL pointer, which is not a file error and is dropped here.
fn is_null(geometry: &gdal::vector::Geometry) -> bool {
    if geometry.geometry_type() != gdal::vector::OGRwkbGeometryType::wkbUnknown {
        return false;
    }
    gdal_errors::forget_null_pointer_reports();
    true
}

fn has_z_or_m(kind: gdal::vector::OGRwkbGeometryType::Type) -> bool {
    gdal::vector::geometry_type_has_z(kind) || gdal::vector::geometry_type_has_m(kind)
}

fn within_lonlat_range(geometry: &Geometry<f64>) -> bool {
    use geo::CoordsIter;
    geometry
        .coords_iter()
        .all(|c| c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 90.0)
}

fn push_value(out: &mut Vec<u8>, value: Option<&FieldValue>) {
    match value {
        None => push_null(out),
        Some(FieldValue::IntegerValue(v)) => out.extend_from_slice(v.to_string().as_bytes()),
        Some(FieldValue::Integer64Value(v)) => out.extend_from_slice(v.to_string().as_bytes()),
        Some(FieldValue::RealValue(v)) if v.is_finite() => {
            out.extend_from_slice(v.to_string().as_bytes());
        }
        Some(FieldValue::RealValue(_)) => push_null(out),
        Some(FieldValue::StringValue(s)) => push_text(out, &s.nfc().collect::<String>()),
        Some(FieldValue::DateValue(d)) => push_text(out, &d.format("%Y-%m-%d").to_string()),
        Some(FieldValue::DateTimeValue(d)) => push_text(out, &d.to_rfc3339()),
        Some(FieldValue::IntegerListValue(v)) => push_json(out, v),
        Some(FieldValue::Integer64ListValue(v)) => push_json(out, v),
        Some(FieldValue::RealListValue(v)) => push_json(out, v),
        Some(FieldValue::StringListValue(v)) => {
            let v: Vec<String> = v.iter().map(|s| s.nfc().collect()).collect();
            push_json(out, &v);
        }
    }
}

fn push_json<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => push_text(out, &s),
        Err(_) => push_null(out),
    }
}
