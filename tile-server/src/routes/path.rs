//! `Path`, axum's path extractor with its rejections as RFC 9457 problems: a path segment that
//! does not parse (`/v1/keys/abc`) or is not UTF-8 once decoded (`%FF`) is the client's mistake,
//! answered like any other bad parameter instead of axum's plain-text 400.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Path parameters, deserialised as with [`axum::extract::Path`].
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| ApiError::param("path", rejection.body_text()))
    }
}
