//! `GET /tiles/{tileset}/{z}/{x}/{y}.mvt`: one vector tile of a layer, of the base map (or another
//! configured composite) or of an ad-hoc composite `a,b,…`, from the cache or built by PostGIS.

use axum::body::Body;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use bando_core::tile::{MAX_ZOOM, TileCoord};

use bando_core::access::Viewer;

use crate::access::Caller;
use crate::catalog::CompositeError;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::tiles::cache::{Tier, TileKey};

/// MVT media type.
pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// Cache-Control of a tile requested with the live version in its URL: it never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of an unversioned (or stale-versioned) tile URL: may change on next publish.
const SHORT_LIVED: &str = "public, max-age=60";
/// [`IMMUTABLE`] for a tile of non-public data: the caller's own cache only.
const PRIVATE_IMMUTABLE: &str = "private, max-age=31536000, immutable";
/// [`SHORT_LIVED`] for a tile of non-public data.
const PRIVATE_SHORT_LIVED: &str = "private, max-age=60";

/// `GET /tiles/{tileset}/{z}/{x}/{y}.mvt[?v=revision]`.
#[utoipa::path(get, path = "/tiles/{layer}/{z}/{x}/{y}.mvt", tag = "tiles",
    params(("layer" = String, Path, description = "Layer slug, composite id (`basemap`) or up to 16 comma-separated layer slugs", pattern = "^[^,\\u0000]+(,[^,\\u0000]+){0,15}$"),
           ("z" = u8, Path, description = "Zoom 0..=24", minimum = 0, maximum = 24),
           ("x" = u32, Path, description = "Column 0..2^z; a column beyond the zoom's grid is no tile (404)", minimum = 0, maximum = 16777215),
           ("y" = u32, Path, description = "Row from the north 0..2^z; a row beyond the zoom's grid is no tile (404)", minimum = 0, maximum = 16777215),
           ("v" = Option<i64>, Query, description = "Revision from TileJSON; makes the response immutable")),
    responses((status = 200, description = "Mapbox Vector Tile", content_type = "application/vnd.mapbox-vector-tile"),
              (status = 204, description = "No feature in this tile"), (status = 304, description = "Not modified (ETag)"),
              (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such layer (or one the caller may not see), or no such tile at this zoom", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn tile(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
) -> ApiResult<Response> {
    // A path segment that is not UTF-8 once decoded (`%FF`) is the client's mistake: a problem
    // like any other bad address (the reason names the segment).
    let params = params.map_err(|e| ApiError::param("path", e.body_text()))?;
    // Borrowed parameters and headers: this is the hottest route, and owned copies of each
    // (what `Path<String…>` and `HeaderMap` extract) cost allocations per tile.
    let param = |name: &str| {
        params
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value))
            .unwrap_or_default()
    };
    let coord = parse_coord(param("z"), param("x"), param("y"))?;
    let requested_version = parse_version(request.uri().query())?;
    serve_tile(
        &state,
        &viewer,
        param("layer"),
        coord,
        requested_version,
        request.headers(),
    )
    .await
}

/// Answers one tile of `layer` for `viewer`: access (before the cache), zoom range check, cache,
/// conditional and compressed response.
pub async fn serve_tile(
    state: &AppState,
    viewer: &Viewer,
    layer: &str,
    coord: TileCoord,
    requested_version: Option<i64>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let mut source = state
        .catalog
        .tileset(layer, viewer)
        .map_err(tileset_error)?;
    // A revision this instance has not heard of yet (the URL came from another instance's
    // TileJSON): catch up on the change log first, so no tile older than it is served for it
    // (`tiles::change_log` has the argument).
    if requested_version.is_some_and(|v| v > source.revision()) {
        let caught_up = crate::publish_listener::catch_up_to_now(state).await;
        source = state
            .catalog
            .tileset(layer, viewer)
            .map_err(tileset_error)?;
        if !caught_up && requested_version.is_some_and(|v| v > source.revision()) {
            return Err(ApiError::Unavailable(format!(
                "revision {} of {layer:?} cannot be checked now: the database is not answering",
                requested_version.unwrap_or_default()
            )));
        }
    }
    let (minzoom, maxzoom) = source.zoom_range();
    if coord.z < minzoom || coord.z > maxzoom {
        return Err(ApiError::NotFound(format!(
            "tileset {layer:?} has tiles at zooms {minzoom}..={maxzoom} only, not {}",
            coord.z
        )));
    }

    let key = TileKey {
        tileset: source.shared_id(),
        coord,
    };
    // Only a miss needs the database: cached tiles are served while it is down, and misses are
    // built on a current replica while there is one.
    let source = &source;
    let build = |from| async move {
        state.read_gate(from)?;
        source.build(coord, from).await
    };
    let (tile, tier) = state.cache.get_or_build(key, build).await?;
    if tier == Tier::Memory {
        state.metrics.cache_hits.inc();
    } else {
        state.metrics.cache_misses.inc();
    }

    // Tiles of non-public layers must not be kept by shared caches (proxies, CDNs).
    let cache_control = match (
        requested_version == Some(source.revision()),
        source.public(),
    ) {
        (true, true) => IMMUTABLE,
        (false, true) => SHORT_LIVED,
        (true, false) => PRIVATE_IMMUTABLE,
        (false, false) => PRIVATE_SHORT_LIVED,
    };
    let mut response = if tile.raw.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else if etag_matches(headers, &tile.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts(headers, "br") {
        let mut r = Response::new(Body::from(tile.brotli()));
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        r
    } else if accepts(headers, "gzip") {
        let mut r = Response::new(Body::from(tile.gzip.clone()));
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        Response::new(Body::from(tile.raw.clone()))
    };
    let h = response.headers_mut();
    // Room for these headers and the CORS ones at once, instead of growing the map twice.
    h.reserve(12);
    if !tile.raw.is_empty() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(MVT_CONTENT_TYPE),
        );
        h.insert(header::ETAG, tile.etag_header);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        "x-tile-cache",
        HeaderValue::from_static(match tier {
            Tier::Memory => "hit",
            Tier::Shared => "shared",
            Tier::Built => "miss",
        }),
    );
    Ok(response)
}

