//! The device_code grant at the token endpoint (RFC 8628 §3.4–3.5): poll
//! answers until the user decides, then the tokens of the code flow, once.

use sea_orm::DatabaseTransaction;

use crate::error::OAuthError;
use crate::oidc::token::issue::TokenResponse;
use crate::oidc::token::redeem::{Redeemable, Redeemed, redeem_grant};
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::device_codes::{self, DeviceCode};

/// RFC 8628 §3.5: `slow_down` adds 5 seconds to the interval.
const SLOW_DOWN_STEP: i64 = 5;

fn bad_code() -> OAuthError {
    // The same words for unknown, used and foreign codes: a client learns
    // nothing about codes that are not its own.
    OAuthError::InvalidGrant("the device code is invalid or already used".into())
}

pub async fn exchange(
    state: &AppState,
    client: &Client,
    device_code: &str,
    resource: Option<&str>,
    dpop: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.now();
    let hash = token_hash(device_code);
    let Some(row) = device_codes::find(&state.db, &hash).await? else {
        return Err(bad_code());
    };
    // RFC 8628 §3.4: the code is bound to the client it was issued to.
    if row.client_id != client.id {
        tracing::warn!(client_id = %client.id, "client presented another client's device code");
        return Err(bad_code());
    }
    if row.consumed_at.is_some() {
        tracing::warn!(client_id = %client.id, "device code used again");
        return Err(bad_code());
    }
    // RFC 8628 §3.5: expired_token once the code's lifetime is over.
    if row.expires_at <= now {
        return Err(OAuthError::ExpiredToken);
    }
    match row.status.as_str() {
        device_codes::PENDING => Err(pending(state, &row, now).await?),
        // RFC 8628 §3.5: the user denied the request.
        device_codes::DENIED => Err(OAuthError::AccessDenied(
            "the user denied the request".into(),
        )),
        _ => redeem(state, client, &row, resource, dpop).await,
    }
}

/// RFC 8628 §3.5: `authorization_pending`, or `slow_down` for a poll that
/// came sooner than the interval after the last one (which then grows by 5
/// seconds for this and every later request).
async fn pending(state: &AppState, row: &DeviceCode, now: i64) -> Result<OAuthError, OAuthError> {
    let too_soon = row.last_polled_at.is_some_and(|t| now - t < row.interval);
    let interval = if too_soon {
        row.interval + SLOW_DOWN_STEP
    } else {
        row.interval
    };
    device_codes::record_poll(&state.db, &row.device_code_hash, interval, now).await?;
    Ok(if too_soon {
        tracing::info!(client_id = %row.client_id, interval, "device polls too fast");
        OAuthError::SlowDown
    } else {
        OAuthError::AuthorizationPending
    })
}

/// The approved code: the tokens the code flow would issue for the grant
/// the user made on /device, tied to their session the same way.
async fn redeem(
    state: &AppState,
    client: &Client,
    row: &DeviceCode,
    resource: Option<&str>,
    dpop: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.now();
    let grant_id = row.grant_id.as_deref().ok_or_else(bad_code)?;
    let redeemable = Redeemable {
        client,
        grant_id,
        nonce: None,
        resource,
        dpop,
        invalid: bad_code,
        session_ended: "the session the device was approved in has ended",
    };
    let hash = row.device_code_hash.as_str();
    let consume =
        async |txn: &DatabaseTransaction| Ok(device_codes::consume(txn, hash, now).await?);
    match redeem_grant(state, redeemable, consume).await? {
        Redeemed::Tokens(response) => {
            tracing::info!(client_id = %client.id, grant_id, "device code exchanged");
            Ok(response)
        }
        // RFC 8628 §3.5: a device code is used once.
        Redeemed::NotConsumed => Err(bad_code()),
    }
}
