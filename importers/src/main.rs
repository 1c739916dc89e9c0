//! `bando-import`: the importer alone, for GIS workstations that load data into a shared PostGIS
//! without running the server. Same arguments as `bando import`.

use anyhow::Context;
use bando_importers::cli::{DatabaseArgs, ImportArgs, run_import};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "bando-import",
    version,
    about = "Import a GIS file or folder into a bando layer"
)]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    import: ImportArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(text) => {
            #[allow(clippy::print_stdout)] // the command's output
            {
                println!("{text}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            // One line, whatever the causes' messages contain.
            eprintln!("bando-import: {}", format!("{e:#}").replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<String> {
    let url = bando_core::embedded::resolve_database_url(cli.database.database_url.as_deref())
        .await
        .context("opening the database")?;
    let pool = bando_core::db::connect(&url, &bando_core::db::PoolSettings::default())
        .await
        .context("connecting to the database")?;
    bando_core::db::migrate(&pool)
        .await
        .context("migrating the database")?;
    Ok(run_import(&pool, &cli.import).await?)
}
