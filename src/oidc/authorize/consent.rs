//! The consent page (OpenID Core §3.1.2.4).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::flow;
use super::interaction::{InteractionQuery, csrf_ok, expired, interaction_of, load_pending};
use super::request::Rejection;
use crate::error::OAuthError;
use crate::http::extract::Form;
use crate::pages::{self, ConsentPage};
use crate::session;
use crate::state::AppState;
use crate::store::{consents, interactions};

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
    pages::render(
        StatusCode::OK,
        &ConsentPage {
            action: &action,
            client_id: &pending.client.id,
            username: &active.user.username,
            scopes,
            interaction: &pending.interaction.id,
            csrf_token: &pending.interaction.csrf_token,
        },
    )
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
