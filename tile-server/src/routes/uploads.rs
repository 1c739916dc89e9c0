//! Agencies publish through the API:
//!
//! - `POST /v1/agencies/{agency}/layers/{layer}/uploads` — `multipart/form-data` with one `file`
//!   part (GeoJSON, zipped Shapefile, GeoPackage, CSV, KML or FlatGeobuf, told apart by the file
//!   name's extension), import options as query parameters. The file is streamed to disk (never
//!   held in memory) up to the configured size limit, checked (a zip is opened), then stored in
//!   the database with its queued job (`bando_importers::queue`): any instance's runner
//!   (`job_runner.rs`) imports it with the importers' library — the same validation, VN-2000
//!   datum shift and atomic publish as `bando import` — and a runner that dies hands it to the
//!   next. Answers `202 Accepted` with the job and its URL once the job is stored.
//! - `GET /v1/jobs/{id}` — where the job is (queued, running at a stage on an instance, attempt N of
//!   M, succeeded, failed, skipped) and its validation report (its agency and admins only).
//!
//! Layers published this way are named `<agency>_<name>` (hyphens of the agency become `_`), so
//! no agency can take or overwrite another's layer; admin keys may publish any name into any
//! agency.

use std::path::{Path as FsPath, PathBuf};

use crate::routes::path::Path;
use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bando_core::layer::Visibility;
use bando_importers::merge::PublishMode;
use bando_importers::reader::ValidationPolicy;
use bando_importers::{ImportError, ImportRequest};
use chrono::{DateTime, NaiveDate, Utc};
use clap::ValueEnum;
use serde::Serialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::base_url;
use crate::access::Authorized;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::upload_files::{accepted_alone, has_extension, write_error};

/// The layer slug `agency` publishes `name` under, if it is in its namespace.
pub fn in_namespace(agency: &str, layer: &str) -> bool {
    let prefix = format!("{}_", agency.replace('-', "_"));
    layer.len() > prefix.len() && layer.starts_with(&prefix)
}

