//! The hosted account page (`/account`): the signed-in user's active
//! sessions (device, IP, last seen, applications), each of which can be
//! ended, or all at once. Ending goes through `revocation::end_session`, like
//! RP-initiated logout, so relying parties are notified. Without a session
//! the page offers its own sign-in form. Every form is CSRF-protected
//! (`session::csrf`).

use std::time::{Duration, UNIX_EPOCH};

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{ActiveSession, csrf};
use crate::http::client_addr::ClientAddr;
use crate::http::cookies;
use crate::http::extract::Params;
use crate::logout::{EndedSession, frontchannel};
use crate::pages::{self, PageError, PageForm};
use crate::revocation::{self, EndReason};
use crate::session::password;
use crate::state::AppState;
use crate::store::sessions;
use crate::tokens::liveness::Standing;

/// One row of the session list.
struct SessionRow {
    sid: String,
    device: String,
    ip: String,
    signed_in: String,
    last_seen: String,
    apps: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    login_action: String,
    end_action: String,
    end_all_action: String,
    csrf_token: &'a str,
    /// `None`: not signed in, show the sign-in form.
    username: Option<&'a str>,
    sessions: Vec<SessionRow>,
    entered_username: &'a str,
    error: Option<&'a str>,
}

fn timestamp(t: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

fn expired() -> PageError {
    PageError::bad_request(
        "Page expired",
        "This page is no longer valid. Open your account page again.",
    )
}

fn to_account(state: &AppState) -> Response {
    Redirect::to(&state.config.endpoint("/account")).into_response()
}

fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

fn render(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: Option<&str>,
    sessions: Vec<SessionRow>,
    entered_username: &str,
    error: Option<&str>,
) -> Response {
    let (token, set_cookie) = csrf::token(state, headers);
    let page = AccountPage {
        login_action: state.config.endpoint("/account/login"),
        end_action: state.config.endpoint("/account/sessions/end"),
        end_all_action: state.config.endpoint("/account/sessions/end-all"),
        csrf_token: &token,
        username,
        sessions,
        entered_username,
        error,
    };
    with_cookie(pages::render(status, &page), set_cookie)
}

/// The user's sessions that still count, the current one first.
async fn session_rows(
    state: &AppState,
    active: &ActiveSession,
) -> Result<Vec<SessionRow>, sea_orm::DbErr> {
    let now = state.now();
    let mut rows = Vec::new();
    let live = sessions::not_ended(&state.db, Some(&active.user.id)).await?;
    for s in live
        .iter()
        .filter(|s| s.is_active(now) && Standing::of_user(&active.user).admits(s.user_version))
    {
        let apps = sessions::clients(&state.db, &s.id).await?;
        rows.push(SessionRow {
            sid: s.id.clone(),
            device: s
                .user_agent
                .clone()
                .unwrap_or_else(|| "Unknown device".into()),
            ip: s.ip.clone().unwrap_or_else(|| "unknown".into()),
            signed_in: timestamp(s.auth_time),
            last_seen: timestamp(s.last_seen_at),
            apps: if apps.is_empty() {
                "none yet".into()
            } else {
                apps.join(", ")
            },
            current: s.id == active.session.id,
        });
    }
    rows.sort_by_key(|r| !r.current);
    Ok(rows)
}

/// `GET /account`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(active) = super::current(&state, &headers).await? else {
        return Ok(render(
            &state,
            &headers,
            StatusCode::OK,
            None,
            Vec::new(),
            "",
            None,
        ));
    };
    // Sliding sessions: using the account page is activity.
    let idle = state.config.sessions.idle_ttl.as_secs() as i64;
    sessions::touch(&state.db, &active.session, state.now(), idle).await?;
    let rows = session_rows(&state, &active).await?;
    Ok(render(
        &state,
        &headers,
        StatusCode::OK,
        Some(&active.user.username),
        rows,
        "",
        None,
    ))
}

/// `POST /account/login`: the account page's own sign-in.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    // Login CSRF: a third party must not sign this browser in to its account.
    if !csrf::verify(&state, &headers, form.get("csrf_token")) {
        tracing::warn!("account sign-in with a bad CSRF token");
        return Err(expired());
    }
    let username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let refused = |status, message: &str| {
        tracing::info!(%status, "failed account sign-in");
        render(
            &state,
            &headers,
            status,
            None,
            Vec::new(),
            username,
            Some(message),
        )
    };
    let user = match password::sign_in_user(&state, username, password, peer, refused).await? {
        Ok(user) => user,
        Err(page) => return Ok(page),
    };
    let (active, cookie) = super::sign_in(&state, &headers, peer, user).await?;
    tracing::info!(sid = %active.session.id, "signed in on the account page");
    Ok(with_cookie(to_account(&state), Some(cookie)))
}

/// The signed-in user behind a CSRF-checked account form; without one, the
/// account page (which offers its sign-in form).
async fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    form: &Params,
) -> Result<Result<ActiveSession, Response>, PageError> {
    if !csrf::verify(state, headers, form.get("csrf_token")) {
        tracing::warn!("account form with a bad CSRF token");
        return Err(expired());
    }
    Ok(super::current(state, headers)
        .await?
        .ok_or_else(|| to_account(state)))
}

/// The end of signing out this browser: clear the cookie and load the
/// front-channel iframes of every session that ended.
fn signed_out(state: &AppState, ended: &[EndedSession]) -> Response {
    let mut response = frontchannel::signed_out(state, ended, None);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(&state.config, cookies::SESSION, "", Some(0)),
    );
    response
}

/// `POST /account/sessions/end`: end one of the user's sessions.
pub async fn end_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    let active = match authorized(&state, &headers, &form).await? {
        Ok(a) => a,
        Err(to_account) => return Ok(to_account),
    };
    let sid = form.get("sid").ok_or_else(expired)?;
    // Only the user's own sessions; another user's sid is "not found".
    let own = sessions::find(&state.db, sid)
        .await?
        .is_some_and(|s| s.user_id == active.user.id);
    if !own {
        return Err(PageError::not_found(
            "No such session",
            "That session does not exist or has already ended.",
        ));
    }
    let ended = revocation::end_session(&state.revoker(), sid, EndReason::Account).await?;
    if sid == active.session.id {
        Ok(signed_out(&state, ended.as_slice()))
    } else {
        Ok(to_account(&state))
    }
}

/// `POST /account/sessions/end-all`: end every session of the user, this
/// one included.
pub async fn end_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    let active = match authorized(&state, &headers, &form).await? {
        Ok(a) => a,
        Err(to_account) => return Ok(to_account),
    };
    let ended =
        revocation::end_user_sessions(&state.revoker(), &active.user.id, EndReason::Account)
            .await?;
    Ok(signed_out(&state, &ended))
}
