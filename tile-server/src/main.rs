//! `bando`: one command for the whole service. See `bando --help`.

use std::io::Write;

use clap::Parser;
use tile_server::commands::Cli;

/// jemalloc: the server allocates and frees large buffers from many threads (imports run inside
/// it, indexes are rebuilt on every publish); with glibc's allocator its resident memory crept up
/// by a few MiB per publish in the soak drill (`benches/scripts/faults.sh soak`), with jemalloc it
/// levels off.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // A reader process, started by an importer for an uploaded file: it confines itself while it
    // is still one thread (its network namespace needs that), so before any runtime starts.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|word| word == bando_importers::reading::child::COMMAND)
    {
        return bando_importers::reading::child::main();
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("bando: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
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
                // Written whole, and a reader that stopped early (`| head -1`) is not an error:
                // `println!` would panic on the closed pipe.
                let mut stdout = std::io::stdout().lock();
                let written = writeln!(stdout, "{output}").and_then(|()| stdout.flush());
                if let Err(e) = written
                    && e.kind() != std::io::ErrorKind::BrokenPipe
                {
                    eprintln!("bando: writing the output: {e}");
                    return std::process::ExitCode::FAILURE;
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
