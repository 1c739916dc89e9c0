//! Finding what to read: a file, or a folder of files merged into one layer; the union of their
//! attribute fields; and the coordinate reference system of each.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gdal::Dataset;
use gdal::spatial_ref::SpatialRef;
use gdal::vector::{LayerAccess, OGRFieldType};

use crate::error::{ImportError, ImportResult};
use crate::field_names::safe_column_name;
use crate::text_encoding::{self, TextEncoding};

/// File extensions recognised when a folder is imported.
pub const VECTOR_EXTENSIONS: [&str; 12] = [
    "geojson", "json", "shp", "gpkg", "kml", "fgb", "csv", "gml", "geojsonl", "geojsons", "tab",
    "sqlite",
];

/// An attribute column of the layer being imported: the union over all source files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedField {
    /// Name in the source.
    pub source_name: String,
    /// Safe SQL column name.
    pub column: String,
    /// OGR field type (`OGRFieldType::OFT*`).
    pub ogr_type: u32,
}

/// How a file's coordinates reach WGS84.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCrs {
    /// What PROJ is given as the source CRS (`EPSG:n` when identified, else WKT).
    pub definition: String,
    /// Short human label: `EPSG:32648`, or the CRS name from the file.
    pub label: String,
    /// EPSG code when known.
    pub epsg: Option<i32>,
    /// The source declared no CRS; WGS84 is assumed as long as every coordinate is a valid
    /// longitude/latitude (the reader fails the file on the first one that is not).
    pub assumed: bool,
}

impl SourceCrs {
    /// WGS84 lon/lat: no transformation needed.
    pub fn is_wgs84(&self) -> bool {
        self.epsg == Some(4326)
    }
}

/// One file to read.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// The file.
    pub path: PathBuf,
    /// Layer of the dataset to read.
    pub layer_name: String,
    /// For each field of the file (by OGR index): its index in [`SourcePlan::fields`].
    pub field_map: Vec<usize>,
    /// Its CRS.
    pub crs: SourceCrs,
    /// Feature count as the driver reports it (may be an estimate).
    pub feature_count: u64,
    /// GDAL open options the file is read with.
    pub open_options: Vec<String>,
    /// The GDAL drivers allowed to open it (`None`: any, by `--allow-any-driver`).
    pub drivers: Option<&'static [&'static str]>,
    /// SQL to read instead of the layer.
    pub sql: Option<String>,
    /// When set, text comes from GDAL as raw bytes (one Latin-1 char per byte) to be decoded
    /// with this encoding: a Shapefile without `.cpg`, or one forced with `--encoding`.
    pub text_encoding: Option<TextEncoding>,
}

/// Everything needed to read the source.
#[derive(Debug, Clone)]
pub struct SourcePlan {
    /// The files, in reading order.
    pub files: Vec<PlannedFile>,
    /// Union of their fields, in first-seen order.
    pub fields: Vec<PlannedField>,
    /// GDAL driver short name of the first file.
    pub format: String,
    /// Every file declares point geometries: no generalised columns are needed.
    pub points_only: bool,
    /// What GDAL warned about while the files were opened and planned.
    pub gdal_warnings: crate::gdal_errors::Warnings,
}

impl SourcePlan {
    /// Feature count over all files, as the drivers report it.
    pub fn feature_count(&self) -> u64 {
        self.files.iter().map(|f| f.feature_count).sum()
    }

    /// The CRS label of the source, or `mixed` when files disagree.
    pub fn crs_label(&self) -> String {
        let labels: HashSet<&str> = self.files.iter().map(|f| f.crs.label.as_str()).collect();
        match labels.len() {
            1 => self.files[0].crs.label.clone(),
            _ => "mixed".to_owned(),
        }
    }

    /// The EPSG code shared by all files, if any.
    pub fn epsg(&self) -> Option<i32> {
        let first = self.files.first()?.crs.epsg;
        self.files
            .iter()
            .all(|f| f.crs.epsg == first)
            .then_some(first)
            .flatten()
    }
}