/// `POST /v1/agencies/{agency}/layers/{layer}/uploads`.
#[utoipa::path(post, path = "/v1/agencies/{agency}/layers/{layer}/uploads", tag = "publishing",
    params(("agency" = String, Path, description = "Namespace (the caller's agency)", pattern = "^[a-z][a-z0-9]{0,30}$"),
           ("layer" = String, Path, description = "Layer slug, `<agency>_<name>` (any slug for an admin key)", pattern = "^[a-z][a-z0-9_]{0,62}$"),
           ("title" = Option<String>, Query), ("description" = Option<String>, Query), ("attribution" = Option<String>, Query),
           ("visibility" = Option<super::api_types::Visibility>, Query, description = "Default private for a new layer, unchanged otherwise"),
           ("mode" = Option<super::api_types::UploadMode>, Query, description = "replace (default), append or upsert"),
           ("upsert_key" = Option<String>, Query, description = "Key column; with mode=upsert, and only then"),
           ("on_invalid" = Option<super::api_types::OnInvalid>, Query, description = "repair (default), skip or fail"),
           ("source_crs" = Option<String>, Query, description = "CRS of the data when the file does not say (e.g. EPSG:9210)"),
           ("source_layer" = Option<String>, Query, description = "Layer of a GeoPackage"),
           ("lon_column" = Option<String>, Query), ("lat_column" = Option<String>, Query), ("wkt_column" = Option<String>, Query),
           ("layout" = Option<String>, Query), ("admin_level" = Option<super::api_types::AdminLevel>, Query),
           ("valid_from" = Option<String>, Query, format = Date), ("valid_to" = Option<String>, Query, format = Date),
           ("minzoom" = Option<u8>, Query, minimum = 0, maximum = 24), ("maxzoom" = Option<u8>, Query, minimum = 0, maximum = 24),
           ("force" = Option<bool>, Query), ("dry_run" = Option<bool>, Query)),
    request_body(content = super::api_types::UploadBody, content_type = "multipart/form-data"),
    responses((status = 202, description = "The file is stored and its import job queued: `{\"job\", \"status\": \"queued\", \"url\"}`; follow `url` (also in `Location`)", content_type = "application/json"),
              (status = 400, description = "A parameter, the body or the file is unusable (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not a publish key of this agency", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such agency", body = Problem, content_type = "application/problem+json"), (status = 409, description = "The layer belongs to another agency", body = Problem, content_type = "application/problem+json"),
              (status = 413, description = "The file is larger than the limit", body = Problem, content_type = "application/problem+json"), (status = 507, description = "No room to store the upload now (nothing was stored); retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Authorized,
    Path((agency, layer)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    caller.require_manager_of(&agency)?;
    if !caller.agent.admin && !in_namespace(&agency, &layer) {
        return Err(ApiError::param(
            "layer",
            format!(
                "layers of agency {agency:?} are named {}_<name>",
                agency.replace('-', "_")
            ),
        ));
    }
    bando_core::layer::validate_slug(&layer)
        .map_err(|e| ApiError::param("layer", e.to_string()))?;
    if let Some(existing) = state.catalog.get_unchecked(&layer)
        && existing.layer().agency != agency
    {
        return Err(ApiError::Conflict(format!(
            "layer {layer:?} belongs to another agency"
        )));
    }
    let mut request = options(query.as_deref())?;
    // Admin keys may name any agency; one that does not exist is a missing resource.
    if !bando_core::api_key::agency_exists(state.db()?, &agency).await? {
        return Err(ApiError::NotFound(format!("no agency {agency:?}")));
    }
    request.layer = layer;
    request.agency = Some(agency);
    request.actor = caller.actor.clone();
    if request.visibility.is_none() && state.catalog.get_unchecked(&request.layer).is_none() {
        // A new layer stays with its owner until it says otherwise.
        request.visibility = Some(Visibility::Private);
    }

    let limit = state.config.upload_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Multipart framing adds a few hundred bytes around the file.
    if declared.is_some_and(|n| n > limit.saturating_add(64 * 1024)) {
        return Err(too_large(limit));
    }
    let folder = tempfile::Builder::new()
        .prefix(&bando_core::scratch::prefix("upload"))
        .tempdir_in(&state.config.upload_dir)
        .map_err(|e| write_error(&e))?;
    // Not `multipart/form-data` with a boundary: a problem naming the body, like any bad field.
    let multipart = multipart.map_err(|e| ApiError::param("body", e.body_text()))?;
    let received = receive_file(multipart, folder.path(), limit).await?;
    if has_extension(&received, "zip") {
        // Its directory only (nothing unpacked here): a corrupt or unsafe archive, a bomb, or one
        // without exactly one dataset is the client's 400, not a failed job. The job's reader
        // process unpacks it, counting the bytes it writes.
        let archive = received.clone();
        let cap = state.config.import_limits.file_bytes;
        tokio::task::spawn_blocking(move || bando_importers::archive::list(&archive, cap))
            .await
            .map_err(|e| ApiError::Internal(format!("zip listing task: {e}")))?
            .map_err(import_error)?;
    }
    let file_name = received
        .file_name()
        .map_or_else(|| "upload".to_owned(), |n| n.to_string_lossy().into_owned());
    request.path = PathBuf::from(&file_name);
    let attempts = i32::try_from(state.config.job_attempts).unwrap_or(1);
    // Stored with its job in the database: any instance can run it, and it survives this one.
    let job =
        bando_importers::queue::enqueue(state.db()?, &request, &received, &file_name, attempts)
            .await
            .map_err(import_error)?;
    drop(folder);
    state.jobs_queued.notify_one();
    let url = format!("{}/v1/jobs/{job}", base_url(&state, &headers));
    let mut response = (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "job": job, "status": "queued", "url": url })),
    )
        .into_response();
    if let Ok(location) = url.parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn too_large(limit: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "the file is larger than the upload limit of {} MiB",
        limit / (1024 * 1024)
    ))
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::InvalidOption { field, reason } => ApiError::param(field, reason),
        ImportError::Core(bando_core::CoreError::InvalidLayerName { reason, .. }) => {
            ApiError::param("layer", reason)
        }
        ImportError::NotOwner { layer, .. } => {
            ApiError::Conflict(format!("layer {layer:?} belongs to another agency"))
        }
        ImportError::Database(e) => e.into(),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Import options from the query string.
