//! Agencies, their API keys and the audit log:
//!
//! - `GET /v1/agencies` (any key), `POST /v1/agencies` (admin) `{"slug", "name"}`;
//! - `GET /v1/agencies/{agency}/keys` (admin, or the agency's own keys),
//!   `POST /v1/agencies/{agency}/keys` (admin) `{"name", "scopes": [..], "expires_at"}` → the key,
//!   shown this once;
//! - `DELETE /v1/keys/{id}` (admin, or a publish key of the same agency);
//! - `GET /v1/audit[?agency=][&limit=]` (admin: every row; others: their agency's).

use crate::routes::path::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bando_core::api_key::{self, KeyInfo, Scope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::{Authorized, json_body};
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// One agency.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Agency {
    /// Slug (namespace of its layers).
    pub slug: String,
    /// Name.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Longest agency or key name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// `POST /v1/agencies` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgency {
    slug: String,
    name: String,
}

/// `POST /v1/agencies/{agency}/keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[serde(default)]
    name: Option<String>,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time its text is shown.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    /// The stored description.
    #[serde(flatten)]
    pub info: KeyInfo,
    /// The key itself.
    pub key: String,
}

fn key_error(e: bando_core::CoreError) -> ApiError {
    match e {
        bando_core::CoreError::InvalidKey(reason) => ApiError::param("body", reason),
        other => other.into(),
    }
}

/// `GET /v1/agencies`.
#[utoipa::path(get, path = "/v1/agencies", tag = "agencies",
    responses((status = 200, description = "Agencies", content_type = "application/json"), (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authorized,
) -> ApiResult<Json<Vec<Agency>>> {
    Ok(Json(
        sqlx::query_as("SELECT slug, name, created_at FROM bando.agencies ORDER BY slug")
            .fetch_all(state.db()?)
            .await?,
    ))
}

/// `POST /v1/agencies`.
#[utoipa::path(post, path = "/v1/agencies", tag = "agencies",
    request_body(content = super::api_types::NewAgencyBody, content_type = "application/json"),
    responses((status = 201, description = "Created", content_type = "application/json"),
              (status = 400, description = "Malformed body (RFC 9457 problem naming the field)", body = Problem, content_type = "application/problem+json"), (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "The slug is taken", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Authorized,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let new: NewAgency = json_body(&body)?;
    if new.name.trim().is_empty() {
        return Err(ApiError::param("name", "must not be empty"));
    }
    if new.name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::param(
            "name",
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    let mut conn = state.db()?.acquire().await?;
    let created = api_key::create_agency(&mut conn, &new.slug, new.name.trim(), &caller.actor)
        .await
        .map_err(|e| match e {
            bando_core::CoreError::InvalidKey(reason) => ApiError::param("slug", reason),
            other => other.into(),
        })?;
    if !created {
        return Err(ApiError::Conflict(format!(
            "agency {:?} exists already",
            new.slug
        )));
    }
    let agency: Agency =
        sqlx::query_as("SELECT slug, name, created_at FROM bando.agencies WHERE slug = $1")
            .bind(&new.slug)
            .fetch_one(&mut *conn)
            .await?;
    Ok((StatusCode::CREATED, Json(agency)).into_response())
}

/// `GET /v1/agencies/{agency}/keys`.
#[utoipa::path(get, path = "/v1/agencies/{agency}/keys", tag = "agencies", params(("agency" = String, Path, description = "Agency slug")),
    responses((status = 200, description = "Keys, without their secrets", content_type = "application/json"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Another agency's keys", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn keys(
    State(state): State<AppState>,
    caller: Authorized,
    Path(agency): Path<String>,
) -> ApiResult<Json<Vec<KeyInfo>>> {
    if !caller.agent.admin && *caller.agent.agency != *agency {
        return Err(ApiError::Forbidden(format!(
            "a key of agency {:?} cannot list the keys of {agency:?}",
            &*caller.agent.agency
        )));
    }
    Ok(Json(api_key::list_keys(state.db()?, Some(&agency)).await?))
}

/// `POST /v1/agencies/{agency}/keys`.
#[utoipa::path(post, path = "/v1/agencies/{agency}/keys", tag = "agencies", params(("agency" = String, Path, description = "Agency slug")),
    request_body(content = super::api_types::NewKeyBody, content_type = "application/json"),
    responses((status = 201, description = "The key, shown this once", content_type = "application/json"),
              (status = 400, description = "Malformed body (RFC 9457 problem naming the field)", body = Problem, content_type = "application/problem+json"), (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such agency", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Authorized,
    Path(agency): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let new: NewKey = json_body(&body)?;
    let name = new.name.unwrap_or_default();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::param(
            "name",
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    let scopes = new
        .scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::param("scopes", e.to_string()))?;
    if scopes.is_empty() {
        return Err(ApiError::param(
            "scopes",
            "give at least one of read, publish, admin",
        ));
    }
    if new.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::param("expires_at", "is in the past"));
    }
    if !api_key::agency_exists(state.db()?, &agency).await? {
        return Err(ApiError::NotFound(format!("no agency {agency:?}")));
    }
    let mut conn = state.db()?.acquire().await?;
    let (info, key) = api_key::create_key(
        &mut conn,
        &agency,
        &name,
        &scopes,
        new.expires_at,
        &caller.actor,
    )
    .await
    .map_err(key_error)?;
    state.access.reload(state.db()?).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { info, key })).into_response())
}

