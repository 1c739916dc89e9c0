//! `bando export`: a tileset to a PMTiles file, with a progress bar.

use std::path::PathBuf;

use anyhow::Context;
use bando_core::access::{AccessSnapshot, Viewer};
use sqlx::PgPool;

use crate::catalog::Catalog;
use crate::tiles::composite::CompositeConfig;
use crate::tiles::export::{ExportRequest, export_pmtiles};

/// Arguments of `bando export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Tileset: a layer slug, `basemap`, or comma-separated layer slugs.
    pub tileset: String,
    /// The PMTiles file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// WGS84 west,south,east,north [default: the tileset's bounds].
    #[arg(long, value_parser = parse_bbox, allow_hyphen_values = true)]
    pub bbox: Option<[f64; 4]>,
    /// First zoom [default: the tileset's].
    #[arg(long)]
    pub minzoom: Option<u8>,
    /// Last zoom [default: the tileset's, at most 14].
    #[arg(long)]
    pub maxzoom: Option<u8>,
    /// Base map definition replacing the built-in one.
    #[arg(long)]
    pub basemap: Option<PathBuf>,
    /// Tiles built at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Export as the holder of this API key sees the data (its agency's own and granted
    /// layers); without it, only public layers are exported, as for an anonymous client.
    #[arg(long, env = "BANDO_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

fn parse_bbox(text: &str) -> Result<[f64; 4], String> {
    let numbers: Vec<f64> = text
        .split(',')
        .map(|n| n.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not four numbers west,south,east,north"))?;
    <[f64; 4]>::try_from(numbers)
        .map_err(|_| format!("{text:?} is not four numbers west,south,east,north"))
}

/// Runs the export; returns the summary line.
pub async fn run(pool: PgPool, args: ExportArgs) -> anyhow::Result<String> {
    let basemap = match &args.basemap {
        Some(path) => CompositeConfig::load(path)?,
        None => CompositeConfig::builtin_basemap(),
    };
    let catalog = Catalog::new(
        crate::read_pools::ReadPools::primary_only(pool.clone(), crate::metrics::Metrics::new()),
        vec![basemap],
    );
    catalog.refresh().await.context("loading the catalog")?;
    let viewer = match &args.key {
        None => Viewer::ANONYMOUS,
        Some(key) => {
            let access = AccessSnapshot::load(&pool)
                .await
                .context("loading API keys")?;
            let agent = access
                .authenticate(key, chrono::Utc::now())
                .map_err(|e| anyhow::anyhow!("--key: {}", e.reason()))?;
            Viewer { agent: Some(agent) }
        }
    };
    let source = catalog
        .tileset(&args.tileset, &viewer)
        .map_err(|e| anyhow::anyhow!("tileset {:?}: {e:?}", args.tileset))?;
    let info = source.info();
    let bbox = args
        .bbox
        .or(info.bounds)
        .context("the tileset has no bounds: give --bbox")?;
    let request = ExportRequest {
        bbox,
        minzoom: args.minzoom.unwrap_or(info.meta.minzoom),
        maxzoom: args.maxzoom.unwrap_or(info.meta.maxzoom.min(14)),
        concurrency: args.concurrency,
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bar:40} {pos}/{len} tiles, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let summary = export_pmtiles(source.as_ref(), &request, &args.output, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let summary = summary?;
    Ok(format!(
        "wrote {}: {} tiles with features of {} visited (z{}–z{}), {} bytes",
        args.output.display(),
        summary.written,
        summary.tiles,
        request.minzoom,
        request.maxzoom,
        summary.bytes
    ))
}
