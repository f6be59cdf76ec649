//! Who a request is from: the API key it presents, as `Authorization: Bearer <key>` or
//! `x-api-key: <key>`, looked up through the auth cache ([`crate::api_keys::cache`]).
//!
//! [`Authenticated`] is the customer and key a request authenticated as; a handler that needs
//! the customer's billing standing too takes [`AuthenticatedKey`] instead. Either is a 401
//! without a key, or with an unknown or revoked one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::api_keys::cache::AuthenticatedKey;
use crate::api_keys::{KEY_PREFIX, key_hash};
use crate::domain::CustomerId;
use crate::error::ApiError;
use crate::state::AppState;

/// The customer (and key) a request authenticated as.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    pub customer: CustomerId,
    pub key_id: Uuid,
}

const MISSING_KEY: &str = "no API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`";
const UNKNOWN_KEY: &str =
    "the API key is not valid or has been revoked: create a new one, or sign up with POST /api/v1/customers";

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = AuthenticatedKey::from_request_parts(parts, state).await?;
        Ok(Authenticated { customer: key.customer, key_id: key.key_id })
    }
}

/// The fuller answer (with the customer's billing standing), for handlers that need it.
impl FromRequestParts<AppState> for AuthenticatedKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = presented_key(parts).ok_or_else(|| ApiError::Unauthorized(MISSING_KEY.into()))?;
        if !secret.starts_with(KEY_PREFIX) {
            return Err(ApiError::Unauthorized(UNKNOWN_KEY.into()));
        }
        state
            .api_key_cache
            .authenticate(&state.pool, &key_hash(secret))
            .await?
            .ok_or_else(|| ApiError::Unauthorized(UNKNOWN_KEY.into()))
    }
}

fn presented_key(parts: &Parts) -> Option<&str> {
    let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(authorization) = header("authorization") {
        let (scheme, token) = authorization.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty());
    }
    header("x-api-key").map(str::trim).filter(|key| !key.is_empty())
}
