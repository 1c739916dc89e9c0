//! Converters for sources that are not a GIS format GDAL reads, turning them into GeoJSON that
//! the normal import path then loads (validation, reprojection, atomic publish all apply):
//!
//! - `hcmc-bus-stops`: the HCMC bus crawl's `stops.json` (NDJSON, one route variant a line, stops
//!   repeated per variant): one Point per unique `StopId`, with the routes serving it.
//! - `hcmc-bus-routes`: its `paths.json` (NDJSON of parallel `lat`/`lng` arrays): one LineString
//!   per route variant, named from `vars.json` beside it when present.
//! - `dvhcvn`: the dvhcvn nested JSON (`79.json`): one MultiPolygon per district (`level2s`).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{ImportError, ImportResult};

/// Which converter.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Converter {
    /// HCMC bus stops NDJSON.
    HcmcBusStops,
    /// HCMC bus route polylines NDJSON.
    HcmcBusRoutes,
    /// dvhcvn nested district JSON.
    Dvhcvn,
}

impl Converter {
    /// Label recorded as the job's format.
    pub fn label(self) -> &'static str {
        match self {
            Self::HcmcBusStops => "hcmc-bus-stops (NDJSON)",
            Self::HcmcBusRoutes => "hcmc-bus-routes (NDJSON)",
            Self::Dvhcvn => "dvhcvn (JSON)",
        }
    }
}

/// Converts `input` into a GeoJSON file in `out_dir`; returns its path.
pub fn convert(converter: Converter, input: &Path, out_dir: &Path) -> ImportResult<PathBuf> {
    let features = match converter {
        Converter::HcmcBusStops => bus_stops(input)?,
        Converter::HcmcBusRoutes => bus_routes(input)?,
        Converter::Dvhcvn => dvhcvn(input)?,
    };
    if features.is_empty() {
        return Err(source_error(input, "holds no feature for this converter"));
    }
    let out = out_dir.join("converted.geojson");
    let collection = json!({ "type": "FeatureCollection", "features": features });
    let mut file = std::fs::File::create(&out).map_err(|e| source_error(&out, &e.to_string()))?;
    file.write_all(collection.to_string().as_bytes())
        .map_err(|e| source_error(&out, &e.to_string()))?;
    Ok(out)
}

fn source_error(path: &Path, reason: &str) -> ImportError {
    ImportError::Source {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

/// Parses NDJSON, naming the line of the first bad one.
fn ndjson(input: &Path) -> ImportResult<Vec<Value>> {
    let file = std::fs::File::open(input).map_err(|e| source_error(input, &e.to_string()))?;
    let mut values = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| source_error(input, &e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line)
            .map_err(|e| source_error(input, &format!("line {}: not JSON: {e}", n + 1)))?;
        values.push(value);
    }
    Ok(values)
}

fn bus_stops(input: &Path) -> ImportResult<Vec<Value>> {
    let mut stops: BTreeMap<i64, Value> = BTreeMap::new();
    let mut routes: HashMap<i64, std::collections::BTreeSet<String>> = HashMap::new();
    for variant in ndjson(input)? {
        let Some(list) = variant.get("Stops").and_then(Value::as_array) else {
            return Err(source_error(
                input,
                "a line has no \"Stops\" array: not a stops.json",
            ));
        };
        for stop in list {
            let Some(id) = stop.get("StopId").and_then(Value::as_i64) else {
                continue;
            };
            if let Some(r) = stop.get("Routes").and_then(Value::as_str) {
                routes.entry(id).or_default().extend(
                    r.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty()),
                );
            }
            stops.entry(id).or_insert_with(|| stop.clone());
        }
    }
    Ok(stops
        .into_iter()
        .filter_map(|(id, stop)| {
            let lon = stop.get("Lng")?.as_f64()?;
            let lat = stop.get("Lat")?.as_f64()?;
            let text = |k: &str| stop.get(k).cloned().unwrap_or(Value::Null);
            let served: Vec<String> = routes.remove(&id).unwrap_or_default().into_iter().collect();
            Some(json!({
                "type": "Feature",
                "id": id,
                "properties": {
                    "stop_id": id, "code": text("Code"), "name": text("Name"),
                    "stop_type": text("StopType"), "zone": text("Zone"), "ward": text("Ward"),
                    "address_no": text("AddressNo"), "street": text("Street"),
                    "support_disability": text("SupportDisability"), "status": text("Status"),
                    "routes": served.join(", "),
                },
                "geometry": { "type": "Point", "coordinates": [lon, lat] }
            }))
        })
        .collect())
}

