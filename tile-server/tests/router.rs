//! Router tests: the real router over a fresh migrated PostGIS database per test, called with
//! `oneshot` (no socket). Layers are imported from the real HCMC data with the real importer.

#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the first surprise"
)]

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bando_core::testing::{TestDatabase, fresh_database, mvt, shared_data};
use bando_core::tile::TileCoord;
use bando_importers::ImportRequest;
use http_body_util::BodyExt;
use tile_server::{AppState, Config, app};
use tower::ServiceExt;

/// Bến Thành market, WGS84.
const MARKET: (f64, f64) = (106.6981, 10.7725);

struct TestApp {
    db: TestDatabase,
    state: AppState,
}

impl TestApp {
    /// A server state over a fresh database holding the Bến Thành ward file of the 2025 layer.
    async fn with_ben_thanh_ward() -> Self {
        let db = fresh_database().await;
        let path =
            shared_data().join("hcmc-wards-2025/79_ho_chi_minh/wards/26743_ben_thanh.geojson");
        import(&db, path, "wards_2025").await;
        Self::over(db).await
    }

    async fn over(db: TestDatabase) -> Self {
        let state = AppState::new(db.pool.clone(), Config::default());
        state.catalog.refresh().await.unwrap();
        Self { db, state }
    }

    fn router(&self) -> Router {
        app(self.state.clone())
    }

    async fn get(&self, uri: &str) -> Response {
        self.request(
            Request::get(uri)
                .header(header::HOST, "maps.example.vn")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn request(&self, request: Request<Body>) -> Response {
        let response = self.router().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Response {
            status,
            headers,
            body,
        }
    }
}

struct Response {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Response {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    /// Asserts an RFC 9457 problem with `status`, naming `param` when given.
    fn assert_problem(&self, status: StatusCode, param: Option<&str>) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            "application/problem+json"
        );
        let problem = self.json();
        assert_eq!(problem["status"], status.as_u16());
        assert!(problem["title"].is_string() && problem["detail"].is_string());
        if let Some(param) = param {
            assert_eq!(problem["invalid-params"][0]["name"], param, "{problem}");
        }
    }
}

async fn import(db: &TestDatabase, path: std::path::PathBuf, layer: &str) {
    let request = ImportRequest {
        path,
        layer: layer.to_owned(),
        ..ImportRequest::default()
    };
    bando_importers::import(&db.pool, &request, Arc::new(|_, _| {}))
        .await
        .unwrap();
}

fn market_tile(z: u8) -> TileCoord {
    TileCoord::containing(MARKET.0, MARKET.1, z).unwrap()
}

#[tokio::test]
async fn tile_over_the_market_holds_ben_thanh_ward() {
    let app = TestApp::with_ben_thanh_ward().await;
    let t = market_tile(14);
    let response = app
        .get(&format!("/tiles/wards_2025/{}/{}/{}.mvt", t.z, t.x, t.y))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        "application/vnd.mapbox-vector-tile"
    );
    let layers = mvt::decode(&response.body);
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].name, "wards_2025");
    let (fx, fy) = bando_core::tile::lonlat_to_tile_fraction(MARKET.0, MARKET.1, t.z);
    let extent = f64::from(layers[0].extent);
    let px = (fx - f64::from(t.x)) * extent;
    let py = (fy - f64::from(t.y)) * extent;
    let hits = layers[0].features_at(px, py);
    assert_eq!(hits.len(), 1, "one ward at the market pixel");
    assert_eq!(hits[0].properties["fullname"], "Phường Bến Thành");
    assert_eq!(hits[0].properties["code"], "26743");
}

#[tokio::test]
async fn tile_with_no_feature_is_204() {
    let app = TestApp::with_ben_thanh_ward().await;
    // The far corner of the world holds no ward.
    let response = app.get("/tiles/wards_2025/10/0/0.mvt").await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert!(response.body.is_empty());
}

