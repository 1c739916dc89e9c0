//! `bando`: one command for the whole service. See `bando --help`.

use clap::Parser;
use tile_server::commands::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Fault injection for the recovery tests and fault drills (`FAILPOINTS=import::indexing=pause`);
    // without the variable, every point is inert.
    let _faults = fail::FailScenario::setup();
    match Cli::parse().run().await {
        Ok(output) => {
            if !output.is_empty() {
                #[allow(clippy::print_stdout)] // the command's result
                {
                    println!("{output}");
                }
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            // One line, whatever the causes' messages contain.
            eprintln!("bando: {}", format!("{e:#}").replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}