fn bus_routes(input: &Path) -> ImportResult<Vec<Value>> {
    let names = route_variant_names(&input.with_file_name("vars.json"));
    let mut features = Vec::new();
    for line in ndjson(input)? {
        let coords = |k: &str| -> Option<Vec<f64>> {
            line.get(k)?.as_array()?.iter().map(Value::as_f64).collect()
        };
        let (Some(lat), Some(lng)) = (coords("lat"), coords("lng")) else {
            return Err(source_error(
                input,
                "a line lacks \"lat\"/\"lng\" arrays: not a paths.json",
            ));
        };
        if lat.len() != lng.len() || lat.len() < 2 {
            continue;
        }
        // RouteId is an integer here and a string in stops.json: accept both.
        let number = |k: &str| {
            line.get(k)
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
        };
        let (Some(route), Some(variant)) = (number("RouteId"), number("RouteVarId")) else {
            continue;
        };
        let info = names.get(&(route, variant)).cloned().unwrap_or(Value::Null);
        let field = |k: &str| info.get(k).cloned().unwrap_or(Value::Null);
        let coordinates: Vec<[f64; 2]> = lng.iter().zip(&lat).map(|(x, y)| [*x, *y]).collect();
        features.push(json!({
            "type": "Feature",
            "id": route * 1000 + variant,
            "properties": {
                "route_id": route, "route_var_id": variant, "route_no": field("RouteNo"),
                "name": field("RouteVarName"), "short_name": field("RouteVarShortName"),
                "start_stop": field("StartStop"), "end_stop": field("EndStop"),
                "distance_m": field("Distance"), "outbound": field("Outbound"),
                "running_time_min": field("RunningTime"),
            },
            "geometry": { "type": "LineString", "coordinates": coordinates }
        }));
    }
    Ok(features)
}

/// `(RouteId, RouteVarId)` → variant record, from `vars.json` (NDJSON of arrays); empty if absent.
fn route_variant_names(path: &Path) -> HashMap<(i64, i64), Value> {
    let Ok(lines) = ndjson(path) else {
        return HashMap::new();
    };
    lines
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|v| {
            let id = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_i64().or_else(|| x.as_str()?.parse().ok()))
            };
            Some(((id("RouteId")?, id("RouteVarId")?), v.clone()))
        })
        .collect()
}

fn dvhcvn(input: &Path) -> ImportResult<Vec<Value>> {
    let text = std::fs::read_to_string(input).map_err(|e| source_error(input, &e.to_string()))?;
    let root: Value =
        serde_json::from_str(&text).map_err(|e| source_error(input, &format!("not JSON: {e}")))?;
    let Some(districts) = root.get("level2s").and_then(Value::as_array) else {
        return Err(source_error(
            input,
            "no \"level2s\": not a dvhcvn province file",
        ));
    };
    let province = root.get("level1_id").cloned().unwrap_or(Value::Null);
    Ok(districts
        .iter()
        .filter_map(|d| {
            let id: i64 = d.get("level2_id")?.as_str()?.parse().ok()?;
            Some(json!({
                "type": "Feature",
                "id": id,
                "properties": {
                    "code": d.get("level2_id"), "name": d.get("name"), "type": d.get("type"),
                    "province_code": province,
                },
                "geometry": { "type": d.get("type")?, "coordinates": d.get("coordinates")? }
            }))
        })
        .collect())
}
