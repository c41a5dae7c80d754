//! The consent page (OpenID Core §3.1.2.4), and the interaction lookup it
//! shares with the login page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::flow;
use super::request::{AuthorizationRequest, Rejection};
use crate::error::OAuthError;
use crate::http::cookies;
use crate::http::extract::Form;
use crate::http::headers::allow_form_redirect_to;
use crate::pages::{self, ConsentPage};
use crate::secrets::{constant_time_eq, token_hash};
use crate::session;
use crate::state::AppState;
use crate::store::clients::{self, Client};
use crate::store::consents;
use crate::store::interactions::{self, Interaction};

/// A pending interaction, checked to belong to this browser.
pub struct Pending {
    pub interaction: Interaction,
    pub client: Client,
    pub request: AuthorizationRequest,
}

fn expired() -> Response {
    pages::error(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in page is no longer valid. Go back to the application and start again.",
        None,
    )
}

pub async fn load_pending(
    state: &AppState,
    headers: &HeaderMap,
    id: Option<&str>,
) -> Result<Pending, Response> {
    let Some(id) = id else { return Err(expired()) };
    // Our interaction ids are short base64url strings; anything else (a NUL
    // byte would even fail on PostgreSQL) cannot name one.
    let well_formed = id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(expired());
    }
    let found = interactions::find_live(&state.db, id, state.now()).await;
    let interaction = match found {
        Ok(Some(i)) => i,
        Ok(None) => return Err(expired()),
        Err(e) => return Err(flow::reject(state, Rejection::from(e))),
    };
    // The interaction must have been started by this browser.
    let bound = cookies::read(&state.config, headers, cookies::BROWSER)
        .is_some_and(|b| constant_time_eq(&token_hash(b), &interaction.browser_hash));
    if !bound {
        return Err(expired());
    }
    let request: AuthorizationRequest = match serde_json::from_str(&interaction.request) {
        Ok(r) => r,
        Err(e) => return Err(flow::reject(state, Rejection::from(anyhow::Error::from(e)))),
    };
    let client = match clients::find(&state.db, &interaction.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(expired()),
        Err(e) => return Err(flow::reject(state, Rejection::from(e))),
    };
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

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<InteractionQuery>, QueryRejection>,
) -> Response {
    let interaction = interaction_of(query);
    let pending = match load_pending(&state, &headers, interaction.as_deref()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let active = match session::current(&state, &headers).await {
        Ok(Some(a)) => a,
        Ok(None) => return expired(),
        Err(e) => return flow::reject(&state, e.into()),
    };
    // OpenID Core §3.1.2.4: the user must see everything being consented
    // to, so a scope without a description is shown by its name.
    let scopes = pending
        .request
        .scopes
        .iter()
        .map(|s| match pages::describe_scope(s) {
            Some(description) => description.to_owned(),
            None => format!("Use the \u{201c}{s}\u{201d} permission"),
        })
        .collect();
    let action = state.config.endpoint("/consent");
    let page = pages::render(
        StatusCode::OK,
        &ConsentPage {
            action: &action,
            client_id: &pending.client.id,
            username: &active.user.username,
            scopes,
            interaction: &pending.interaction.id,
            csrf_token: &pending.interaction.csrf_token,
        },
    );
    // Either answer is a redirect to the client.
    allow_form_redirect_to(page, Some(&pending.request.redirect_uri))
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form, OAuthError>,
) -> Response {
    let Ok(Form(form)) = form else {
        return expired();
    };
    let pending = match load_pending(&state, &headers, form.get("interaction")).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !csrf_ok(&pending, form.get("csrf_token")) {
        tracing::warn!(client_id = %pending.client.id, "consent form with a bad CSRF token");
        return expired();
    }
    let active = match session::current(&state, &headers).await {
        Ok(Some(a))
            if pending
                .interaction
                .session_id
                .as_deref()
                .is_none_or(|sid| sid == a.session.id) =>
        {
            a
        }
        Ok(_) => return expired(),
        Err(e) => return flow::reject(&state, e.into()),
    };
    let req = &pending.request;
    let finished = interactions::take(&state.db, &pending.interaction.id).await;
    match finished {
        Ok(true) => {}
        Ok(false) => return expired(),
        Err(e) => return flow::reject(&state, e.into()),
    }
    // HTML §4.10.21.2: implicit submission (Enter) sends the first button,
    // "approve"; a form sent without any button value is read the same way.
    // Only an explicit other answer is a refusal.
    if !matches!(form.get("decision"), None | Some("approve")) {
        // OpenID Core §3.1.2.6: the user said no.
        return flow::reject(
            &state,
            Rejection::Redirect {
                redirect_uri: req.redirect_uri.clone(),
                state: req.state.clone(),
                error: OAuthError::AccessDenied("the user denied access".into()),
            },
        );
    }
    let now = state.now();
    if let Err(e) = consents::grant(
        &state.db,
        &active.user.id,
        &pending.client.id,
        &req.scopes,
        now,
    )
    .await
    {
        return flow::reject(&state, e.into());
    }
    match flow::complete(&state, &pending.client, req, &active).await {
        Ok(r) => r,
        Err(e) => flow::reject(&state, e.into()),
    }
}
