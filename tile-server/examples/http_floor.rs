//! The HTTP floor for the query benchmark (`benches/scripts/queries.sh`): axum on the same
//! runtime as `bando serve`, one route answering a constant JSON string, no middleware. What a
//! bando route costs beyond this is bando's own work.
//!
//! `cargo run --release --example http_floor -- 127.0.0.1:18081`

use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let app = Router::new().route("/health", get(|| async { r#"{"status":"ok"}"# }));
    // As `bando serve`: responses leave without waiting on Nagle's algorithm.
    let listener = tokio::net::TcpListener::bind(&address)
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await
}
