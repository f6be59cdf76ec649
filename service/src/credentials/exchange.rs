//! Vending (`POST /api/v1/credentials/exchange`): an exchange is first admitted under the key's
//! rate limit and then the customer's ([`admit`], 429), and, once its request is read, vended
//! when the customer can pay ([`vend`], 402).
//!
//! The standing comes from the auth cache; a cached "cannot pay" is checked again in the
//! database before refusing, so a customer who just got credits is never refused.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::token::{Claims, sign_credential};
use crate::api_keys::cache::{AuthenticatedKey, current_standing};
use crate::error::ApiError;
use crate::fixes::NO_CREDITS_NO_PAYMENT_METHOD;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VendedCredential {
    pub provider: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VendedCredentials {
    pub credentials: Vec<VendedCredential>,
    pub expires_at: DateTime<Utc>,
}

/// Admits an exchange by `caller` under the key's rate limit, then the customer's (429): checked
/// before the request is read, so that a flood of bad requests is limited too.
pub fn admit(state: &AppState, caller: &AuthenticatedKey) -> Result<(), ApiError> {
    let vending = &state.credentials;
    let now = Instant::now();
    vending
        .limiter()
        .try_acquire(caller.key_id, now)
        .map_err(|retry_after| ApiError::rate_limited(&state.metrics, "credentials_key", retry_after))?;
    if let Err(retry_after) = vending.customer_limiter().try_acquire(caller.customer, now) {
        vending.limiter().give_back(&caller.key_id);
        return Err(ApiError::rate_limited(&state.metrics, "credentials_customer", retry_after));
    }
    Ok(())
}

/// Vends `caller` one credential per provider, each living `ttl_secs`; 402 when the customer
/// cannot pay. The standing comes from the auth cache; a cached "cannot pay" is checked again in
/// the database before refusing, so a customer who just got credits is never refused.
pub async fn vend(
    state: &AppState,
    caller: &AuthenticatedKey,
    providers: Vec<String>,
    ttl_secs: u64,
) -> Result<VendedCredentials, ApiError> {
    let vending = &state.credentials;
    if !caller.standing.can_pay() && !current_standing(&state.pool, caller.customer).await?.can_pay() {
        return Err(ApiError::PaymentRequired {
            code: "payment_required",
            message: NO_CREDITS_NO_PAYMENT_METHOD.into(),
        });
    }

    let issued_at = state.clock.now().timestamp();
    let expires = issued_at.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    let expires_at = DateTime::from_timestamp(expires, 0)
        .ok_or_else(|| ApiError::Internal(format!("credential expiry {expires} is out of range")))?;
    let credentials = providers
        .into_iter()
        .map(|provider| {
            let claims = Claims {
                customer: caller.customer,
                key_id: caller.key_id,
                provider,
                iat: issued_at,
                exp: expires,
                jti: Uuid::new_v4(),
            };
            let token = sign_credential(&claims, vending.signing_key());
            state.metrics.credential_vended(&claims.provider);
            VendedCredential { provider: claims.provider, token, expires_at }
        })
        .collect();
    Ok(VendedCredentials { credentials, expires_at })
}