/// The files behind `path`: the file itself, or the vector files directly inside a folder,
/// sorted by name (Shapefile sidecars are not listed: GDAL opens them through the `.shp`).
pub fn discover(path: &Path) -> ImportResult<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| ImportError::Source {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| ImportError::Source {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && has_vector_extension(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ImportError::Source {
            path: path.to_path_buf(),
            reason: format!(
                "folder has no vector file (looked for .{})",
                VECTOR_EXTENSIONS.join(", .")
            ),
        });
    }
    Ok(files)
}

fn has_vector_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VECTOR_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// How to read the source.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SourceOptions {
    /// Layer to read in a multi-layer file (default: the first).
    pub source_layer: Option<String>,
    /// CRS overriding the file's (`EPSG:9210`, WKT, PROJ string).
    pub source_crs: Option<String>,
    /// Text encoding of Shapefile attributes, overriding `.cpg` and detection.
    pub encoding: Option<TextEncoding>,
    /// CSV: longitude column (default: the first of lon, lng, long, longitude, x).
    pub lon_column: Option<String>,
    /// CSV: latitude column (default: the first of lat, latitude, y).
    pub lat_column: Option<String>,
    /// CSV: WKT geometry column (default: the first of wkt, geom, geometry, the_geom).
    pub wkt_column: Option<String>,
    /// Read the result of this SQL (GDAL's SQLite dialect) instead of a layer, like
    /// `ogr2ogr -sql`.
    pub sql: Option<String>,
    /// Let GDAL open the files with any driver it picks by their content, and names it reads
    /// other than plain files (`--allow-any-driver`: GIS staff, their own files). Off, a file is
    /// opened only by the drivers of the format its extension promises (`drivers.rs`).
    pub any_driver: bool,
}

impl SourceOptions {
    /// The drivers allowed to open `path`, checking that its name is a plain file's and its
    /// content no refused format's; `None` when any driver may (`any_driver`).
    pub fn drivers_for(&self, path: &Path) -> ImportResult<Option<&'static [&'static str]>> {
        if self.any_driver {
            return Ok(None);
        }
        crate::drivers::check_plain_file_name(path)?;
        let Some(drivers) = crate::drivers::for_path(path) else {
            return Err(ImportError::Source {
                path: path.to_path_buf(),
                reason: format!(
                    "is not in a format accepted here (by extension: {}); GIS staff may pass \
                     --allow-any-driver for a file of their own",
                    crate::drivers::extensions()
                ),
            });
        };
        let mut head = Vec::with_capacity(4096);
        if let Ok(file) = std::fs::File::open(path) {
            use std::io::Read;
            let _ = file.take(4096).read_to_end(&mut head);
        }
        if let Some(what) = crate::drivers::refused_content(&head) {
            return Err(ImportError::Source {
                path: path.to_path_buf(),
                reason: format!(
                    "refused format: its content is {what}, which is never opened (a .{} file \
                     must be {})",
                    path.extension()
                        .map(|e| e.to_string_lossy().to_ascii_lowercase())
                        .unwrap_or_default(),
                    drivers.join(" or ")
                ),
            });
        }
        Ok(Some(drivers))
    }
}

/// A layer of a dataset, or the result of an SQL query on it.
pub enum SourceLayer<'a> {
    /// A layer.
    Plain(gdal::vector::Layer<'a>),
    /// An SQL result.
    Sql(gdal::vector::sql::ResultSet<'a>),
}

impl<'a> std::ops::Deref for SourceLayer<'a> {
    type Target = gdal::vector::Layer<'a>;
    fn deref(&self) -> &Self::Target {
        match self {
            Self::Plain(l) => l,
            Self::Sql(r) => r,
        }
    }
}

impl std::ops::DerefMut for SourceLayer<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Self::Plain(l) => l,
            Self::Sql(r) => r,
        }
    }
}

