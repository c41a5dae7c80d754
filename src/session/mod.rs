//! The SSO session of the browser making a request, and the hosted login
//! page that creates it.

pub mod account;
pub mod admin;
pub mod csrf;
pub mod end;
pub mod login;

use axum::http::HeaderMap;

use crate::http::cookies;
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::sessions::{self, Session};
use crate::store::users::{self, User};

/// A session that still counts: not ended, within its lifetimes, of an
/// enabled user, and not older than the user's last "log out everywhere".
pub struct ActiveSession {
    pub session: Session,
    pub user: User,
}

pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> anyhow::Result<Option<ActiveSession>> {
    let Some(cookie) = cookies::read(headers, cookies::SESSION) else {
        return Ok(None);
    };
    let Some(session) = sessions::find_by_cookie_hash(&state.db, &token_hash(cookie)).await? else {
        return Ok(None);
    };
    let now = state.now();
    if !session.is_active(now) {
        return Ok(None);
    }
    let Some(user) = users::find(&state.db, &session.user_id).await? else {
        return Ok(None);
    };
    if user.disabled || session.created_at < user.tokens_valid_after {
        return Ok(None);
    }
    Ok(Some(ActiveSession { session, user }))
}

/// The browser's User-Agent, shown in the session list.
pub fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}
