//! The client_credentials grant (RFC 6749 §4.4): a confidential client acting
//! for itself. No user, so no ID token and no refresh token (§4.4.3).

use super::issue::{self, Lifetimes, TokenResponse};
use crate::error::OAuthError;
use crate::scope::Scope;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::tokens::access_token::{self, NewAccessToken};
use crate::tokens::claims::USER_SCOPES;
use crate::tokens::liveness::IssuedUnder;

pub async fn grant(
    state: &AppState,
    client: &Client,
    scope: Option<&str>,
    resource: Option<&str>,
    dpop: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4.2: only confidential clients.
    if client.is_public() {
        return Err(OAuthError::UnauthorizedClient(
            "public clients cannot use client_credentials".into(),
        ));
    }
    // Scopes about a user make no sense without one.
    let allowed = client.scopes.filter(|s| !USER_SCOPES.contains(&s));
    let scope = match scope {
        // RFC 6749 §3.3: without a scope, the registered default applies.
        None => allowed,
        Some(requested) => {
            // RFC 6749 §3.3: a scope is at least one well-formed scope token.
            let requested = Scope::parse(requested)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| OAuthError::InvalidScope("the scope is malformed".into()))?;
            if let Some(bad) = requested.first_outside(&allowed) {
                return Err(OAuthError::InvalidScope(
                    format!("scope {bad} is not available to this client").into(),
                ));
            }
            requested
        }
    };
    let audience = issue::audience(&state.config, client, resource)?;
    let now = state.now();
    let ttl = Lifetimes::of(state, client).access;
    let (token, row) = access_token::mint(
        state,
        &NewAccessToken {
            grant_id: None,
            client,
            user_id: None,
            session_id: None,
            scope: &scope,
            audience: &audience,
            auth_time: None,
            now,
            ttl,
            // The client was read (and found enabled) by this request.
            issued_under: IssuedUnder {
                user: 0,
                client: client.token_version,
            },
            jkt: dpop,
        },
    )?;
    // An opaque token is valid through its row: answered only once the row
    // is committed (with the other requests' rows of the same batch).
    if let Some(row) = row {
        state.commits.insert_access_token(row).await?;
    }
    Ok(TokenResponse {
        access_token: token,
        token_type: access_token::token_type(dpop).into(),
        expires_in: ttl,
        scope: scope.to_string(),
        refresh_token: None,
        id_token: None,
    })
}