/// The layer to read: the SQL result if `sql` is given, else the named layer, else the first.
pub fn open_layer<'a>(
    dataset: &'a Dataset,
    path: &Path,
    name: Option<&str>,
    sql: Option<&str>,
) -> ImportResult<SourceLayer<'a>> {
    if let Some(sql) = sql {
        return match dataset.execute_sql(sql, None, gdal::vector::sql::Dialect::SQLITE) {
            Ok(Some(result)) => Ok(SourceLayer::Sql(result)),
            Ok(None) => Err(ImportError::InvalidOption {
                field: "sql",
                reason: "the query returns no layer".to_owned(),
            }),
            // The gdal crate fails a query during which GDAL only warned (an OSM extract's
            // unclosed rings): say so, with GDAL's words.
            Err(gdal::errors::GdalError::CplError { class, msg, .. })
                if gdal::errors::CplErrType::from(class) == gdal::errors::CplErrType::Warning =>
            {
                Err(ImportError::InvalidOption {
                    field: "sql",
                    reason: format!(
                        "GDAL warned while running the query and the result was dropped: {}",
                        msg.trim()
                    ),
                })
            }
            Err(e) => Err(ImportError::InvalidOption {
                field: "sql",
                reason: gdal_message(&e),
            }),
        };
    }
    match name {
        Some(name) => dataset
            .layer_by_name(name)
            .map(SourceLayer::Plain)
            .map_err(|_| ImportError::Source {
                path: path.to_path_buf(),
                reason: format!(
                    "no layer named {name:?} (layers: {})",
                    layer_names(dataset).join(", ")
                ),
            }),
        None => dataset
            .layer(0)
            .map(SourceLayer::Plain)
            .map_err(|_| ImportError::Source {
                path: path.to_path_buf(),
                reason: "holds no vector layer".to_owned(),
            }),
    }
}

/// Opens every file, picks its layer, merges the field lists and resolves each CRS.
pub fn plan(files: &[PathBuf], options: &SourceOptions) -> ImportResult<SourcePlan> {
    // GDAL's messages go to the job report, not raw to the terminal.
    crate::gdal_errors::install();
    crate::gdal_errors::take_warnings();
    let source_layer = options.source_layer.as_deref();
    let source_crs = options.source_crs.as_deref();
    let mut fields: Vec<PlannedField> = Vec::new();
    let mut taken = HashSet::new();
    let mut planned = Vec::with_capacity(files.len());
    let mut format = String::new();
    let mut points_only = true;
    for path in files {
        let drivers = options.drivers_for(path)?;
        let mut open_options = open_options_for(path, options);
        let mut text_encoding = None;
        if is_shapefile(path) && (options.encoding.is_some() || !has_cpg(path)) {
            // Read bytes as they are (Latin-1 maps each byte to one char) and decode ourselves.
            open_options.push("ENCODING=ISO-8859-1".to_owned());
            text_encoding = Some(match options.encoding {
                Some(e) => e,
                None => detect_encoding(path, &open_options, drivers, source_layer)?,
            });
        }
        let dataset = open_with(path, &open_options, drivers)?;
        if format.is_empty() {
            format = dataset.driver().short_name();
        }
        let layer = open_layer(&dataset, path, source_layer, options.sql.as_deref())?;
        let declared = gdal::vector::geometry_type_flatten(layer.defn().geometry_type());
        points_only &= declared == gdal::vector::OGRwkbGeometryType::wkbPoint
            || declared == gdal::vector::OGRwkbGeometryType::wkbMultiPoint;
        let mut field_map = Vec::new();
        for field in layer.defn().fields() {
            let name = field.name();
            let ogr_type = field.field_type();
            let index = match fields.iter().position(|f| f.source_name == name) {
                Some(i) => {
                    fields[i].ogr_type = merge_types(fields[i].ogr_type, ogr_type);
                    i
                }
                None => {
                    fields.push(PlannedField {
                        column: safe_column_name(&name, &mut taken),
                        source_name: name,
                        ogr_type,
                    });
                    fields.len() - 1
                }
            };
            field_map.push(index);
        }
        let crs = match source_crs {
            Some(def) => crs_from_override(path, def)?,
            None => crs_of_layer(path, layer.spatial_ref(), &format)?,
        };
        planned.push(PlannedFile {
            path: path.clone(),
            layer_name: layer.name(),
            field_map,
            crs,
            feature_count: layer.feature_count(),
            open_options,
            drivers,
            text_encoding,
            sql: options.sql.clone(),
        });
    }
    Ok(SourcePlan {
        files: planned,
        fields,
        format,
        points_only,
        gdal_warnings: crate::gdal_errors::take_warnings(),
    })
}

