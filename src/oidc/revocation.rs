//! Token revocation (RFC 7009) at `POST /revoke`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::OAuthError;
use crate::http::extract::Params;
use crate::http::headers::no_store;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::revocation::{self, GrantReason, Initiator, SingleToken};
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants;
use crate::tokens::access_token::looks_like_jwt;
use crate::tokens::validate::{VerifiedJwt, verified_jwt};

/// `POST /revoke`. RFC 7009 §2.1: the client authenticates as at the token
/// endpoint (the same [`AuthenticatedClient`], disabled clients included).
pub async fn revoke(
    State(state): State<AppState>,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Response {
    match handle(&state, &client, &params).await {
        // RFC 7009 §2.2: 200 whether or not anything was revoked.
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, client: &Client, params: &Params) -> Result<(), OAuthError> {
    let token = params.require("token")?;
    // RFC 7009 §2.1: the hint only orders the search; both kinds are tried.
    // Unknown hint values are not an error for us since we search all kinds.
    let refresh_first = params.get("token_type_hint") == Some("refresh_token");
    if looks_like_jwt(token) {
        return revoke_jwt(state, client, token).await;
    }
    if refresh_first {
        if !revoke_refresh(state, client, token).await? {
            revoke_opaque_access(state, client, token).await?;
        }
    } else if !revoke_opaque_access(state, client, token).await? {
        revoke_refresh(state, client, token).await?;
    }
    Ok(())
}

/// A JWT access token cannot be recalled; its `jti` goes on the revocation
/// list until the token's own expiry.
async fn revoke_jwt(state: &AppState, client: &Client, token: &str) -> Result<(), OAuthError> {
    let Some(VerifiedJwt { claims, .. }) = verified_jwt(state, token, true) else {
        tracing::info!(client_id = %client.id, "revocation of an unknown token ignored");
        return Ok(());
    };
    // RFC 7009 §2.1: a client may only revoke its own tokens; for anyone
    // else's, nothing happens and nothing is said (§2.2).
    if claims.client_id != client.id {
        tracing::info!(client_id = %client.id, "revocation of another client's token ignored");
        return Ok(());
    }
    // An expired token needs no entry (`revoke_token` skips it).
    let s = state.clone();
    state
        .commits
        .run_then(move |txn| {
            Box::pin(async move {
                let mut tx = revocation::Transaction::in_batch(s.revoker(), txn);
                tx.revoke_token(SingleToken::Jwt {
                    jti: &claims.jti,
                    client_id: &claims.client_id,
                    user_id: claims.user_id(),
                    expires_at: claims.exp,
                })
                .await?;
                Ok(((), tx.finish().await?.after_commit()))
            })
        })
        .await?;
    Ok(())
}

async fn revoke_opaque_access(
    state: &AppState,
    client: &Client,
    token: &str,
) -> Result<bool, OAuthError> {
    let hash = token_hash(token);
    let Some(row) = grants::find_access_token(&state.db, &hash).await? else {
        return Ok(false);
    };
    if row.client_id == client.id {
        let s = state.clone();
        state
            .commits
            .run_then(move |txn| {
                Box::pin(async move {
                    let mut tx = revocation::Transaction::in_batch(s.revoker(), txn);
                    tx.revoke_access_row(&row).await?;
                    Ok(((), tx.finish().await?.after_commit()))
                })
            })
            .await?;
    }
    Ok(true)
}

/// RFC 7009 §2.1: revoking a refresh token also invalidates the access
/// tokens of the same grant; here the whole family goes.
async fn revoke_refresh(
    state: &AppState,
    client: &Client,
    token: &str,
) -> Result<bool, OAuthError> {
    let Some(row) = grants::find_refresh_token(&state.db, &token_hash(token)).await? else {
        return Ok(false);
    };
    if row.client_id == client.id {
        let s = state.clone();
        state
            .commits
            .run_then(move |txn| {
                Box::pin(async move {
                    let mut tx = revocation::Transaction::in_batch(s.revoker(), txn);
                    tx.revoke_grant(&row.grant_id, GrantReason::Revoked, Initiator::Client)
                        .await?;
                    Ok(((), tx.finish().await?.after_commit()))
                })
            })
            .await?;
    }
    Ok(true)
}
