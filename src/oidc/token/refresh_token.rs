//! The refresh_token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2): every refresh consumes the presented token; presenting
//! a consumed one revokes the whole family.

use sea_orm::TransactionTrait;

use super::issue::{self, TokenResponse, UserGrant};
use crate::error::OAuthError;
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::{self, Redemption};
use crate::store::users;
use crate::tokens::{join_scope, parse_scope};

fn bad_token() -> OAuthError {
    OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".into())
}

pub async fn refresh(
    state: &AppState,
    client: &Client,
    presented: &str,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.now();
    let hash = token_hash(presented);
    let txn = state.db.begin().await?;
    // Check ownership before consuming, so another client cannot burn it.
    let Some(current) = grants::find_refresh_token(&txn, &hash).await? else {
        return Err(bad_token());
    };
    if current.client_id != client.id {
        tracing::warn!(client_id = %client.id, "client presented another client's refresh token");
        return Err(bad_token());
    }
    if current.revoked_at.is_some() || current.expires_at <= now {
        return Err(bad_token());
    }
    let row = match grants::consume_refresh_token(&txn, &hash, now).await? {
        Redemption::First(row) => row,
        Redemption::Replayed(row) => {
            grants::revoke_grant(&txn, &row.grant_id, now).await?;
            txn.commit().await?;
            tracing::warn!(client_id = %client.id, grant_id = %row.grant_id, "refresh token reuse detected; family revoked");
            return Err(bad_token());
        }
        Redemption::Unknown => return Err(bad_token()),
    };
    let grant = grants::find_grant(&txn, &row.grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(bad_token)?;
    let user = users::find(&txn, &row.user_id)
        .await?
        .filter(|u| !u.disabled && u.tokens_valid_after <= row.issued_at)
        .ok_or_else(bad_token)?;

    // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
    let granted = parse_scope(&row.scope);
    let scope = match scope {
        None => row.scope.clone(),
        Some(requested) => {
            let requested = parse_scope(requested);
            if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
                return Err(OAuthError::InvalidScope(
                    format!("scope {extra} was not granted").into(),
                ));
            }
            join_scope(&requested)
        }
    };
    let t = &state.config.tokens;
    let refresh_expires_at = Some(
        (now + t.refresh_token_idle_ttl.as_secs() as i64)
            .min(grant.created_at + t.refresh_token_absolute_ttl.as_secs() as i64),
    );
    let response = issue::user_tokens(
        state,
        &txn,
        UserGrant {
            client,
            grant: &grant,
            user: &user,
            // The family keeps the grant's scope; a narrower request narrows
            // only this response's access token.
            scope: &scope,
            nonce: None,
            refresh_expires_at,
        },
    )
    .await?;
    txn.commit().await?;
    tracing::info!(client_id = %client.id, grant_id = %grant.id, "refresh token rotated");
    Ok(response)
}
