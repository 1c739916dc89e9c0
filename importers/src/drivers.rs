//! Which GDAL drivers may open which file. GDAL picks a driver by a file's *content*, not its
//! name: a file called `x.geojson` holding an OGR VRT document is opened by the VRT driver, which
//! then reads whatever other file or URL the document names. So a source is opened only with the
//! drivers of the format its extension promises, and a name GDAL would read as something other
//! than a plain file (`/vsicurl/…`, `CSV:…`, `GPKG:…:layer`) is refused before GDAL sees it.
//!
//! Uploads always open this way (in a confined reader process, `reader_process`); `bando import`
//! does too unless GIS staff pass `--allow-any-driver` for a file of their own.

use std::path::Path;

use crate::error::{ImportError, ImportResult};

/// The formats sources may be in, by file extension (lower case), with the GDAL drivers allowed
/// to open each. Nothing else is opened: never VRT, never a driver that reads other files or URLs
/// named inside the file.
pub const FORMATS: &[(&str, &[&str])] = &[
    ("shp", &["ESRI Shapefile"]),
    ("dbf", &["ESRI Shapefile"]),
    ("geojson", &["GeoJSON", "GeoJSONSeq"]),
    ("json", &["GeoJSON", "GeoJSONSeq"]),
    ("geojsonl", &["GeoJSONSeq"]),
    ("geojsons", &["GeoJSONSeq"]),
    ("gpkg", &["GPKG"]),
    ("kml", &["KML", "LIBKML"]),
    ("fgb", &["FlatGeobuf"]),
    ("csv", &["CSV"]),
    ("gml", &["GML"]),
    ("tab", &["MapInfo File"]),
];

/// Every driver any format may use: the only ones a confined reader keeps registered.
pub fn all_allowed() -> Vec<&'static str> {
    let mut drivers: Vec<&'static str> = FORMATS
        .iter()
        .flat_map(|(_, drivers)| drivers.iter().copied())
        .collect();
    drivers.sort_unstable();
    drivers.dedup();
    drivers
}

/// The drivers allowed to open `path`, by its extension; `None` for an extension no format has.
pub fn for_path(path: &Path) -> Option<&'static [&'static str]> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    FORMATS
        .iter()
        .find(|(e, _)| *e == ext)
        .map(|(_, drivers)| *drivers)
}

/// The extensions of [`FORMATS`], for messages.
pub fn extensions() -> String {
    FORMATS
        .iter()
        .map(|(ext, _)| format!(".{ext}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses a dataset name GDAL would not read as a plain local file: a virtual file system path
/// (`/vsicurl/`, `/vsizip/`, …), a driver prefix (`CSV:`, `GPKG:`, `PG:`, …) or a URL.
pub fn check_plain_file_name(path: &Path) -> ImportResult<()> {
    let text = path.to_string_lossy();
    let refused = |what: &str| {
        Err(ImportError::Source {
            path: path.to_path_buf(),
            reason: format!(
                "{what}; only plain files are read (GIS staff may pass --allow-any-driver for a file of their own)"
            ),
        })
    };
    let lower = text.to_ascii_lowercase();
    // GDAL reads a virtual file system only as a name's prefix.
    if lower.starts_with("/vsi") {
        return refused("is a GDAL virtual file system path (/vsi…)");
    }
    if lower.contains("://") {
        return refused("is a URL");
    }
    if let Some((prefix, _)) = text.split_once(':')
        && !prefix.is_empty()
        && prefix.len() <= 16
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return refused(&format!("starts with a GDAL driver prefix ({prefix}:)"));
    }
    Ok(())
}

/// What a file's first bytes say it is, when that is a format sources may never be in, so the
/// refusal can name it (`None`: nothing recognised, or a format with no reason to be refused).
pub fn refused_content(head: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let xml_body = trimmed
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split_once("?>").map(|(_, body)| body.trim_start()))
        .unwrap_or(trimmed);
    // Comments before the root element do not change what the document is.
    let mut body = xml_body;
    while let Some(rest) = body.strip_prefix("<!--") {
        body = rest
            .split_once("-->")
            .map_or("", |(_, after)| after.trim_start());
    }
    if body.starts_with("<OGRVRTDataSource") {
        return Some("an OGR VRT document (a GDAL virtual format that reads other files and URLs)");
    }
    if body.starts_with("<VRTDataset") {
        return Some("a GDAL raster VRT document (it reads other files and URLs)");
    }
    if body.starts_with("<!DOCTYPE") && body.contains("<OGRVRTDataSource") {
        return Some("an OGR VRT document (a GDAL virtual format that reads other files and URLs)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_upload_extension_has_drivers_and_vrt_is_none_of_them() {
        for ext in [
            "shp", "geojson", "json", "gpkg", "kml", "fgb", "csv", "gml", "tab",
        ] {
            let drivers = for_path(Path::new(&format!("x.{ext}"))).unwrap_or_default();
            assert!(!drivers.is_empty(), "{ext}");
        }
        assert!(!all_allowed().iter().any(|d| d.contains("VRT")));
        assert_eq!(for_path(Path::new("x.vrt")), None);
        assert_eq!(
            for_path(Path::new("X.GeoJSON")),
            Some(&["GeoJSON", "GeoJSONSeq"][..])
        );
    }

    #[test]
    fn names_gdal_would_not_read_as_plain_files_are_refused() {
        for name in [
            "/vsicurl/http://127.0.0.1:9/x.csv",
            "/vsizip//tmp/a.zip/b.shp",
            "/VSIGZIP//tmp/a.gz",
            "CSV:/etc/passwd",
            "GPKG:/tmp/a.gpkg:layer",
            "PG:dbname=x",
            "http://example.com/x.geojson",
        ] {
            assert!(check_plain_file_name(Path::new(name)).is_err(), "{name}");
        }
        for name in [
            "/tmp/job/x.geojson",
            "wards.shp",
            "/data/vsi/x.csv",
            "a b/c.gpkg",
        ] {
            assert!(check_plain_file_name(Path::new(name)).is_ok(), "{name}");
        }
    }

    #[test]
    fn vrt_documents_are_named_however_they_start() {
        for doc in [
            "<OGRVRTDataSource><OGRVRTLayer name=\"x\"/></OGRVRTDataSource>",
            "\u{feff}  <?xml version=\"1.0\"?>\n<OGRVRTDataSource>",
            "<?xml version=\"1.0\"?><!-- hi --><OGRVRTDataSource>",
            "<VRTDataset rasterXSize=\"1\">",
        ] {
            assert!(refused_content(doc.as_bytes()).is_some(), "{doc}");
        }
        for doc in ["{\"type\":\"FeatureCollection\"}", "<kml>", "a,b\n1,2\n"] {
            assert_eq!(refused_content(doc.as_bytes()), None, "{doc}");
        }
    }
}
