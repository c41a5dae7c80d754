//! An authorization request in flight between the login and consent pages:
//! the server-side interaction, checked to belong to this browser, and the
//! CSRF token its forms carry.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::HeaderMap;
use serde::Deserialize;

use super::request::AuthorizationRequest;
use crate::http::cookies;
use crate::pages::PageError;
use crate::secrets::{constant_time_eq, token_hash};
use crate::state::AppState;
use crate::store::clients::{self, Client};
use crate::store::interactions::{self, Interaction};

/// A pending interaction, checked to belong to this browser.
pub struct Pending {
    pub interaction: Interaction,
    pub client: Client,
    pub request: AuthorizationRequest,
}

/// The interaction named by a page, if it is live and was started by this
/// browser; otherwise the "sign-in expired" page.
pub async fn load_pending(
    state: &AppState,
    headers: &HeaderMap,
    id: Option<&str>,
) -> Result<Pending, PageError> {
    let expired = PageError::sign_in_expired;
    let id = id.ok_or_else(expired)?;
    // Our interaction ids are short base64url strings; anything else (a NUL
    // byte would even fail on PostgreSQL) cannot name one.
    let well_formed = id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(expired());
    }
    let interaction = interactions::find_live(&state.db, id, state.now())
        .await?
        .ok_or_else(expired)?;
    // The interaction must have been started by this browser.
    let bound = cookies::read(&state.config, headers, cookies::BROWSER)
        .is_some_and(|b| constant_time_eq(&token_hash(b), &interaction.browser_hash));
    if !bound {
        return Err(expired());
    }
    let request: AuthorizationRequest =
        serde_json::from_str(&interaction.request).map_err(anyhow::Error::from)?;
    let client = clients::find(&state.db, &interaction.client_id)
        .await?
        .ok_or_else(expired)?;
    Ok(Pending {
        interaction,
        client,
        request,
    })
}

/// Form posts carry the interaction's CSRF token.
pub fn csrf_ok(pending: &Pending, presented: Option<&str>) -> bool {
    presented.is_some_and(|t| constant_time_eq(t, &pending.interaction.csrf_token))
}

#[derive(Deserialize)]
pub struct InteractionQuery {
    pub interaction: Option<String>,
}

/// The `interaction` of a page's query; a malformed query (e.g. a repeated
/// parameter, RFC 6749 §3.1) names none, so it gets the hosted error page
/// rather than a bare framework rejection.
pub fn interaction_of(query: Result<Query<InteractionQuery>, QueryRejection>) -> Option<String> {
    query.ok().and_then(|Query(q)| q.interaction)
}