fn options(query: Option<&str>) -> ApiResult<ImportRequest> {
    let mut request = ImportRequest::default();
    let mut mode = None;
    let mut upsert_key = None;
    let date = |name: &'static str, v: &str| {
        NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| ApiError::param(name, format!("{v:?} is not a date YYYY-MM-DD")))
    };
    let zoom = |name: &'static str, v: &str| {
        v.parse::<u8>()
            .ok()
            .filter(|z| *z <= bando_core::tile::MAX_ZOOM)
            .ok_or_else(|| ApiError::param(name, format!("{v:?} is not a zoom 0..=24")))
    };
    let flag = |name: &'static str, v: &str| match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::param(name, format!("{v:?} is not true or false"))),
    };
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let v = value.into_owned();
        match name.as_ref() {
            "title" => request.title = Some(v),
            "description" => request.description = Some(v),
            "attribution" => request.attribution = Some(v),
            "visibility" => {
                request.visibility = Some(match v.as_str() {
                    "public" => Visibility::Public,
                    "restricted" => Visibility::Restricted,
                    "private" => Visibility::Private,
                    _ => {
                        return Err(ApiError::param(
                            "visibility",
                            format!("{v:?} is not public, restricted or private"),
                        ));
                    }
                });
            }
            "mode" => mode = Some(v),
            "upsert_key" => upsert_key = Some(v),
            "on_invalid" => {
                request.policy = ValidationPolicy::from_str(&v, true).map_err(|_| {
                    ApiError::param("on_invalid", format!("{v:?} is not repair, skip or fail"))
                })?;
            }
            "source_crs" => {
                bando_importers::crs_definition::check(&v)
                    .map_err(|reason| ApiError::param("source_crs", format!("{v:?} {reason}")))?;
                request.source.source_crs = Some(v);
            }
            "source_layer" => request.source.source_layer = Some(name_value("source_layer", v)?),
            "lon_column" => request.source.lon_column = Some(name_value("lon_column", v)?),
            "lat_column" => request.source.lat_column = Some(name_value("lat_column", v)?),
            "wkt_column" => request.source.wkt_column = Some(name_value("wkt_column", v)?),
            "layout" => request.layout = Some(v),
            "admin_level" => {
                if !matches!(v.as_str(), "city" | "district" | "ward") {
                    return Err(ApiError::param(
                        "admin_level",
                        format!("{v:?} is not city, district or ward"),
                    ));
                }
                request.admin_level = Some(v);
            }
            "valid_from" => request.valid_from = Some(date("valid_from", &v)?),
            "valid_to" => request.valid_to = Some(date("valid_to", &v)?),
            "minzoom" => request.minzoom = Some(zoom("minzoom", &v)?),
            "maxzoom" => request.maxzoom = Some(zoom("maxzoom", &v)?),
            "force" => request.force = flag("force", &v)?,
            "dry_run" => request.dry_run = flag("dry_run", &v)?,
            // The API key, read by the `Authorized` extractor.
            "key" => {}
            other => return Err(ApiError::param(other.to_owned(), "unknown parameter")),
        }
    }
    request.mode = match (mode.as_deref(), upsert_key) {
        (None | Some("replace"), None) => PublishMode::Replace,
        (Some("append"), None) => PublishMode::Append,
        (Some("upsert"), Some(key)) => PublishMode::Upsert {
            key: bando_importers::field_names::safe_column_name(&key, &mut Default::default()),
        },
        (Some("upsert"), None) => {
            return Err(ApiError::param(
                "upsert_key",
                "is required with mode=upsert",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::param("upsert_key", "goes with mode=upsert only"));
        }
        (Some(other), None) => {
            return Err(ApiError::param(
                "mode",
                format!("{other:?} is not replace, append or upsert"),
            ));
        }
    };
    request.area = Some(bando_importers::reader::DEFAULT_AREA);
    Ok(request)
}

/// A layer or column name of the file: a name, never a path or a GDAL dataset name (it is
/// only ever compared with the names inside the file, but nothing path-like is taken).
fn name_value(field: &'static str, value: String) -> ApiResult<String> {
    bando_importers::crs_definition::check_name(&value)
        .map_err(|reason| ApiError::param(field, format!("{value:?} {reason}")))?;
    Ok(value)
}

/// Streams the `file` part to `folder`, refusing more than `limit` bytes; returns its path.
async fn receive_file(mut multipart: Multipart, folder: &FsPath, limit: u64) -> ApiResult<PathBuf> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            ApiError::param(
                "file",
                format!("malformed multipart body: {}", e.body_text()),
            )
        }
    };
    let mut received = None;
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        if field.name() != Some("file") || received.is_some() {
            return Err(ApiError::param(
                "body",
                format!(
                    "unexpected part {:?}: the body holds one part, \"file\"",
                    field.name().unwrap_or_default()
                ),
            ));
        }
        let name = field
            .file_name()
            .and_then(|n| FsPath::new(n).file_name())
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::param("file", "the file part needs a file name"))?;
        if name.starts_with('.') || name.chars().any(char::is_control) {
            return Err(ApiError::param(
                "file",
                format!("{name:?} is not a usable file name"),
            ));
        }
        bando_importers::drivers::check_plain_file_name(FsPath::new(&name))
            .map_err(|e| ApiError::param("file", e.to_string()))?;
        let named = folder.join(&name);
        let accepted = accepted_alone(&named) || has_extension(&named, "zip");
        let unsupported = || {
            ApiError::param(
                "file",
                format!(
                    "{name:?}: upload GeoJSON, GeoPackage, CSV, KML, GML, FlatGeobuf, or a zip of \
                     one Shapefile or MapInfo table with its sidecar files"
                ),
            )
        };
        if has_extension(&named, "shp") || has_extension(&named, "tab") {
            return Err(unsupported());
        }
        // A name without a known extension ("data", "export.txt"): the content says the format.
        let path = if accepted {
            named
        } else {
            folder.join("upload.unknown")
        };
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| write_error(&e))?;
        let mut written = 0u64;
        let mut head = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            written += chunk.len() as u64;
            if written > limit {
                return Err(too_large(limit));
            }
            if head.len() < 64 {
                head.extend_from_slice(&chunk[..chunk.len().min(64 - head.len())]);
            }
            file.write_all(&chunk).await.map_err(|e| write_error(&e))?;
        }
        file.flush().await.map_err(|e| write_error(&e))?;
        if written == 0 {
            return Err(ApiError::param("file", format!("{name:?} is empty")));
        }
        if accepted {
            received = Some(path);
            continue;
        }
        let extension = sniff_format(&head).ok_or_else(unsupported)?;
        let renamed = folder.join(format!("upload.{extension}"));
        tokio::fs::rename(&path, &renamed)
            .await
            .map_err(|e| ApiError::Internal(format!("naming the upload: {e}")))?;
        received = Some(renamed);
    }
    received.ok_or_else(|| ApiError::param("file", "the multipart body has no part named \"file\""))
}