#[tokio::test]
async fn bad_tile_addresses_are_problems_naming_the_parameter() {
    let app = TestApp::with_ben_thanh_ward().await;
    for (uri, status, param) in [
        (
            "/tiles/wards_2025/14/13047/7698.png",
            StatusCode::BAD_REQUEST,
            Some("format"),
        ),
        // Past the zoom's grid: no such tile. Past any zoom's grid: a malformed address.
        (
            "/tiles/wards_2025/14/13047/16384.mvt",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/tiles/wards_2025/14/16384/0.mvt",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/tiles/wards_2025/14/0/16777216.mvt",
            StatusCode::BAD_REQUEST,
            Some("y"),
        ),
        (
            "/tiles/wards_2025/14/99999999999/0.mvt",
            StatusCode::BAD_REQUEST,
            Some("x"),
        ),
        (
            "/tiles/wards_2025/25/0/0.mvt",
            StatusCode::BAD_REQUEST,
            Some("z"),
        ),
        (
            "/tiles/wards_2025/-1/0/0.mvt",
            StatusCode::BAD_REQUEST,
            Some("z"),
        ),
        (
            "/tiles/wards_2025/1/0/0.mvt?v=abc",
            StatusCode::BAD_REQUEST,
            Some("v"),
        ),
        (
            "/tiles/no_such_layer/1/0/0.mvt",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/tiles/wards%FF/1/0/0.mvt",
            StatusCode::BAD_REQUEST,
            Some("path"),
        ),
        (
            "/tiles/wards%FF.json",
            StatusCode::BAD_REQUEST,
            Some("path"),
        ),
        (
            "/ogc/collections/wards%FF/items",
            StatusCode::BAD_REQUEST,
            Some("path"),
        ),
        ("/tiles/no_such_layer.json", StatusCode::NOT_FOUND, None),
        ("/tiles/wards_2025.xml", StatusCode::NOT_FOUND, None),
        (
            "/tiles/'%3B%20DROP%20TABLE%20x%3B--/1/0/0.mvt",
            StatusCode::NOT_FOUND,
            None,
        ),
        ("/nothing/here", StatusCode::NOT_FOUND, None),
    ] {
        let response = app.get(uri).await;
        response.assert_problem(status, param);
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_with_the_allowed_ones() {
    let app = TestApp::with_ben_thanh_ward().await;
    for (method, uri, allowed) in [
        (Method::POST, "/tiles/wards_2025/1/0/0.mvt", "GET,HEAD"),
        (Method::DELETE, "/catalog", "GET,HEAD"),
        (Method::TRACE, "/fonts", "GET,HEAD"),
        (Method::PUT, "/v1/wards?lon=106.7&lat=10.77", "GET,HEAD"),
        (Method::POST, "/v1/search?q=ben", "GET,HEAD"),
        (Method::GET, "/v1/keys/1", "DELETE"),
        (Method::PATCH, "/v1/agencies", "GET,HEAD,POST"),
    ] {
        let response = app
            .request(
                Request::builder()
                    .method(method.clone())
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        response.assert_problem(StatusCode::METHOD_NOT_ALLOWED, None);
        let mut allow: Vec<&str> = response
            .header(header::ALLOW)
            .split(',')
            .map(str::trim)
            .collect();
        allow.sort_unstable();
        assert_eq!(allow.join(","), allowed, "{method} {uri}");
    }
}

#[tokio::test]
async fn tilejson_has_the_required_fields_and_absolute_versioned_urls() {
    let app = TestApp::with_ben_thanh_ward().await;
    let response = app.get("/tiles/wards_2025.json").await;
    assert_eq!(response.status, StatusCode::OK);
    let tj = response.json();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(
        tj["tiles"][0],
        "http://maps.example.vn/tiles/wards_2025/{z}/{x}/{y}.mvt?v=1"
    );
    let layer = &tj["vector_layers"][0];
    assert_eq!(layer["id"], "wards_2025");
    assert_eq!(layer["fields"]["fullname"], "String");
    assert_eq!(layer["fields"]["areakm2"], "Number");
    let bounds: Vec<f64> = serde_json::from_value(tj["bounds"].clone()).unwrap();
    assert!(
        bounds[0] < MARKET.0
            && MARKET.0 < bounds[2]
            && bounds[1] < MARKET.1
            && MARKET.1 < bounds[3]
    );
}

#[tokio::test]
async fn catalog_lists_public_layers_only() {
    let app = TestApp::with_ben_thanh_ward().await;
    let ids = |r: &Response| -> Vec<String> {
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&app.get("/catalog").await), ["wards_2025"]);

    sqlx::query("UPDATE bando.layers SET visibility = 'restricted' WHERE slug = 'wards_2025'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    app.state.catalog.refresh().await.unwrap();
    assert!(ids(&app.get("/catalog").await).is_empty());
    app.get("/tiles/wards_2025/14/13047/7698.mvt")
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    app.get("/tiles/wards_2025.json")
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn second_request_is_a_cache_hit_with_etag_and_gzip() {
    let app = TestApp::with_ben_thanh_ward().await;
    let uri = "/tiles/wards_2025/14/13047/7698.mvt?v=1";
    let first = app.get(uri).await;
    assert_eq!(first.header("x-tile-cache".parse().unwrap()), "miss");
    assert!(first.header(header::CACHE_CONTROL).contains("immutable"));

    let gzip = app
        .request(
            Request::get(uri)
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(gzip.header("x-tile-cache".parse().unwrap()), "hit");
    assert_eq!(gzip.header(header::CONTENT_ENCODING), "gzip");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(gzip.body.as_slice())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, first.body, "gzip body is the same tile");

    let etag = first.header(header::ETAG).to_owned();
    let revalidated = app
        .request(
            Request::get(uri)
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());

    let unversioned = app.get("/tiles/wards_2025/14/13047/7698.mvt").await;
    assert_eq!(
        unversioned.header(header::CACHE_CONTROL),
        "public, max-age=60"
    );

    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("bando_tile_cache_hits_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bando_tile_cache_misses_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"bando_http_requests_total{route="/tiles/{layer}/{z}/{x}/{y}",method="GET",status="200"}"#
    ));
    assert!(metrics.contains("bando_db_pool_connections"));
}

/// A web map on another origin reads tiles and queries, also with an agency key in
/// `Authorization` (which browsers check in a preflight, and do not count under `*`).
#[tokio::test]
async fn other_origins_may_read_tiles_and_queries_with_a_bearer_key() {
    let app = TestApp::with_ben_thanh_ward().await;
    let t = market_tile(14);
    for uri in [
        format!("/tiles/wards_2025/{}/{}/{}.mvt", t.z, t.x, t.y),
        "/tiles/wards_2025.json".to_owned(),
        "/ogc/collections/wards_2025/items?limit=1".to_owned(),
    ] {
        let preflight = app
            .request(
                Request::options(uri.as_str())
                    .header(header::ORIGIN, "https://app.example.vn")
                    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
                    .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(preflight.status.is_success(), "{uri}: {}", preflight.status);
        assert_eq!(
            preflight.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "*",
            "{uri}"
        );
        let allowed = preflight
            .header(header::ACCESS_CONTROL_ALLOW_HEADERS)
            .to_ascii_lowercase();
        assert!(
            allowed.split(',').any(|h| h.trim() == "authorization"),
            "{uri}: Authorization must be named, not covered by *: {allowed:?}"
        );
        assert!(
            allowed.split(',').any(|h| h.trim() == "*"),
            "{uri}: other request headers are allowed too: {allowed:?}"
        );

        let answer = app
            .request(
                Request::get(uri.as_str())
                    .header(header::ORIGIN, "https://app.example.vn")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        assert_eq!(
            answer.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "*",
            "{uri}"
        );
        // ETag and the cache flag are readable by the page's script.
        assert_eq!(
            answer.header(header::ACCESS_CONTROL_EXPOSE_HEADERS),
            "*",
            "{uri}"
        );
    }
}

#[tokio::test]
async fn health_and_ready() {
    let app = TestApp::with_ben_thanh_ward().await;
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
    assert_eq!(app.get("/ready").await.json()["database"], "ok");
}

#[tokio::test]
async fn unreachable_database_is_503_with_retry_after_but_cached_tiles_still_serve() {
    let app = TestApp::with_ben_thanh_ward().await;
    let cached = "/tiles/wards_2025/14/13047/7698.mvt";
    assert_eq!(app.get(cached).await.status, StatusCode::OK);

    // Same catalog and cache, but every new query goes to a closed port.
    let dead_pool = bando_core::db::pool_lazy(
        "postgres://postgres@127.0.0.1:9/bando",
        &bando_core::db::PoolSettings {
            acquire_timeout: std::time::Duration::from_millis(300),
            ..Default::default()
        },
    )
    .unwrap();
    let mut state = tile_server::state::SharedState::clone(&app.state);
    state.pool = dead_pool.clone();
    // Sources hold their own pool: rebuild them over the dead one, keeping the cache.
    state.catalog = tile_server::catalog::Catalog::new(
        tile_server::read_pools::ReadPools::primary_only(dead_pool, state.metrics.clone()),
        Config::default().composites,
    );
    let layers = bando_core::catalog::list_layers(&app.db.pool)
        .await
        .unwrap();
    state.catalog.replace(layers);
    let down = TestApp {
        db: app.db.clone(),
        state: AppState::from_parts(state),
    };

    let hit = down.get(cached).await;
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(hit.body, app.get(cached).await.body);

    let miss = down.get("/tiles/wards_2025/13/6523/3849.mvt").await;
    miss.assert_problem(StatusCode::SERVICE_UNAVAILABLE, None);
    assert_eq!(miss.header(header::RETRY_AFTER), "5");
    down.get("/ready")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, None);
}

#[tokio::test]
async fn low_zooms_read_generalised_geometry_and_drop_sub_pixel_features() {
    let app = TestApp::with_ben_thanh_ward().await;
    let vertices = |body: &[u8]| -> usize {
        use geo::CoordsIter;
        mvt::decode(body)[0]
            .features
            .iter()
            .map(|f| f.geometry.coords_count())
            .sum()
    };
    // Bến Thành ward is about 1 km across: a few pixels at z8, less than one at z5.
    let z14 = app.get(&uri(market_tile(14))).await;
    let z10 = app.get(&uri(market_tile(10))).await;
    let z8 = app.get(&uri(market_tile(8))).await;
    let z5 = app.get(&uri(market_tile(5))).await;
    assert_eq!(
        (z14.status, z10.status, z8.status),
        (StatusCode::OK, StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(
        z5.status,
        StatusCode::NO_CONTENT,
        "a sub-pixel ward is not drawn at z5"
    );
    let (v14, v10, v8) = (vertices(&z14.body), vertices(&z10.body), vertices(&z8.body));
    assert!(
        v8 < v10 && v10 < v14,
        "simplified more at lower zooms: z8 {v8}, z10 {v10}, z14 {v14}"
    );
}

fn uri(t: TileCoord) -> String {
    format!("/tiles/wards_2025/{}/{}/{}.mvt", t.z, t.x, t.y)
}

#[tokio::test]
async fn openapi_document_lists_every_route_and_validates() {
    let app = TestApp::with_ben_thanh_ward().await;
    let response = app.get("/api").await;
    assert_eq!(response.status, StatusCode::OK);
    let doc = response.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/tiles/{layer}/{z}/{x}/{y}.mvt",
        "/v1/wards",
        "/v1/search",
        "/v1/layers/{layer}/nearest",
        "/ogc/collections/{id}/items",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} documented");
    }
    // Checked by an independent validator of the OpenAPI specification (PyPI
    // openapi-spec-validator, installed by scripts/install-deps).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &response.body).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn ogc_api_tiles_serve_the_same_tiles_in_z_y_x_order() {
    let app = TestApp::with_ben_thanh_ward().await;
    let t = market_tile(14);
    let xyz = app.get(&uri(t)).await;
    let ogc = app
        .get(&format!(
            "/ogc/collections/wards_2025/tiles/WebMercatorQuad/{}/{}/{}",
            t.z, t.y, t.x
        ))
        .await;
    assert_eq!(ogc.status, StatusCode::OK);
    assert_eq!(ogc.body, xyz.body, "row before column in OGC paths");

    let tileset = app
        .get("/ogc/collections/wards_2025/tiles/WebMercatorQuad")
        .await
        .json();
    assert_eq!(tileset["dataType"], "vector");
    let template = tileset["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "item")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        template.contains("{tileMatrix}/{tileRow}/{tileCol}"),
        "{template}"
    );
    let list = app.get("/ogc/collections/wards_2025/tiles").await.json();
    assert_eq!(list["tilesets"].as_array().unwrap().len(), 1);
    let tms = app.get("/ogc/tileMatrixSets/WebMercatorQuad").await.json();
    assert_eq!(tms["tileMatrices"][14]["matrixWidth"], 16384);

    app.get("/ogc/collections/wards_2025/tiles/WorldCRS84Quad/1/0/0")
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    app.get("/ogc/collections/wards_2025/tiles/WebMercatorQuad/1/2/0")
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    app.get("/ogc/collections/wards_2025/tiles/WebMercatorQuad/1/-1/0")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("tileRow"));
    app.get("/ogc/collections/wards_2025/tiles/WebMercatorQuad/1/0/a")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("tileCol"));
}
