//! bando's HTTP service: vector tiles built by PostGIS and cached in memory, TileJSON, the layer
//! catalog, health and metrics.
//!
//! [`app`] builds the router from an [`AppState`]; [`serve`] runs it on a listener with the
//! background task that follows publishes. The `bando` binary (`main.rs`) only parses the command
//! line and calls into [`commands`].

pub mod access;
pub mod assets;
pub mod catalog;
pub mod commands;
pub mod config;
pub mod db_breaker;
pub mod error;
pub mod job_runner;
pub mod metrics;
pub mod publish_listener;
pub mod query;
pub mod read_pools;
pub mod routes;
pub mod state;
pub mod tiles;
pub mod upload_files;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::cors::CorsLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use state::AppState;

/// The router with every route and middleware.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/tiles/{tileset}", get(routes::tilejson::tilejson))
        .route("/catalog", get(routes::catalog::catalog))
        .route("/styles/{name}", get(routes::styles::style))
        .route("/fonts", get(routes::fonts::font_list))
        .route("/fonts/{fontstack}/{range}", get(routes::fonts::glyphs))
        .route("/sprites", get(routes::sprites::sprite_list))
        .route("/sprites/{file}", get(routes::sprites::sprite))
        .route_service(
            "/",
            ServeFile::new(state.config.viewer_dir.join("index.html")),
        )
        .nest_service("/viewer", ServeDir::new(&state.config.viewer_dir))
        .route("/api", get(routes::api_doc::openapi))
        .route("/ogc", get(routes::ogc_features::landing))
        .route("/ogc/conformance", get(routes::ogc_features::conformance))
        .route("/ogc/collections", get(routes::ogc_features::collections))
        .route(
            "/ogc/collections/{id}",
            get(routes::ogc_features::collection_one),
        )
        .route(
            "/ogc/collections/{id}/items",
            get(routes::ogc_features::items),
        )
        .route(
            "/ogc/collections/{id}/queryables",
            get(routes::ogc_queryables::queryables),
        )
        .route(
            "/ogc/collections/{id}/items/{fid}",
            get(routes::ogc_features::item),
        )
        .route(
            "/ogc/collections/{id}/tiles",
            get(routes::ogc_tiles::tilesets),
        )
        .route(
            "/ogc/collections/{id}/tiles/{tileMatrixSetId}",
            get(routes::ogc_tiles::tileset_metadata),
        )
        .route(
            "/ogc/collections/{id}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
            get(routes::ogc_tiles::tile),
        )
        .route("/ogc/tileMatrixSets", get(routes::ogc_tiles::matrix_sets))
        .route(
            "/ogc/tileMatrixSets/{tileMatrixSetId}",
            get(routes::ogc_tiles::matrix_set),
        )
        .route(
            "/v1/agencies",
            get(routes::agencies::list).post(routes::agencies::create),
        )
        .route(
            "/v1/agencies/{agency}/keys",
            get(routes::agencies::keys).post(routes::agencies::create_key),
        )
        .route("/v1/keys/{id}", delete(routes::agencies::revoke_key))
        .route("/v1/audit", get(routes::agencies::audit))
        .route(
            "/v1/layers/{layer}",
            patch(routes::sharing::update).delete(routes::retirement::retire_layer),
        )
        .route("/v1/retired-layers", get(routes::retirement::list))
        .route(
            "/v1/retired-layers/{layer}",
            delete(routes::retirement::purge),
        )
        .route(
            "/v1/retired-layers/{layer}/restore",
            post(routes::retirement::restore),
        )
        .route("/v1/layers/{layer}/grants", get(routes::sharing::grants))
        .route(
            "/v1/layers/{layer}/grants/{agency}",
            put(routes::sharing::grant).delete(routes::sharing::revoke_grant),
        )
        .route(
            "/v1/layers/{layer}/rollback",
            post(routes::sharing::rollback),
        )
        .route(
            "/v1/agencies/{agency}/layers/{layer}/uploads",
            // The upload limit is enforced while streaming the file to disk.
            post(routes::uploads::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/jobs/{id}", get(routes::uploads::job))
        .route("/v1/changes", get(routes::changes::changes))
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/metrics", get(routes::health::metrics))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn(routes::refuse_nul))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            db_breaker::watch,
        ))
        // JSON bodies are compressed here; tiles (their own router below) come compressed.
        .layer(json_compression())
        .layer(cors())
        .layer(TraceLayer::new_for_http())
        .merge(query_routes(&state))
        .merge(tile_routes(&state))
        .with_state(state)
}

/// The citizen app's questions, answered from memory tens of thousands of times a second: like
/// tiles, no trace span per request (failures are logged where the error becomes a response).
fn query_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/search", get(routes::search::search))
        .route("/v1/layers/{layer}/nearest", get(routes::nearby::nearest))
        .route("/v1/layers/{layer}/within", get(routes::nearby::within))
        .layer(json_compression())
        // Added after the compression layer, so outside it: a ward answer (~200 bytes) is never
        // worth compressing, and the layer's per-response work was 5 % of this route's time.
        .route("/v1/wards", get(routes::wards::ward_at))
        // Each router sets it before its CORS layer: set later, it would replace the fallback
        // the layer wraps, and CORS preflights (OPTIONS) would get a 405.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn(routes::refuse_nul))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            db_breaker::watch,
        ))
        .layer(cors())
}

/// Any origin may read everything (API keys, not cookies, carry access), with any request header:
/// `*`, plus `Authorization` by name because browsers do not count it under the wildcard. Every
/// CORS header is the same whatever the request says, so no `Vary` is added: building one per
/// response cost more than a percent of the hot routes' time.
fn cors() -> CorsLayer {
    use axum::http::header;
    CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods(tower_http::cors::Any)
        .allow_headers([header::HeaderName::from_static("*"), header::AUTHORIZATION])
        .expose_headers(tower_http::cors::Any)
        .vary(Vec::<header::HeaderName>::new())
}

/// gzip/brotli for JSON bodies worth it: below ~1 KiB (a ward answer is ~200 bytes) the headers
/// and the compressor's set-up cost more than the bytes saved.
fn json_compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().compress_when(DefaultPredicate::new().and(SizeAbove::new(1024)))
}

/// The tile route, the hot path: metrics and CORS only. Tiles leave the cache already compressed,
/// and a trace span per request cost a fifth of the throughput at 50,000 tiles/s; failures are
/// still logged where the error is turned into a response.
fn tile_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/tiles/{layer}/{z}/{x}/{y}", get(routes::tiles::tile))
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            db_breaker::watch,
        ))
        .layer(cors())
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    publish_listener::refresh(&state).await;
    let follower = tokio::spawn(publish_listener::run(state.clone()));
    // Queued uploads run here (any instance may take one), and dead runners' jobs are swept.
    let mut jobs = job_runner::spawn(&state);
    // Opens the database circuit breaker when the database is down, closes it when it is back.
    let prober = tokio::spawn(db_breaker::run(state.clone()));
    // Keeps read replicas in rotation while they are up and current.
    let replicas = tokio::spawn(state.reads.clone().watch());
    // Small responses leave at once instead of waiting on Nagle's algorithm for an ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    // Client addresses count failed API-key attempts.
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    follower.abort();
    prober.abort();
    replicas.abort();
    // A job cut short here is taken again by the next sweep, here or on another instance.
    jobs.abort_all();
    result
}
