//! The consent page (OpenID Core §3.1.2.4).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::flow;
use super::interaction::{InteractionQuery, Pending, csrf_ok, interaction_of, load_pending};
use crate::audit;
use crate::error::OAuthError;
use crate::http::headers::allow_form_redirect_to;
use crate::pages::{self, ConsentPage, PageError, PageForm};
use crate::session::{self, ActiveSession};
use crate::state::AppState;
use crate::store::{consents, interactions};

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<InteractionQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let interaction = interaction_of(query);
    let pending = load_pending(&state, &headers, interaction.as_deref()).await?;
    let active = session::current(&state, &headers)
        .await?
        .ok_or_else(PageError::sign_in_expired)?;
    if let Some(response) = login_first(&state, &pending, &active) {
        return Ok(response);
    }
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
    Ok(allow_form_redirect_to(
        page,
        Some(&pending.request.redirect_uri),
    ))
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    let pending = load_pending(&state, &headers, form.get("interaction")).await?;
    if !csrf_ok(&pending, form.get("csrf_token")) {
        tracing::warn!(client_id = %pending.client.id, "consent form with a bad CSRF token");
        return Err(PageError::sign_in_expired());
    }
    // The user who consents is the one who signed in during this
    // interaction, if anyone did.
    let active = session::current(&state, &headers)
        .await?
        .filter(|a| {
            pending
                .interaction
                .session_id
                .as_deref()
                .is_none_or(|sid| sid == a.session.id)
        })
        .ok_or_else(PageError::sign_in_expired)?;
    // The consent form carries the login page's CSRF token too: a POST
    // here must not skip a login this request demanded.
    if let Some(response) = login_first(&state, &pending, &active) {
        return Ok(response);
    }
    let req = &pending.request;
    if !interactions::take(&state.db, &pending.interaction.id).await? {
        return Err(PageError::sign_in_expired());
    }
    // HTML §4.10.21.2: implicit submission (Enter) sends the first button,
    // "approve"; a form sent without any button value is read the same way.
    // Only an explicit other answer is a refusal.
    let approved = matches!(form.get("decision"), None | Some("approve"));
    let entry = audit::Entry {
        actor: "user",
        action: "consent",
        subject: Some(active.user.id.clone()),
        client_id: Some(pending.client.id.clone()),
        outcome: if approved { "granted" } else { "denied" },
        detail: Some(req.scopes.tokens().join(" ")),
        ..audit::Entry::default()
    };
    audit::record(&state.db, state.now(), entry).await;
    if !approved {
        // OpenID Core §3.1.2.6: the user said no.
        return Ok(flow::reject(
            &state,
            req.refuse(OAuthError::AccessDenied("the user denied access".into())),
        ));
    }
    consents::grant(
        &state.db,
        &active.user.id,
        &pending.client.id,
        &req.scopes,
        state.now(),
    )
    .await?;
    Ok(flow::complete(&state, &pending.client, req, &active).await?)
}

/// OpenID Core §3.1.2.1: when the request demanded a (fresh) login that
/// this interaction has not had, the answer is the login page (or, for a
/// hint naming someone else than who signed in, an error to the client),
/// never consent. The decision is the authorization step's own
/// (`flow::login_required`), re-run for the interaction's state now.
fn login_first(state: &AppState, pending: &Pending, active: &ActiveSession) -> Option<Response> {
    let fresh = flow::fresh_login(&pending.interaction, active);
    match flow::login_required(&pending.request, Some(active), state.now(), fresh) {
        Ok(false) => None,
        Ok(true) => {
            tracing::warn!(client_id = %pending.client.id, "consent before a demanded login");
            let login = format!("/login?interaction={}", pending.interaction.id);
            Some(Redirect::to(&state.config.endpoint(&login)).into_response())
        }
        Err(error) => Some(flow::reject(state, pending.request.refuse(error))),
    }
}
