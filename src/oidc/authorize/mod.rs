//! The authorization endpoint (RFC 6749 §3.1, OpenID Core §3.1.2): validate
//! the request, then either answer at once (SSO session, consent on record)
//! or send the browser through the login and consent pages.

pub mod consent;
pub mod flow;
pub mod interaction;
pub mod login;
pub mod request;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::http::extract::QueryOrForm;
use crate::pages::PageError;
use crate::state::AppState;

pub use request::{AuthorizationRequest, Rejection};

/// `GET|POST /authorize` (OpenID Core §3.1.2.1: both methods are required).
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<QueryOrForm, crate::error::OAuthError>,
) -> Response {
    let params = match params {
        Ok(QueryOrForm(p)) => p,
        Err(e) => {
            let message = e
                .description()
                .unwrap_or("The request could not be read.")
                .to_owned();
            return PageError::bad_request("Invalid request", message)
                .with_code(e.code())
                .into_response();
        }
    };
    let (client, request) = match request::validate(&state, &params).await {
        Ok(v) => v,
        Err(rejection) => return flow::reject(&state, rejection),
    };
    flow::proceed(&state, &headers, &client, request, None, None).await
}