/// `DELETE /v1/keys/{id}`.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "agencies", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked (from the next request on)"),
              (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Not allowed to revoke this key", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Authorized,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no key {id:?}")))?;
    // Admins revoke any key; an agency's publish keys revoke that agency's keys.
    let only_agency = if caller.agent.admin {
        None
    } else if caller.agent.publish {
        Some(caller.agent.agency.to_string())
    } else {
        return Err(ApiError::Forbidden(
            "revoking keys needs the publish or admin scope".to_owned(),
        ));
    };
    let mut conn = state.db()?.acquire().await?;
    api_key::revoke_key(&mut conn, id, only_agency.as_deref(), &caller.actor)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no key {id}")))?;
    state.access.reload(state.db()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One audit log row.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    /// Row id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Agency of the key used, if any.
    pub actor_agency: Option<String>,
    /// Key used, if any.
    pub actor_key_id: Option<i64>,
    /// Who.
    pub actor: String,
    /// From where.
    pub origin: String,
    /// What.
    pub action: String,
    /// The agency concerned.
    pub agency: Option<String>,
    /// Layer slug, key id or agency slug.
    pub target: String,
    /// Versions, scopes, visibility…
    pub details: Value,
}

/// `GET /v1/audit`.
#[utoipa::path(get, path = "/v1/audit", tag = "agencies",
    params(("agency" = Option<String>, Query, description = "Only rows concerning this agency (admins; others: their own)"),
           ("limit" = Option<i64>, Query, description = "Default 100", minimum = 1, maximum = 1000),
           ("before" = Option<i64>, Query, description = "Rows with a smaller id (paging)")),
    responses((status = 200, description = "Newest first", content_type = "application/json"),
              (status = 400, description = "A parameter is malformed or out of range (RFC 9457 problem naming it)", body = Problem, content_type = "application/problem+json"), (status = 401, description = "No API key, or one unknown, revoked or expired", body = Problem, content_type = "application/problem+json"), (status = 403, description = "Another agency's rows", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Database unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json")))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Authorized,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Vec<AuditRow>>> {
    let mut agency = None;
    let mut limit = 100_i64;
    let mut before = i64::MAX;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "agency" => agency = Some(value.into_owned()),
            "limit" => {
                limit = super::page_limit(&value, 1000)?;
            }
            "before" => {
                before = value
                    .parse()
                    .map_err(|_| ApiError::param("before", "must be a row id"))?;
            }
            "key" => {}
            other => return Err(ApiError::param(other.to_owned(), "unknown parameter")),
        }
    }
    // An agency reads the rows concerning it and those its keys made.
    let own = (!caller.agent.admin).then(|| caller.agent.agency.to_string());
    if let (Some(own), Some(asked)) = (&own, &agency)
        && own != asked
    {
        return Err(ApiError::Forbidden(format!(
            "a key of agency {own:?} reads its own audit rows only"
        )));
    }
    let rows = sqlx::query_as(
        "SELECT id, at, actor_agency, actor_key_id, actor, origin, action, agency, target, details \
         FROM bando.audit_log \
         WHERE id < $1 AND ($2::text IS NULL OR agency = $2) \
           AND ($3::text IS NULL OR agency = $3 OR actor_agency = $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(before)
    .bind(agency)
    .bind(own)
    .bind(limit)
    .fetch_all(state.db()?)
    .await?;
    Ok(Json(rows))
}
