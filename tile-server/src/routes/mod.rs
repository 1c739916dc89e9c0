//! HTTP routes, one file per area.

pub mod agencies;
pub mod api_doc;
pub mod api_types;
pub mod catalog;
pub mod changes;
pub mod coordinates;
pub mod fonts;
pub mod health;
pub mod nearby;
pub mod ogc_features;
pub mod ogc_queryables;
pub mod ogc_tiles;
pub mod path;
pub mod retirement;
pub mod search;
pub mod sharing;
pub mod sprites;
pub mod styles;
pub mod tilejson;
pub mod tiles;
pub mod uploads;
pub mod wards;

use axum::http::{HeaderMap, header};

use crate::error::ApiError;
use crate::state::AppState;

/// A `limit` query parameter: an integer in `1..=max`, or a 400 naming it.
pub fn page_limit(value: &str, max: i64) -> Result<i64, ApiError> {
    value
        .parse()
        .ok()
        .filter(|l| (1..=max).contains(l))
        .ok_or_else(|| ApiError::param("limit", format!("must be 1..={max}")))
}

/// The public base URL for absolute links: the configured one, else the request's
/// `X-Forwarded-Proto`/`X-Forwarded-Host` or `Host`.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let proto = header("x-forwarded-proto")
        .filter(|p| matches!(*p, "http" | "https"))
        .unwrap_or("http");
    let host = header("x-forwarded-host")
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
        .filter(|h| is_plausible_host(h))
        .map_or_else(|| state.config.listen.to_string(), str::to_owned);
    format!("{proto}://{host}")
}

/// A host[:port] without characters that could break out of a URL.
fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Fallback for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such resource".to_owned())
}

/// Refuses a request whose path or query string holds an encoded NUL (`%00`): no parameter of
/// this API may contain one, and PostgreSQL could not take it as a bound value (it would end as
/// a server error).
pub async fn refuse_nul(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let has_nul = |text: &str| {
        text.as_bytes()
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
    };
    let uri = request.uri();
    if has_nul(uri.path()) {
        return ApiError::param("path", "contains a NUL character (%00)").into_response();
    }
    if let Some(query) = uri.query().filter(|q| has_nul(q)) {
        // Name the parameter at fault, as any other problem with a parameter does.
        let name = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
            .map_or_else(|| "query".to_owned(), |(k, _)| k.replace('\0', "\\0"));
        return ApiError::param(name, "contains a NUL character (%00)").into_response();
    }
    next.run(request).await
}

/// GeoJSON's media type (RFC 7946).
pub const GEOJSON: &str = "application/geo+json";

/// A GeoJSON body, served as `application/geo+json`.
pub fn geojson(body: impl serde::Serialize) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(GEOJSON),
    );
    response
}

/// Fallback for known paths called with a method they do not answer: 405, and the router adds
/// the `Allow` header listing the methods they do.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not supported here; see the Allow header"
    ))
}
