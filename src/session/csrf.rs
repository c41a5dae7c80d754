//! CSRF protection for the logout confirmation and account forms: a
//! double-submit token. The form carries a random value that must equal a
//! cookie only this origin can set (`__Host-` under an https issuer, see
//! `http::cookies`). It needs no session, so it also protects the account
//! login form (login CSRF) and a confirmation page reached by a cross-site
//! POST.

use axum::http::{HeaderMap, HeaderValue};

use crate::http::cookies;
use crate::random::secret_token;
use crate::secrets::constant_time_eq;
use crate::state::AppState;

/// The token to put in a form, and the cookie to set when the browser has
/// none yet. An existing token is reused so that two open tabs both work.
pub fn token(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookies::read(&state.config, headers, cookies::CSRF) {
        Some(t) if t.len() >= 32 => (t.to_owned(), None),
        _ => {
            let t = secret_token(state.rng.as_ref());
            let c = cookies::set(&state.config, cookies::CSRF, &t, None);
            (t, Some(c))
        }
    }
}

/// Whether a submitted form's token matches this browser's cookie.
pub fn verify(state: &AppState, headers: &HeaderMap, presented: Option<&str>) -> bool {
    match (
        cookies::read(&state.config, headers, cookies::CSRF),
        presented,
    ) {
        (Some(cookie), Some(form)) if cookie.len() >= 32 => constant_time_eq(cookie, form),
        _ => false,
    }
}