/// Parses `z`, `x` and `y.mvt` (also `.pbf`, a common alias) into a checked tile address.
pub fn parse_coord(z: &str, x: &str, y_file: &str) -> ApiResult<TileCoord> {
    let y = y_file
        .strip_suffix(".mvt")
        .or_else(|| y_file.strip_suffix(".pbf"))
        .ok_or_else(|| {
            ApiError::param("format", format!("{y_file:?} must end in .mvt (or .pbf)"))
        })?;
    tile_address(("z", z), ("x", x), ("y", y))
}

/// A tile address from its three numbers, each with the name its route gives it: a zoom above
/// the maximum, or a column or row beyond the deepest zoom's grid, is a malformed request (400
/// naming it); one beyond its own zoom's grid is a tile that does not exist (404), as OGC API –
/// Tiles answers for tiles outside a tile matrix.
pub fn tile_address(
    (z_name, z): (&'static str, &str),
    (x_name, x): (&'static str, &str),
    (y_name, y): (&'static str, &str),
) -> ApiResult<TileCoord> {
    let number = |name: &'static str, value: &str| {
        value
            .parse::<u32>()
            .map_err(|_| ApiError::param(name, format!("{value:?} is not a non-negative integer")))
    };
    let (z, x, y) = (number(z_name, z)?, number(x_name, x)?, number(y_name, y)?);
    if z > u32::from(MAX_ZOOM) {
        return Err(ApiError::param(
            z_name,
            format!("zoom {z} is above the maximum {MAX_ZOOM}"),
        ));
    }
    let deepest = 1u64 << MAX_ZOOM;
    for (name, value) in [(x_name, x), (y_name, y)] {
        if u64::from(value) >= deepest {
            return Err(ApiError::param(
                name,
                format!("{value} is beyond the deepest zoom's 0..{deepest}"),
            ));
        }
    }
    TileCoord::new(z, x, y).map_err(|e| match e {
        bando_core::CoreError::InvalidTile { reason, .. } => {
            ApiError::NotFound(format!("no such tile: {reason}"))
        }
        other => other.into(),
    })
}

/// The `v` (revision) query parameter, if any.
pub fn parse_version(query: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(query) = query else { return Ok(None) };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "v" {
            return value
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::param("v", format!("{value:?} is not a revision")));
        }
    }
    Ok(None)
}

/// A tileset lookup failure as an HTTP problem.
pub fn tileset_error(error: CompositeError) -> ApiError {
    match error {
        CompositeError::Unknown(name) => ApiError::NotFound(format!("no layer {name:?}")),
        CompositeError::Malformed(reason) => ApiError::param("layer", reason),
    }
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// Whether `Accept-Encoding` allows `coding` (by name or `*`, without `q=0`).
fn accepts(headers: &HeaderMap, wanted: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case(wanted) || coding == "*") && !q_zero
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_tile_paths() {
        assert_eq!(
            parse_coord("14", "13047", "7698.mvt").unwrap(),
            TileCoord::new(14, 13047, 7698).unwrap()
        );
        assert!(parse_coord("14", "13047", "7698.pbf").is_ok());
        for (z, x, y, field) in [
            ("14", "13047", "7698.png", "format"),
            ("a", "0", "0.mvt", "z"),
            ("1", "-1", "0.mvt", "x"),
            ("1", "0", "16777216.mvt", "y"),
            ("30", "0", "0.mvt", "z"),
        ] {
            match parse_coord(z, x, y) {
                Err(ApiError::InvalidParam { name, .. }) => assert_eq!(name, field),
                other => panic!("{z}/{x}/{y}: {other:?}"),
            }
        }
        // Well-formed, but past the zoom's grid: no such tile, like one past the map's edge.
        for (z, x, y) in [
            ("1", "0", "2.mvt"),
            ("0", "1", "0.mvt"),
            ("14", "16384", "0.mvt"),
        ] {
            assert!(
                matches!(parse_coord(z, x, y), Err(ApiError::NotFound(_))),
                "{z}/{x}/{y}"
            );
        }
    }

    #[test]
    fn gzip_negotiation_honours_q_zero() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts(&h, "gzip") && accepts(&h, "br"));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts(&h, "gzip") && accepts(&h, "br"));
        h.remove(header::ACCEPT_ENCODING);
        assert!(!accepts(&h, "gzip"));
    }
}
