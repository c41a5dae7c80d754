//! The SSO session of the browser making a request (`current`, `sign_in`,
//! the CSRF token of its forms) and the account page. The hosted login page
//! that signs a user in is a step of `/authorize` (`oidc::authorize::login`);
//! sessions end through `crate::revocation::end_session`.

pub mod account;
pub mod admin;
pub mod csrf;
pub mod password;

use axum::http::HeaderMap;

use crate::http::cookies;
use crate::revocation::{self, EndReason};
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::sessions::{self, Session};
use crate::store::users::User;
use crate::tokens::liveness::Standing;

/// A session that still counts: not ended, within its lifetimes, of an
/// enabled user, and of the user's current token version (not from before a
/// "log out everywhere").
pub struct ActiveSession {
    pub session: Session,
    pub user: User,
}

/// The session row the browser's cookie names, whatever its state (ended,
/// expired).
pub async fn of_browser(state: &AppState, headers: &HeaderMap) -> anyhow::Result<Option<Session>> {
    let Some(cookie) = cookies::read(&state.config, headers, cookies::SESSION) else {
        return Ok(None);
    };
    Ok(sessions::find_by_cookie_hash(&state.db, &token_hash(cookie)).await?)
}

/// The browser's session, if it still counts: the session and its user
/// are one read.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> anyhow::Result<Option<ActiveSession>> {
    let Some(cookie) = cookies::read(&state.config, headers, cookies::SESSION) else {
        return Ok(None);
    };
    let found = sessions::find_by_cookie_hash_with_user(&state.db, &token_hash(cookie)).await?;
    Ok(found.and_then(|(session, user)| active(state, session, user)))
}

/// The session `sid`, if it still counts (see [`ActiveSession`]): the
/// authorization code exchange asks this of the session the code was
/// issued in.
pub async fn live(state: &AppState, sid: &str) -> Result<Option<ActiveSession>, sea_orm::DbErr> {
    let found = sessions::find_with_user(&state.db, sid).await?;
    Ok(found.and_then(|(session, user)| active(state, session, user)))
}

/// The one rule for whether a session counts; `user` is its user's row,
/// read with it.
fn active(state: &AppState, session: Session, user: User) -> Option<ActiveSession> {
    // An end committed by another instance counts as soon as the view
    // has it, even if this read raced it.
    if !session.is_active(state.now()) || state.revocations.session_ended(&session.id) {
        return None;
    }
    // A session is void like a token issued at its login (the user row read
    // here is current, whatever the view knows yet).
    if !Standing::of_user(&user).admits(session.user_version) {
        return None;
    }
    Some(ActiveSession { session, user })
}

/// The browser's User-Agent, shown in the session list.
pub fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// Sign `user` in on this browser once their password checked out. The same
/// user's session is re-authenticated (its `sid` kept, `auth_time` moved, as
/// prompt=login and max_age need); another user's session here ends first,
/// like any logout (its relying parties are told); otherwise a new session
/// starts. Either way the browser gets a fresh random cookie, so no cookie
/// value from before the login is ever promoted (session fixation, OWASP
/// ASVS 3.2.1). Returns the cookie to set.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    peer: std::net::IpAddr,
    user: User,
) -> anyhow::Result<(ActiveSession, axum::http::HeaderValue)> {
    let now = state.now();
    let cookie = crate::random::secret_token(state.rng.as_ref());
    let cfg = &state.config.sessions;
    let set = cookies::set(
        &state.config,
        cookies::SESSION,
        &cookie,
        Some(cfg.absolute_ttl.as_secs() as i64),
    );
    match current(state, headers).await? {
        Some(mut same) if same.user.id == user.id => {
            sessions::reauthenticated(&state.db, &same.session.id, &token_hash(&cookie), now)
                .await?;
            same.session.auth_time = now;
            return Ok((same, set));
        }
        Some(other) => {
            revocation::end_session(&state.revoker(), &other.session.id, EndReason::Replaced)
                .await?;
        }
        None => {}
    }
    let ip = peer.to_string();
    let session = sessions::insert(
        &state.db,
        sessions::NewSession {
            id: &crate::random::identifier(state.rng.as_ref()),
            cookie_hash: &token_hash(&cookie),
            user_id: &user.id,
            amr: "pwd",
            now,
            idle_ttl: cfg.idle_ttl.as_secs() as i64,
            absolute_ttl: cfg.absolute_ttl.as_secs() as i64,
            user_agent: user_agent(headers),
            ip: Some(&ip),
            user_version: user.token_version,
        },
    )
    .await?;
    Ok((ActiveSession { session, user }, set))
}
