//! Callers: the API key a request carries (`Authorization: Bearer …`, or `?key=…` for map clients
//! that cannot set headers), checked against the keys in force, into the [`Viewer`] every handler
//! answers for. No key is an anonymous caller (public layers only); a key that is not valid is a
//! 401, never a silent downgrade. Unknown keys are counted per client address and refused with
//! 429 past [`MAX_FAILED_ATTEMPTS`] a minute, so keys cannot be guessed online.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use bando_core::access::{AccessSnapshot, Agent, KeyRejection, Viewer};
use bando_core::audit::Actor;
use sqlx::PgPool;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Invalid keys one address may present per [`FAILURE_WINDOW`].
pub const MAX_FAILED_ATTEMPTS: u32 = 10;
/// Window of the failed-attempt count.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The keys and grants in force, and the failed attempts per address.
#[derive(Debug)]
pub struct AccessControl {
    snapshot: RwLock<Arc<AccessSnapshot>>,
    failures: moka::sync::Cache<IpAddr, Arc<AtomicU32>>,
}

impl Default for AccessControl {
    fn default() -> Self {
        Self {
            snapshot: RwLock::default(),
            failures: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(FAILURE_WINDOW)
                .build(),
        }
    }
}

impl AccessControl {
    /// Reloads keys and grants from the database.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), bando_core::CoreError> {
        let snapshot = AccessSnapshot::load(pool).await?;
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(snapshot);
        Ok(())
    }

    /// The viewer a request with `token` (if any) from `client` is answered for.
    pub fn viewer(&self, token: Option<&str>, client: Option<IpAddr>) -> ApiResult<Viewer> {
        let Some(token) = token else {
            return Ok(Viewer::ANONYMOUS);
        };
        let failures = client.map(|ip| self.failures.get_with(ip, Arc::default));
        if failures
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed) >= MAX_FAILED_ATTEMPTS)
        {
            return Err(ApiError::TooManyAttempts {
                retry_after: FAILURE_WINDOW.as_secs(),
            });
        }
        let snapshot = self
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match snapshot.authenticate(token, chrono::Utc::now()) {
            Ok(agent) => Ok(Viewer { agent: Some(agent) }),
            Err(rejection) => {
                // Guesses are what is limited: a revoked or expired key is a real key.
                if rejection == KeyRejection::Unknown
                    && let Some(f) = failures
                {
                    f.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(client = ?client, reason = rejection.reason(), "API key refused");
                Err(ApiError::Unauthorized(rejection.reason().to_owned()))
            }
        }
    }
}

/// The caller of a request, as an extractor.
#[derive(Debug, Clone)]
pub struct Caller(pub Viewer);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = presented_key(parts)?;
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        state.access.viewer(token.as_deref(), client).map(Caller)
    }
}

/// The key in `Authorization: Bearer` or the `key` query parameter.
fn presented_key(parts: &Parts) -> ApiResult<Option<String>> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization must be `Bearer <API key>`".to_owned())
            })?;
        return Ok(Some(token.to_owned()));
    }
    Ok(parts.uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == "key")
            .map(|(_, value)| value.into_owned())
    }))
}

/// `?key=…` to append to URLs handed to a keyed client (tile URLs in TileJSON and styles), so
/// map libraries that cannot send headers keep the caller's access.
pub fn key_query(viewer: &Viewer) -> Option<String> {
    viewer.token().map(|t| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("key", t)
            .finish()
    })
}

/// A caller with a valid key, for the endpoints that change things: the key's holder and the
/// [`Actor`] the audit log records.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// What the caller may see.
    pub viewer: Viewer,
    /// The key's holder.
    pub agent: Agent,
    /// For the audit log.
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Caller(viewer) = Caller::from_request_parts(parts, state).await?;
        let agent = viewer.agent.clone().ok_or_else(|| {
            ApiError::Unauthorized(
                "this endpoint needs an API key (Authorization: Bearer <key>)".to_owned(),
            )
        })?;
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let actor = Actor {
            agency: Some(agent.agency.to_string()),
            key_id: Some(agent.key_id),
            name: format!("key {} of {}", agent.key_id, agent.agency),
            origin: client.unwrap_or_default(),
        };
        Ok(Self {
            viewer,
            agent,
            actor,
        })
    }
}

impl Authorized {
    /// Refuses callers without the admin scope.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.agent.admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this needs a key with the admin scope".to_owned(),
            ))
        }
    }

    /// Refuses callers who may not publish into or manage `agency`'s layers.
    pub fn require_manager_of(&self, agency: &str) -> ApiResult<()> {
        if self.viewer.can_manage(agency) {
            Ok(())
        } else if !self.agent.publish && !self.agent.admin {
            Err(ApiError::Forbidden(
                "this needs a key with the publish scope".to_owned(),
            ))
        } else {
            Err(ApiError::Forbidden(format!(
                "a key of agency {:?} cannot manage layers of agency {agency:?}",
                &*self.agent.agency
            )))
        }
    }
}

/// A JSON request body, or a 400 naming what is wrong with it. Text with a NUL character is
/// refused here: PostgreSQL cannot store it (it would fail as a server error later).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::param("body", e.to_string()))?;
    if let Some(field) = text_with_nul(&value, "body") {
        return Err(ApiError::param(
            field,
            "contains a NUL character (U+0000), which cannot be stored",
        ));
    }
    serde_json::from_value(value).map_err(|e| ApiError::param("body", e.to_string()))
}

/// The name of the first field of `value` holding a NUL character in its text (or its name).
fn text_with_nul(value: &serde_json::Value, at: &str) -> Option<String> {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(at.to_owned()),
        serde_json::Value::Array(items) => items.iter().find_map(|v| text_with_nul(v, at)),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(at.to_owned())
            } else {
                text_with_nul(v, k)
            }
        }),
        _ => None,
    }
}
