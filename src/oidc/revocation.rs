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
use crate::store::grants::{self, AnyToken};
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
    if looks_like_jwt(token) {
        return revoke_jwt(state, client, token).await;
    }
    // RFC 7009 §2.1: the hint only orders the search; both kinds are
    // searched at once (one statement; unknown hint values are no error).
    let refresh_first = params.get("token_type_hint") == Some("refresh_token");
    let hash = token_hash(token);
    let mut found = grants::find_any_token(&state.db, &hash).await?;
    found.sort_by_key(|t| matches!(t, AnyToken::Access { .. }) == refresh_first);
    let (owner, target) = match found.into_iter().next() {
        Some(AnyToken::Access {
            client_id,
            user_id,
            expires_at,
        }) => (
            client_id,
            Target::Access {
                hash,
                user_id,
                expires_at,
            },
        ),
        Some(AnyToken::Refresh {
            client_id,
            grant_id,
        }) => (client_id, Target::Grant { grant_id }),
        // RFC 7009 §2.2: an unknown token changes nothing and is not said.
        None => return Ok(()),
    };
    // RFC 7009 §2.1: a client may only revoke its own tokens; for anyone
    // else's, nothing happens and nothing is said (§2.2).
    if owner != client.id {
        tracing::info!(client_id = %client.id, "revocation of another client's token ignored");
        return Ok(());
    }
    revoke_in_batch(state, owner, target).await
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
    revocation::revoke_token(
        &state.revoker(),
        SingleToken::Jwt {
            jti: &claims.jti,
            client_id: &claims.client_id,
            user_id: claims.user_id(),
            expires_at: claims.exp,
        },
    )
    .await?;
    Ok(())
}

/// What an opaque token's revocation takes away.
enum Target {
    /// One access token.
    Access {
        hash: String,
        user_id: Option<String>,
        expires_at: i64,
    },
    /// RFC 7009 §2.1: revoking a refresh token also invalidates the access
    /// tokens of the same grant; here the whole family goes.
    Grant { grant_id: String },
}

/// Revoke through the group committer: the events reach this instance's
/// view after the commit and before the answer.
async fn revoke_in_batch(
    state: &AppState,
    owner: String,
    target: Target,
) -> Result<(), OAuthError> {
    let s = state.clone();
    state
        .commits
        .run_then(move |txn| {
            Box::pin(async move {
                let mut tx = revocation::Transaction::in_batch(s.revoker(), txn);
                match &target {
                    Target::Access {
                        hash,
                        user_id,
                        expires_at,
                    } => {
                        tx.revoke_access(hash, &owner, user_id.as_deref(), *expires_at)
                            .await?
                    }
                    Target::Grant { grant_id } => {
                        tx.revoke_grant(grant_id, GrantReason::Revoked, Initiator::Client)
                            .await?
                    }
                };
                Ok(((), tx.finish().await?.after_commit()))
            })
        })
        .await?;
    Ok(())
}
