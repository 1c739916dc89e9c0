//! Command-line surface of the importer, shared by `bando import` and `bando-import`.

use bando_core::audit::Actor;
use bando_core::layer::Visibility;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use crate::convert::Converter;
use crate::merge::PublishMode;

/// `--mode`.
/// `--visibility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VisibilityArg {
    /// Everyone.
    Public,
    /// The owner and the agencies it grants.
    Restricted,
    /// The owner only.
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// The layer becomes exactly the new features.
    Replace,
    /// Add the new features.
    Append,
    /// Replace features whose --key is live, add the others.
    Upsert,
}
use crate::error::ImportResult;
use crate::import::{ImportOutcome, ImportRequest, Progress, import};
use crate::reader::{DEFAULT_AREA, ValidationPolicy};
use crate::source::SourceOptions;
use crate::text_encoding::TextEncoding;

/// `--area`: an envelope, or `none`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AreaArg(pub Option<[f64; 4]>);

fn parse_area(text: &str) -> Result<AreaArg, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(AreaArg(None));
    }
    let numbers: Vec<f64> = text
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<f64>()
                .map_err(|_| format!("{n:?} is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let [w, s, e, n] =
        <[f64; 4]>::try_from(numbers).map_err(|_| "expected west,south,east,north".to_owned())?;
    if !(-180.0..=180.0).contains(&w) || !(-180.0..=180.0).contains(&e) || w >= e {
        return Err("longitudes must be in -180..180 with west < east".to_owned());
    }
    if !(-90.0..=90.0).contains(&s) || !(-90.0..=90.0).contains(&n) || s >= n {
        return Err("latitudes must be in -90..90 with south < north".to_owned());
    }
    Ok(AreaArg(Some([w, s, e, n])))
}

/// Which database to use.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL/PostGIS URL; without it bando uses its embedded cluster under `.bando/pg`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// `import`: load a GIS file or folder into a layer.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// File (GeoJSON, Shapefile, GeoPackage, KML, FlatGeobuf, CSV, ...) or folder of files merged
    /// into one layer.
    pub path: PathBuf,
    /// Target layer slug: a-z first, then a-z, 0-9, _.
    #[arg(long)]
    pub layer: String,
    /// Layer title.
    #[arg(long)]
    pub title: Option<String>,
    /// Layer description.
    #[arg(long)]
    pub description: Option<String>,
    /// Attribution shown on maps.
    #[arg(long)]
    pub attribution: Option<String>,
    /// Lowest zoom the layer is served at.
    #[arg(long)]
    pub minzoom: Option<u8>,
    /// Highest zoom the layer is served at.
    #[arg(long)]
    pub maxzoom: Option<u8>,
    /// Layer to read in a multi-layer source.
    #[arg(long)]
    pub source_layer: Option<String>,
    /// Override the source CRS (e.g. EPSG:9210).
    #[arg(long)]
    pub source_crs: Option<String>,
    /// Text encoding of Shapefile attributes: utf-8, tcvn3, vni, cp1258, latin1
    /// (default: the .cpg, else detected).
    #[arg(long)]
    pub encoding: Option<TextEncoding>,
    /// CSV longitude column (default: lon, lng, long, longitude or x).
    #[arg(long)]
    pub lon_column: Option<String>,
    /// CSV latitude column (default: lat, latitude or y).
    #[arg(long)]
    pub lat_column: Option<String>,
    /// Read the result of this SQL query (GDAL's SQLite dialect) instead of a layer.
    #[arg(long)]
    pub sql: Option<String>,
    /// CSV WKT geometry column (default: wkt, geom, geometry or the_geom).
    #[arg(long)]
    pub wkt_column: Option<String>,
    /// Admin layout of a boundary layer (e.g. 2019, 2025).
    #[arg(long)]
    pub layout: Option<String>,
    /// Boundary layer level: city, district or ward (used by ward lookups).
    #[arg(long, value_parser = ["city", "district", "ward"])]
    pub admin_level: Option<String>,
    /// First day the layer is valid (YYYY-MM-DD).
    #[arg(long)]
    pub valid_from: Option<chrono::NaiveDate>,
    /// First day the layer is no longer valid (YYYY-MM-DD).
    #[arg(long)]
    pub valid_to: Option<chrono::NaiveDate>,
    /// Convert a non-GIS source first: hcmc-bus-stops, hcmc-bus-routes, dvhcvn.
    #[arg(long, value_enum)]
    pub convert: Option<Converter>,
    /// How the features reach the layer: replace it, append to it, or upsert by --key.
    #[arg(long, value_enum, default_value_t = ModeArg::Replace)]
    pub mode: ModeArg,
    /// Key column for --mode upsert (its name in the source or in the layer).
    #[arg(long, required_if_eq("mode", "upsert"))]
    pub key: Option<String>,
    /// What to do with bad features: repair (and skip what cannot be repaired), skip, or fail.
    #[arg(long, value_enum, default_value_t = ValidationPolicy::Repair)]
    pub on_invalid: ValidationPolicy,
    /// Area features must touch, as west,south,east,north in degrees, or `none`
    /// [default: Ho Chi Minh City with a margin].
    #[arg(long, value_parser = parse_area)]
    pub area: Option<AreaArg>,
    /// Import even if this exact file is already live.
    #[arg(long)]
    pub force: bool,
    /// Validate and report without publishing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import every layer of a multi-layer source (GeoPackage, KML) into `<layer>_<name>`.
    #[arg(long, conflicts_with = "source_layer")]
    pub all_layers: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    /// Let GDAL open the source with whatever driver it picks by content (VRT included) and
    /// read names other than plain files (`/vsi…`, `CSV:…`): for GIS staff's own files only.
    /// Without it a file is opened only as the format its extension promises.
    #[arg(long)]
    pub allow_any_driver: bool,
    /// Agency that owns the layer (a new layer is created in its namespace; an existing layer
    /// must already belong to it). Default: `hcmc` for new layers.
    #[arg(long)]
    pub agency: Option<String>,
    /// Who may see the layer: public, restricted (owner and granted agencies) or private
    /// (owner only). Default: public for a new layer, unchanged for an existing one.
    #[arg(long, value_enum)]
    pub visibility: Option<VisibilityArg>,
}

