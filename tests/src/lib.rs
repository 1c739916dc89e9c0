//! End-to-end test support: a real `bando` HTTP server on a loopback port over a fresh test
//! database, and a client for it.

use std::net::SocketAddr;

use bando_core::testing::{TestDatabase, fresh_database};
use tile_server::{AppState, Config};
use tokio::sync::oneshot;

/// A running server; stopped (gracefully) when dropped.
#[derive(Debug)]
pub struct RunningServer {
    /// Its database.
    pub db: TestDatabase,
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// HTTP client.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningServer {
    /// Starts a server over `db` on an ephemeral loopback port.
    pub async fn start(db: TestDatabase) -> Self {
        Self::start_with(db, Config::default()).await
    }

    /// [`RunningServer::start`] with a given configuration.
    pub async fn start_with(db: TestDatabase, config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let state = AppState::new(db.pool.clone(), config);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = tile_server::serve(listener, state, shutdown).await {
                panic!("server failed: {e}");
            }
        });
        Self {
            db,
            base,
            client: reqwest::Client::builder()
                .no_gzip()
                .build()
                .expect("HTTP client"),
            stop: Some(stop),
        }
    }

    /// Starts a server over a fresh database.
    pub async fn start_fresh() -> Self {
        Self::start(fresh_database().await).await
    }

    /// GET `path` (relative to the server) or an absolute URL.
    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        self.client.get(url).send().await.expect("request sent")
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Imports a file of the shared data set (`../shared/data`, relative `path`) as `layer`,
/// with `request`'s other options.
pub async fn import_shared(
    pool: &sqlx::PgPool,
    path: &str,
    request: bando_importers::ImportRequest,
) {
    let request = bando_importers::ImportRequest {
        path: bando_core::testing::shared_data().join(path),
        ..request
    };
    bando_importers::import(pool, &request, std::sync::Arc::new(|_, _| {}))
        .await
        .unwrap_or_else(|e| panic!("importing {path}: {e}"));
}

/// Imports the real OSM extract of urban HCMC (`hcmc-osm-2018`) as the `osm_*` base-map themes.
pub async fn import_osm_extract(pool: &sqlx::PgPool) {
    bando_importers::osm::import_osm(
        pool,
        &bando_importers::ImportRequest {
            path: bando_core::testing::shared_data().join("hcmc-osm-2018/hcm_2018.osm.pbf"),
            layer: "osm".to_owned(),
            ..bando_importers::ImportRequest::default()
        },
        std::sync::Arc::new(|_, _| {}),
    )
    .await
    .unwrap_or_else(|e| panic!("importing the OSM extract: {e}"));
}

/// The repository's root.
pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/screenshots/<sub>` (or under `$CARGO_TARGET_DIR`), created: where renders are kept.
pub fn screenshot_dir(sub: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo().join("target"), std::path::PathBuf::from)
        .join("screenshots")
        .join(sub);
    std::fs::create_dir_all(&dir).expect("create the screenshot folder");
    dir
}