/// The extension of a file whose first bytes are `head`, for an upload named without one:
/// JSON (GeoJSON), a zip archive, a GeoPackage (SQLite), FlatGeobuf, XML (KML). CSV has no
/// signature and needs its `.csv`.
fn sniff_format(head: &[u8]) -> Option<&'static str> {
    let text = head.trim_ascii_start();
    if head.starts_with(b"PK\x03\x04") {
        Some("zip")
    } else if head.starts_with(b"SQLite format 3\0") {
        Some("gpkg")
    } else if head.starts_with(b"fgb\x03") {
        Some("fgb")
    } else if text.starts_with(b"{") || text.starts_with(b"[") {
        Some("geojson")
    } else if text.starts_with(b"<") {
        Some("kml")
    } else {
        None
    }
}

/// An import job as the API shows it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Job {
    /// Job id.
    pub id: i64,
    /// Target layer.
    pub layer: String,
    /// Agency it ran for.
    pub agency: Option<String>,
    /// queued, running, succeeded, failed or skipped.
    pub status: String,
    /// Where a running job is: starting, reading, loading, indexing, publishing.
    pub stage: Option<String>,
    /// Attempts made (a job is tried again when the server running it stops).
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The instance running the current attempt, or that ran the last one.
    pub runner: Option<String>,
    /// Source file name.
    pub source_format: Option<String>,
    /// CRS of the source.
    pub source_crs: Option<String>,
    /// replace, append, upsert, dry-run.
    pub mode: String,
    /// Features read.
    pub features_read: i64,
    /// Features published.
    pub features_written: i64,
    /// Geometries repaired.
    pub features_repaired: i64,
    /// Features left out.
    pub features_skipped: i64,
    /// Counts by reason and the first offending features.
    pub report: Value,
    /// Why a failed job failed.
    pub error: Option<String>,
    /// Version published.
    pub published_version: Option<i32>,
    /// Queued (uploads).
    pub queued_at: Option<DateTime<Utc>>,
    /// Started (the current or last attempt).
    pub started_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time.
    pub duration_ms: Option<i64>,
    /// How the file was read: the GDAL driver, and the reader process's exit (code or signal),
    /// peak memory, CPU and wall seconds, limits and confinement.
    pub reader: Option<Value>,
}

/// `GET /v1/jobs/{id}`.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "publishing", params(("id" = i64, Path)),
    responses((status = 200, description = "The job", content_type = "application/json"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such job (or another agency's)", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn job(
    State(state): State<AppState>,
    caller: Authorized,
    Path(id): Path<String>,
) -> ApiResult<Json<Job>> {
    let missing = || ApiError::NotFound(format!("no job {id:?}"));
    let job_id: i64 = id.parse().map_err(|_| missing())?;
    let job: Job = sqlx::query_as(
        "SELECT id, layer_slug AS layer, agency, status::text AS status, stage, attempts, \
                max_attempts, runner, source_format, source_crs, mode, features_read, \
                features_written, features_repaired, features_skipped, report, error, \
                published_version, queued_at, started_at, finished_at, duration_ms, reader \
         FROM bando.import_jobs WHERE id = $1",
    )
    .bind(job_id)
    .fetch_optional(state.db()?)
    .await?
    .ok_or_else(missing)?;
    let own = job.agency.as_deref() == Some(&*caller.agent.agency);
    if !caller.agent.admin && !own {
        return Err(missing());
    }
    Ok(Json(job))
}