impl ImportArgs {
    /// The library request these arguments describe.
    pub fn to_request(&self) -> ImportRequest {
        ImportRequest {
            path: self.path.clone(),
            layer: self.layer.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            attribution: self.attribution.clone(),
            minzoom: self.minzoom,
            maxzoom: self.maxzoom,
            source: SourceOptions {
                source_layer: self.source_layer.clone(),
                source_crs: self.source_crs.clone(),
                encoding: self.encoding,
                lon_column: self.lon_column.clone(),
                lat_column: self.lat_column.clone(),
                wkt_column: self.wkt_column.clone(),
                sql: self.sql.clone(),
                any_driver: self.allow_any_driver,
            },
            layout: self.layout.clone(),
            admin_level: self.admin_level.clone(),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            convert: self.convert,
            mode: match (self.mode, &self.key) {
                (ModeArg::Append, _) => PublishMode::Append,
                (ModeArg::Upsert, Some(key)) => PublishMode::Upsert {
                    key: crate::field_names::safe_column_name(key, &mut Default::default()),
                },
                _ => PublishMode::Replace,
            },
            policy: self.on_invalid,
            area: match self.area {
                None => Some(DEFAULT_AREA),
                Some(AreaArg(area)) => area,
            },
            force: self.force,
            dry_run: self.dry_run,
            agency: self.agency.clone(),
            visibility: self.visibility.map(|v| match v {
                VisibilityArg::Public => Visibility::Public,
                VisibilityArg::Restricted => Visibility::Restricted,
                VisibilityArg::Private => Visibility::Private,
            }),
            actor: Actor::command_line(),
        }
    }
}

