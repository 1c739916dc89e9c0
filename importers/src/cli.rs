//! Command-line surface of the importer, shared by `bando import` and `bando-import`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use crate::error::ImportResult;
use crate::import::{ImportOutcome, ImportRequest, Progress, import};

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
    /// Import even if this exact file is already live.
    #[arg(long)]
    pub force: bool,
    /// Validate and report without publishing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
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
            source_layer: self.source_layer.clone(),
            source_crs: self.source_crs.clone(),
            force: self.force,
            dry_run: self.dry_run,
        }
    }
}

/// Runs an import with a progress bar on a terminal (plain lines otherwise, nothing with `--json`)
/// and returns the text to print.
pub async fn run_import(pool: &PgPool, args: &ImportArgs) -> ImportResult<String> {
    let bar = progress_bar(args);
    let progress: Progress = {
        let bar = bar.clone();
        Arc::new(move |read, expected| {
            if let Some(bar) = &bar {
                bar.set_length(expected.max(read));
                bar.set_position(read);
            }
        })
    };
    let outcome = import(pool, &args.to_request(), progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    Ok(if args.json {
        serde_json::to_string_pretty(&outcome).unwrap_or_default()
    } else {
        summary(&outcome)
    })
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
    let mut text = match o.version {
        Some(v) => format!(
            "job {}: published layer {} version {} — {} of {} features ({}, {}), {} repaired, {} ms",
            o.job_id,
            o.layer,
            v,
            o.written,
            o.read,
            o.format,
            o.source_crs,
            o.repaired,
            o.duration_ms
        ),
        None => format!(
            "job {}: {:?} layer {} — {} of {} features valid ({}, {}), {} repaired, nothing published, {} ms",
            o.job_id,
            o.status,
            o.layer,
            o.written,
            o.read,
            o.format,
            o.source_crs,
            o.repaired,
            o.duration_ms
        ),
    };
    for (reason, count) in &o.skipped {
        text.push_str(&format!("\n  skipped {count}: {reason}"));
    }
    for p in o.problems.iter().take(10) {
        text.push_str(&format!("\n  {}: {}", p.feature, p.reason));
    }
    text
}
