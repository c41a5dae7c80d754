//! The authorization endpoint (RFC 6749 §3.1, OpenID Core §3.1.2): validate
//! the request, then either answer at once (SSO session, consent on record)
//! or send the browser through the login and consent pages.

pub mod consent;
pub mod flow;
pub mod interaction;
pub mod login;
pub mod request;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::http::client_addr::ClientAddr;
use crate::http::cookies;
use crate::http::extract::QueryOrForm;
use crate::pages::PageError;
use crate::state::AppState;

pub use request::{AuthorizationRequest, Rejection};

/// `GET|POST /authorize` (OpenID Core §3.1.2.1: both methods are required).
pub async fn authorize(
    State(state): State<AppState>,
    ClientAddr(peer): ClientAddr,
    method: Method,
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
    // A relying party may send the request as a cross-site form POST; the
    // browser then withholds a SameSite=Lax session cookie (RFC 6265bis
    // §5.2.1; the cookie is Lax under an http issuer, and a browser may not
    // support SameSite=None), and the user would be asked to sign in although
    // signed in. The same request as a top-level GET carries the cookie, so a
    // POST without one is repeated as a GET (303, RFC 9110 §15.4.4); it was
    // validated above, so only a registered client's request is bounced.
    if method == Method::POST && !cookies::present(&state.config, &headers, cookies::SESSION) {
        tracing::debug!(client_id = %client.id, "POST /authorize without a session cookie, repeated as GET");
        let target = format!(
            "{}?{}",
            state.config.endpoint("/authorize"),
            params.to_urlencoded()
        );
        let mut response = Redirect::to(&target).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    flow::begin(&state, &headers, peer, &client, request).await
}