/// Runs an import with a progress bar on a terminal (plain lines otherwise, nothing with `--json`)
/// and returns the text to print.
pub async fn run_import(pool: &PgPool, args: &ImportArgs) -> ImportResult<String> {
    if crate::osm::changes::is_change_file(&args.path) {
        let outcome = crate::osm::apply_changes(pool, &args.to_request()).await?;
        return Ok(if args.json {
            serde_json::to_string_pretty(&outcome).unwrap_or_default()
        } else {
            outcome.summary()
        });
    }
    if crate::osm::is_osm(&args.path) && args.sql.is_none() {
        let results = crate::osm::import_osm(pool, &args.to_request(), Arc::new(|_, _| {})).await?;
        return Ok(if args.json {
            serde_json::to_string_pretty(&results).unwrap_or_default()
        } else {
            results
                .iter()
                .map(|r| match (&r.outcome, &r.note) {
                    (Some(o), _) => summary(o),
                    (None, note) => format!("{}: {}", r.theme, note.as_deref().unwrap_or("")),
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
    }
    if !args.all_layers {
        let outcome = import_with_progress(pool, args, args.to_request()).await?;
        return Ok(if args.json {
            serde_json::to_string_pretty(&outcome).unwrap_or_default()
        } else {
            summary(&outcome)
        });
    }
    // Every layer of a multi-layer source into `<layer>_<source layer>`.
    let path = args.path.clone();
    let options = args.to_request().source;
    let names = tokio::task::spawn_blocking(move || {
        let drivers = options.drivers_for(&path)?;
        crate::source::open_with(&path, &[], drivers).map(|d| {
            use gdal::vector::LayerAccess;
            d.layers().map(|l| l.name()).collect::<Vec<_>>()
        })
    })
    .await
    .map_err(|e| crate::ImportError::ReaderStopped(e.to_string()))??;
    let mut outcomes = Vec::new();
    for name in names {
        let suffix = crate::field_names::safe_column_name(&name, &mut Default::default());
        let mut slug = format!("{}_{suffix}", args.layer);
        slug.truncate(63);
        let mut request = args.to_request();
        request.layer = slug;
        request.source.source_layer = Some(name);
        outcomes.push(import_with_progress(pool, args, request).await?);
    }
    Ok(if args.json {
        serde_json::to_string_pretty(&outcomes).unwrap_or_default()
    } else {
        outcomes.iter().map(summary).collect::<Vec<_>>().join("\n")
    })
}

async fn import_with_progress(
    pool: &PgPool,
    args: &ImportArgs,
    request: ImportRequest,
) -> ImportResult<ImportOutcome> {
    let bar = progress_bar(args);
    let plain = bar.is_none() && !args.json;
    let layer = request.layer.clone();
    let last_line = std::sync::Mutex::new(std::time::Instant::now());
    let progress: Progress = {
        let bar = bar.clone();
        Arc::new(move |read, expected| {
            if let Some(bar) = &bar {
                bar.set_length(expected.max(read));
                bar.set_position(read);
            } else if plain {
                // Not a terminal: a plain line every few seconds, for logs.
                let mut last = last_line
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.elapsed() >= std::time::Duration::from_secs(5) {
                    *last = std::time::Instant::now();
                    eprintln!("{layer}: {read}/{expected} features read");
                }
            }
        })
    };
    let outcome = import(pool, &request, progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    outcome
}

fn progress_bar(args: &ImportArgs) -> Option<ProgressBar> {
    if args.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{spinner} {msg} [{bar:30}] {pos}/{len} features ({per_sec}, {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(args.layer.clone());
    Some(bar)
}

/// One-paragraph human summary of an outcome.
pub fn summary(o: &ImportOutcome) -> String {
    if o.status == crate::job::JobStatus::Skipped {
        return format!(
            "job {}: layer {} already holds this exact source; skipped (use --force to re-import)",
            o.job_id, o.layer
        );
    }
    let outcome = match o.version {
        Some(v) => format!("published layer {} version {v}", o.layer),
        None => format!("validated layer {} (dry run, nothing published)", o.layer),
    };
    let mut text = format!(
        "job {}: {outcome} — {} of {} features ({}, {}), {} repaired, {} ms",
        o.job_id, o.written, o.read, o.format, o.source_crs, o.repaired, o.duration_ms
    );
    for (reason, count) in &o.skipped {
        text.push_str(&format!("\n  skipped {count}: {reason}"));
    }
    for w in &o.warnings {
        text.push_str(&format!("\n  warning: {w}"));
    }
    for p in o.problems.iter().take(10) {
        text.push_str(&format!("\n  {}: {}", p.feature, p.reason));
    }
    text
}
