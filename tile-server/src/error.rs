//! The one error type at the HTTP edge, rendered as RFC 9457 `application/problem+json`.
//! Client mistakes name the parameter at fault; server faults get a generic body and the detail
//! goes to the log only.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db_breaker::DatabaseUnreachable;

/// Seconds a client is told to wait when the database is unavailable.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// Seconds a client is told to wait while the database is known to be down.
pub const DOWN_RETRY_AFTER_SECONDS: u64 = 1;

/// Everything a handler can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// A path or query parameter is malformed or out of range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParam {
        /// The parameter (`z`, `x`, `y`, `format`, ...).
        name: String,
        /// Why.
        reason: String,
    },
    /// The addressed resource does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The resource exists but does not answer this method (the router adds `Allow`).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The API key presented is not valid (unknown, revoked or expired).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this (a namespace or scope it lacks).
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with the current state (a name taken, …).
    #[error("{0}")]
    Conflict(String),
    /// What was asked for existed once and is gone for good (a feed cursor older than what is
    /// kept).
    #[error("{0}")]
    Gone(String),
    /// The uploaded body is larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// Too many failed key attempts from this address; retry after the given seconds.
    #[error("too many invalid API keys from this address")]
    TooManyAttempts {
        /// Seconds until attempts are accepted again.
        retry_after: u64,
    },
    /// No room to store an upload (its folder's disk, or the database's, is full): the
    /// client may retry later; nothing was stored.
    #[error("{0}")]
    InsufficientStorage(String),
    /// The database is busy (a statement timed out, no connection free in time) or restarting.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database could not be reached: the circuit breaker is told (`db_breaker.rs`).
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// The database is known to be down (the circuit breaker is open): refused without trying.
    #[error("database down")]
    DatabaseDown,
    /// Anything else: a bug or an unexpected database error.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A parameter error. A query parameter without a name (`?=x`) is named `query`, so the
    /// problem still names something the client can find.
    pub fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        let (name, reason) = (name.into(), reason.into());
        if name.is_empty() {
            return Self::InvalidParam {
                name: "query".to_owned(),
                reason: format!("a parameter without a name: {reason}"),
            };
        }
        Self::InvalidParam { name, reason }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidParam { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Unavailable(_) | Self::Unreachable(_) | Self::DatabaseDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // No connection in time: the database may be gone, or the pool merely busy; the
            // breaker's probe tells which.
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unreachable(e.to_string())
            }
            // 57P01..57P03: the server is shutting down, crashed or starting.
            sqlx::Error::Database(ref d) if d.code().is_some_and(|c| c.starts_with("57P")) => {
                Self::Unreachable(e.to_string())
            }
            // 53100: disk_full, 53200: out_of_memory on the database's side.
            sqlx::Error::Database(ref d) if d.code().is_some_and(|c| c == "53100") => {
                Self::InsufficientStorage(
                    "the database has no room to store this now; retry later".to_owned(),
                )
            }
            // 57014: statement_timeout — the database is up, the query too slow.
            sqlx::Error::Database(ref d) if d.code().is_some_and(|c| c == "57014") => {
                Self::Unavailable(e.to_string())
            }
            e => Self::Internal(e.to_string()),
        }
    }
}

impl From<bando_core::CoreError> for ApiError {
    fn from(e: bando_core::CoreError) -> Self {
        match e {
            bando_core::CoreError::Database(e) => e.into(),
            bando_core::CoreError::InvalidTile { field, reason } => Self::param(field, reason),
            e => Self::Internal(e.to_string()),
        }
    }
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Short summary of the type.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What happened here.
    pub detail: String,
    /// Parameters at fault (RFC 9457 §3.1 example extension).
    #[serde(rename = "invalid-params", skip_serializing_if = "Vec::is_empty")]
    pub invalid_params: Vec<InvalidParam>,
}

/// One parameter at fault.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvalidParam {
    /// Parameter name.
    pub name: String,
    /// Why it was rejected.
    pub reason: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (kind, title, detail, invalid_params) = match &self {
            Self::InvalidParam { name, reason } => (
                "/problems/invalid-parameter",
                "Invalid parameter",
                format!("{name}: {reason}"),
                vec![InvalidParam {
                    name: name.clone(),
                    reason: reason.clone(),
                }],
            ),
            Self::NotFound(what) => ("/problems/not-found", "Not found", what.clone(), vec![]),
            Self::MethodNotAllowed(what) => (
                "/problems/method-not-allowed",
                "Method not allowed",
                what.clone(),
                vec![],
            ),
            Self::Unauthorized(why) => (
                "/problems/unauthorized",
                "Invalid API key",
                why.clone(),
                vec![InvalidParam {
                    name: "key".to_owned(),
                    reason: why.clone(),
                }],
            ),
            Self::Forbidden(why) => ("/problems/forbidden", "Forbidden", why.clone(), vec![]),
            Self::Conflict(why) => ("/problems/conflict", "Conflict", why.clone(), vec![]),
            Self::Gone(why) => ("/problems/gone", "Gone", why.clone(), vec![]),
            Self::TooLarge(why) => (
                "/problems/too-large",
                "Payload too large",
                why.clone(),
                vec![InvalidParam {
                    name: "file".to_owned(),
                    reason: why.clone(),
                }],
            ),
            Self::InsufficientStorage(why) => {
                tracing::warn!(%why, "no room to store an upload");
                (
                    "/problems/insufficient-storage",
                    "Insufficient storage",
                    why.clone(),
                    vec![],
                )
            }
            Self::TooManyAttempts { .. } => (
                "/problems/too-many-attempts",
                "Too many invalid API keys",
                "too many invalid API keys from this address; retry later".to_owned(),
                vec![],
            ),
            Self::Unavailable(detail) | Self::Unreachable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                (
                    "/problems/unavailable",
                    "Service unavailable",
                    "the database is unavailable; retry shortly".to_owned(),
                    vec![],
                )
            }
            // Logged once by the breaker when it opens, not once per refused request.
            Self::DatabaseDown => (
                "/problems/unavailable",
                "Service unavailable",
                "the database is down; this request needs it and is refused until it is back"
                    .to_owned(),
                vec![],
            ),
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    "/problems/internal",
                    "Internal server error",
                    "an internal error occurred; it has been logged".to_owned(),
                    vec![],
                )
            }
        };
        let problem = Problem {
            kind,
            title,
            status: status.as_u16(),
            detail,
            invalid_params,
        };
        let mut response = (status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            Self::Unavailable(_) | Self::Unreachable(_) | Self::InsufficientStorage(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            // The breaker probes every quarter second: a second is enough to see it closed.
            Self::DatabaseDown => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(DOWN_RETRY_AFTER_SECONDS),
                );
            }
            Self::TooManyAttempts { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"bando\""),
                );
            }
            _ => {}
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(self, Self::Unreachable(_)) {
            // Seen by the breaker's middleware, which has the state to tell.
            response.extensions_mut().insert(DatabaseUnreachable);
        }
        response
    }
}

/// Result alias of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
