//! The device_code grant at the token endpoint (RFC 8628 §3.4–3.5): poll
//! answers until the user decides, then the tokens of the code flow, once.

use sea_orm::TransactionTrait;

use crate::error::OAuthError;
use crate::oidc::token::issue::{self, Lifetimes, TokenResponse, UserGrant};
use crate::scope::Scope;
use crate::secrets::token_hash;
use crate::session;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::device_codes::{self, DeviceCode};
use crate::store::{grants, users};
use crate::tokens::liveness::Standing;

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
    let grant = grants::find_grant(&state.db, grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(bad_code)?;
    // As for an authorization code: "log out everywhere", revoking the
    // client's tokens and disabling void an authorization made before them.
    if !Standing::of_client(client).admits(grant.client_version) {
        return Err(bad_code());
    }
    let user_id = grant.user_id.clone().ok_or_else(bad_code)?;
    let user = users::find(&state.db, &user_id)
        .await?
        .filter(|u| Standing::of_user(u).admits(grant.user_version))
        .ok_or_else(|| OAuthError::InvalidGrant("the user is no longer active".into()))?;
    // OpenID Core §3.1.3.3 and Back-Channel Logout §2.7: the ID token vouches
    // for a login in a live session.
    let session_live = match grant.session_id.as_deref() {
        Some(sid) => session::live(state, sid).await?.is_some(),
        None => false,
    };
    if !session_live {
        tracing::info!(client_id = %client.id, grant_id = %grant.id, "device code of an ended session");
        return Err(OAuthError::InvalidGrant(
            "the session the device was approved in has ended".into(),
        ));
    }
    let audience = issue::audience(&state.config, client, resource)?;
    let scope = Scope::from_stored(&grant.scope);
    let refresh_expires_at = issue::offers_refresh(client, &scope)
        .then(|| Lifetimes::of(state, client).refresh_expiry(now, grant.created_at));
    let minted = issue::mint_user_tokens(
        state,
        UserGrant {
            client,
            grant: &grant,
            user: &user,
            scope: &scope,
            audience: &audience,
            nonce: None,
            refresh_expires_at,
            dpop,
        },
    )?;
    let txn = state.db.begin().await?;
    // The conditional UPDATE first: exactly one redemption wins.
    if !device_codes::consume(&txn, &row.device_code_hash, now).await? {
        return Err(bad_code());
    }
    // A logout that ended the session meanwhile revoked the grant or took
    // the session from it.
    let still_valid = grants::find_grant(&txn, &grant.id)
        .await?
        .is_some_and(|g| g.revoked_at.is_none() && g.session_id.is_some());
    if !still_valid {
        return Err(bad_code());
    }
    let response = minted.persist(&txn).await?;
    txn.commit().await?;
    tracing::info!(client_id = %client.id, grant_id = %grant.id, "device code exchanged");
    Ok(response)
}