/// Opens a vector dataset read-only with driver open options (`KEY=VALUE`), by one of
/// `drivers` only (`None`: whichever GDAL picks).
pub fn open_with(
    path: &Path,
    open_options: &[String],
    drivers: Option<&[&str]>,
) -> ImportResult<Dataset> {
    let open_options: Vec<&str> = open_options.iter().map(String::as_str).collect();
    let options = gdal::DatasetOptions {
        open_flags: gdal::GdalOpenFlags::GDAL_OF_VECTOR | gdal::GdalOpenFlags::GDAL_OF_READONLY,
        open_options: (!open_options.is_empty()).then_some(open_options.as_slice()),
        allowed_drivers: drivers,
        ..Default::default()
    };
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return Err(ImportError::Unreadable {
            path: path.to_path_buf(),
            message: "the file is empty".to_owned(),
        });
    }
    if is_shapefile(path) {
        for (ext, what) in [("shx", "its index"), ("dbf", "its attribute table")] {
            if sidecar(path, ext).is_none() {
                return Err(ImportError::Unreadable {
                    path: path.to_path_buf(),
                    message: format!("the .{ext} file ({what}) is missing beside it"),
                });
            }
        }
    }
    Dataset::open_ex(path, options).map_err(|e| ImportError::Unreadable {
        path: path.to_path_buf(),
        message: match drivers {
            Some(drivers) if gdal_message(&e) == UNRECOGNISED => format!(
                "not a file {} can read (the format its extension promises)",
                drivers.join(" or ")
            ),
            _ => gdal_message(&e),
        },
    })
}

/// What [`gdal_message`] says when GDAL found no driver for a file.
const UNRECOGNISED: &str = "not a vector format GDAL can read";

fn is_shapefile(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("shp") || e.eq_ignore_ascii_case("dbf"))
}

/// Whether a Shapefile has a code page sidecar (`.cpg` or `.CPG`), which GDAL honours.
fn has_cpg(path: &Path) -> bool {
    sidecar(path, "cpg").is_some()
}

/// The sidecar of a Shapefile with extension `ext`, in whatever case it was written.
fn sidecar(path: &Path, ext: &str) -> Option<PathBuf> {
    [ext.to_owned(), ext.to_ascii_uppercase()]
        .iter()
        .map(|e| path.with_extension(e))
        .find(|p| p.exists())
}

/// GDAL's own message out of the crate's wrapper text.
fn gdal_message(error: &gdal::errors::GdalError) -> String {
    let text = error.to_string();
    match text.split_once("Error msg: '") {
        Some((_, msg)) if !msg.trim_end_matches('\'').trim().is_empty() => {
            msg.trim_end_matches('\'').trim().to_owned()
        }
        _ => UNRECOGNISED.to_owned(),
    }
}

fn open_options_for(path: &Path, options: &SourceOptions) -> Vec<String> {
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        return Vec::new();
    }
    let names = |given: &Option<String>, defaults: &str| {
        given.clone().unwrap_or_else(|| defaults.to_owned())
    };
    vec![
        format!(
            "X_POSSIBLE_NAMES={}",
            names(&options.lon_column, "lon,lng,long,longitude,x")
        ),
        format!(
            "Y_POSSIBLE_NAMES={}",
            names(&options.lat_column, "lat,latitude,y")
        ),
        format!(
            "GEOM_POSSIBLE_NAMES={}",
            names(&options.wkt_column, "wkt,geom,geometry,the_geom")
        ),
        "KEEP_GEOM_COLUMNS=NO".to_owned(),
        "AUTODETECT_TYPE=YES".to_owned(),
        "EMPTY_STRING_AS_NULL=YES".to_owned(),
    ]
}

