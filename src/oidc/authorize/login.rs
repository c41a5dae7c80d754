//! The hosted login page, a step of `/authorize`. Credentials are checked with argon2id under
//! the brute-force policy (`crate::throttle`); every failure shows the same
//! message, so the page does not reveal which usernames exist.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::flow;
use super::interaction::{InteractionQuery, Pending, csrf_ok, interaction_of, load_pending};
use crate::http::client_addr::ClientAddr;
use crate::http::headers::allow_form_redirect_to;
use crate::pages::{self, LoginPage, PageError, PageForm};
use crate::session;
use crate::session::password;
use crate::state::AppState;

fn login_page(
    state: &AppState,
    status: StatusCode,
    pending: &Pending,
    username: &str,
    error: Option<&str>,
) -> Response {
    let action = state.config.endpoint("/login");
    let page = pages::render(
        status,
        &LoginPage {
            action: &action,
            client_id: &pending.client.id,
            interaction: &pending.interaction.id,
            csrf_token: &pending.interaction.csrf_token,
            username,
            error,
        },
    );
    // The sign-in may be answered with a redirect to the client.
    allow_form_redirect_to(page, Some(&pending.request.redirect_uri))
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<InteractionQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let interaction = interaction_of(query);
    let pending = load_pending(&state, &headers, interaction.as_deref()).await?;
    // OpenID Core §3.1.2.1: login_hint pre-fills the username.
    let hint = pending.request.login_hint.clone().unwrap_or_default();
    Ok(login_page(&state, StatusCode::OK, &pending, &hint, None))
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    let pending = load_pending(&state, &headers, form.get("interaction")).await?;
    if !csrf_ok(&pending, form.get("csrf_token")) {
        tracing::warn!(client_id = %pending.client.id, "login form with a bad CSRF token");
        return Err(PageError::sign_in_expired());
    }
    let username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let refused = |status, message: &str| {
        tracing::info!(client_id = %pending.client.id, %status, "failed sign-in");
        login_page(&state, status, &pending, username, Some(message))
    };
    let user = match password::sign_in_user(&state, username, password, peer, refused).await? {
        Ok(user) => user,
        Err(page) => return Ok(page),
    };

    let now = state.now();
    let (active, set_cookie) = session::sign_in(&state, &headers, peer, user).await?;
    tracing::info!(client_id = %pending.client.id, sid = %active.session.id, "signed in");
    // `flow::proceed` records the login on the interaction if the request
    // goes on to the consent page.
    let mut interaction = pending.interaction.clone();
    interaction.session_id = Some(active.session.id.clone());
    interaction.login_completed_at = Some(now);
    let mut response = flow::proceed(
        &state,
        &headers,
        &pending.client,
        pending.request.clone(),
        Some(&interaction),
        Some(active),
    )
    .await;
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie);
    Ok(response)
}