/// Samples text values of a Shapefile read byte-for-byte and picks their encoding.
fn detect_encoding(
    path: &Path,
    open_options: &[String],
    drivers: Option<&[&str]>,
    source_layer: Option<&str>,
) -> ImportResult<TextEncoding> {
    let dataset = open_with(path, open_options, drivers)?;
    let mut layer = open_layer(&dataset, path, source_layer, None)?;
    let mut samples: Vec<Vec<u8>> = Vec::new();
    for feature in layer.features().take(5000) {
        for (_, value) in feature.fields() {
            if let Some(gdal::vector::FieldValue::StringValue(s)) = value
                && !s.is_ascii()
            {
                samples.push(latin1_bytes(&s));
            }
        }
    }
    Ok(text_encoding::detect(samples.iter().map(Vec::as_slice)))
}

/// The bytes behind text GDAL decoded as Latin-1 (every char is ≤ U+00FF).
pub fn latin1_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn layer_names(dataset: &Dataset) -> Vec<String> {
    dataset.layers().map(|l| l.name()).collect()
}

/// The wider of two OGR field types, so one column can hold both.
fn merge_types(a: u32, b: u32) -> u32 {
    use OGRFieldType as T;
    let numeric_rank = |t: u32| match t {
        T::OFTInteger => Some(0),
        T::OFTInteger64 => Some(1),
        T::OFTReal => Some(2),
        _ => None,
    };
    if a == b {
        return a;
    }
    match (numeric_rank(a), numeric_rank(b)) {
        (Some(ra), Some(rb)) if ra.max(rb) == 1 => T::OFTInteger64,
        (Some(_), Some(_)) => T::OFTReal,
        _ => T::OFTString,
    }
}

fn crs_from_override(path: &Path, definition: &str) -> ImportResult<SourceCrs> {
    crate::crs_definition::check(definition).map_err(|reason| ImportError::InvalidOption {
        field: "source_crs",
        reason: format!("{definition:?} {reason}"),
    })?;
    let srs = SpatialRef::from_definition(definition).map_err(|e| ImportError::Crs {
        path: path.to_path_buf(),
        reason: format!("--source-crs {definition:?} is not a CRS PROJ knows: {e}"),
    })?;
    let epsg = epsg_of(srs);
    Ok(SourceCrs {
        definition: definition.to_owned(),
        label: definition.to_owned(),
        epsg,
        assumed: false,
    })
}

fn crs_of_layer(path: &Path, srs: Option<SpatialRef>, format: &str) -> ImportResult<SourceCrs> {
    let Some(srs) = srs else {
        // RFC 7946: GeoJSON coordinates are WGS84 lon/lat unless stated otherwise.
        if format.starts_with("GeoJSON") {
            return Ok(wgs84());
        }
        // No CRS (a Shapefile without .prj, a CSV): WGS84 only if every coordinate fits.
        return Ok(SourceCrs {
            assumed: true,
            label: "EPSG:4326 (assumed: no CRS in the source)".to_owned(),
            ..wgs84()
        });
    };
    let name = srs.name().unwrap_or_else(|| "unnamed CRS".to_owned());
    let wkt = srs.to_wkt().map_err(|e| ImportError::Crs {
        path: path.to_path_buf(),
        reason: format!("CRS {name:?} cannot be exported: {e}"),
    })?;
    Ok(match epsg_of(srs) {
        Some(code) => SourceCrs {
            definition: format!("EPSG:{code}"),
            label: format!("EPSG:{code}"),
            epsg: Some(code),
            assumed: false,
        },
        None => SourceCrs {
            definition: wkt,
            label: name,
            epsg: None,
            assumed: false,
        },
    })
}

fn epsg_of(mut srs: SpatialRef) -> Option<i32> {
    if srs.auth_name().as_deref() != Some("EPSG") {
        // Fails harmlessly when GDAL cannot match the definition to a code.
        let _ = srs.auto_identify_epsg();
    }
    (srs.auth_name().as_deref() == Some("EPSG"))
        .then(|| srs.auth_code().ok())
        .flatten()
}

fn wgs84() -> SourceCrs {
    SourceCrs {
        definition: "EPSG:4326".to_owned(),
        label: "EPSG:4326".to_owned(),
        epsg: Some(4326),
        assumed: false,
    }
}
