//! The hosted verification page of the device grant (RFC 8628 §3.3),
//! `GET|POST /device`: the user enters the code shown on the device (or
//! confirms the one `verification_uri_complete` filled in, §5.4), signs in
//! if this browser has no session (the same password check and session as
//! every sign-in page), sees the client and scopes, and allows or denies.
//! Every form is CSRF-protected (`session::csrf`); every code looked up is
//! throttled per address and globally (§5.1).

use std::net::{IpAddr, Ipv4Addr};

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use sea_orm::TransactionTrait;
use serde::Deserialize;

use crate::audit;
use crate::http::client_addr::ClientAddr;
use crate::oidc::device::{display_user_code, normalize_user_code, user_code_hashes};
use crate::pages::{self, PageError, PageForm};
use crate::random::identifier;
use crate::scope::Scope;
use crate::session::{self, ActiveSession, csrf, password};
use crate::state::AppState;
use crate::store::clients::{self, Client};
use crate::store::device_codes::{self, DeviceCode};
use crate::store::grants::{self, Grant};
use crate::store::sessions;
use crate::throttle::{self, Subject, Verdict};

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage<'a> {
    action: &'a str,
    csrf_token: &'a str,
    /// `enter`, `login`, `confirm` or `done`.
    step: &'a str,
    user_code: &'a str,
    client_id: &'a str,
    username: &'a str,
    scopes: Vec<String>,
    error: Option<&'a str>,
    title: &'a str,
    message: &'a str,
}

impl Default for DevicePage<'_> {
    fn default() -> Self {
        DevicePage {
            action: "",
            csrf_token: "",
            step: "enter",
            user_code: "",
            client_id: "",
            username: "",
            scopes: Vec::new(),
            error: None,
            title: "",
            message: "",
        }
    }
}

fn render(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    page: DevicePage<'_>,
) -> Response {
    let (token, set_cookie) = csrf::token(state, headers);
    let action = state.config.endpoint("/device");
    let mut response = pages::render(
        status,
        &DevicePage {
            action: &action,
            csrf_token: &token,
            ..page
        },
    );
    if let Some(c) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// The code entry step, with an error when `error` is set.
fn enter(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    typed: &str,
    error: Option<&str>,
) -> Response {
    let typed = if typed.len() > 64 { "" } else { typed };
    let page = DevicePage {
        user_code: typed,
        error,
        ..DevicePage::default()
    };
    render(state, headers, status, page)
}

fn done(state: &AppState, headers: &HeaderMap, title: &str, message: &str) -> Response {
    let page = DevicePage {
        step: "done",
        title,
        message,
        ..DevicePage::default()
    };
    render(state, headers, StatusCode::OK, page)
}

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

/// `GET /device`: the code entry form, pre-filled from
/// `verification_uri_complete` (RFC 8628 §3.3.1), never submitted for the
/// user (§5.4: they confirm the code).
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceQuery>, QueryRejection>,
) -> Response {
    let typed = query
        .ok()
        .and_then(|Query(q)| q.user_code)
        .unwrap_or_default();
    enter(&state, &headers, StatusCode::OK, &typed, None)
}

/// A pending device code and its client, found by a user code.
struct Found {
    code: DeviceCode,
    client: Client,
}

const WRONG_CODE: &str = "That code is not valid or has expired. Check the code on your device.";

/// RFC 8628 §5.1: every lookup of a user code spends the global budget and
/// goes through the per-address throttle; a miss counts as a failure.
async fn lookup(
    state: &AppState,
    headers: &HeaderMap,
    peer: IpAddr,
    typed: &str,
) -> Result<Result<Found, Response>, PageError> {
    let Some(normalized) = normalize_user_code(typed) else {
        return Ok(Err(enter(
            state,
            headers,
            StatusCode::BAD_REQUEST,
            typed,
            Some(WRONG_CODE),
        )));
    };
    let too_many = |seconds: u64| {
        let message = format!("Too many codes were tried. Try again in {seconds} seconds.");
        let page = enter(
            state,
            headers,
            StatusCode::TOO_MANY_REQUESTS,
            typed,
            Some(&message),
        );
        throttle::with_retry_after(page, seconds)
    };
    // One key for every address: the budget is global.
    if let Err(wait) = state
        .user_code_attempts
        .spend(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    {
        tracing::warn!(%peer, "global user code budget spent");
        return Ok(Err(too_many(wait.as_secs() + 1)));
    }
    let mut found: Option<Found> = None;
    let mut failure: Option<PageError> = None;
    let verdict = state
        .throttle
        .guard(Subject::UserCode, peer, async {
            match find(state, &normalized).await {
                Ok(f) => {
                    found = f;
                    Ok(found.is_some())
                }
                Err(e) => {
                    failure = Some(e);
                    Ok(true)
                }
            }
        })
        .await;
    if let Some(e) = failure {
        return Err(e);
    }
    match (verdict, found) {
        (Verdict::Verified, Some(found)) => Ok(Ok(found)),
        (Verdict::Throttled { retry_after }, _) => {
            tracing::info!(%peer, "user code guesses throttled");
            Ok(Err(too_many(retry_after)))
        }
        (Verdict::Busy { retry_after }, _) => Err(PageError::Busy(retry_after)),
        _ => {
            tracing::info!(%peer, "unknown or expired user code");
            Ok(Err(enter(
                state,
                headers,
                StatusCode::BAD_REQUEST,
                typed,
                Some(WRONG_CODE),
            )))
        }
    }
}

async fn find(state: &AppState, normalized: &str) -> Result<Option<Found>, PageError> {
    let now = state.now();
    let Some(code) = device_codes::find_pending_by_user_code(
        &state.db,
        &user_code_hashes(state.keys.master_keys(), normalized),
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    let client = clients::find(&state.db, &code.client_id)
        .await?
        .filter(|c| !c.disabled);
    Ok(client.map(|client| Found { code, client }))
}

/// `POST /device`: one step of the page (`step`: `enter`, `login`,
/// `confirm`).
pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    if !csrf::verify(&state, &headers, form.get("csrf_token")) {
        tracing::warn!("device form with a bad CSRF token");
        return Err(PageError::bad_request(
            "Page expired",
            "This page is no longer valid. Open it again and enter the code.",
        ));
    }
    let typed = form.get("user_code").unwrap_or("").trim();
    let found = match lookup(&state, &headers, peer, typed).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let shown = display_user_code(&normalize_user_code(typed).unwrap_or_default());
    let active = session::current(&state, &headers).await?;
    match (form.get("step"), active) {
        (Some("login"), _) => {
            let username = form.get("username").unwrap_or("").trim();
            let password = form.get("password").unwrap_or("");
            let refused = |status, message: &str| {
                tracing::info!(client_id = %found.client.id, %status, "failed sign-in on /device");
                let page = DevicePage {
                    step: "login",
                    user_code: &shown,
                    client_id: &found.client.id,
                    username,
                    error: Some(message),
                    ..DevicePage::default()
                };
                render(&state, &headers, status, page)
            };
            let user =
                match password::sign_in_user(&state, username, password, peer, refused).await? {
                    Ok(user) => user,
                    Err(page) => return Ok(page),
                };
            let (active, cookie) = session::sign_in(&state, &headers, peer, user).await?;
            tracing::info!(client_id = %found.client.id, sid = %active.session.id, "signed in on /device");
            Ok(with_cookie(
                confirm(&state, &headers, &found, &active, &shown),
                cookie,
            ))
        }
        (Some("confirm"), Some(active)) => decide(&state, &headers, &form, found, &active).await,
        // Entered a code (or a decision without a session any more).
        (_, Some(active)) => Ok(confirm(&state, &headers, &found, &active, &shown)),
        (_, None) => {
            let page = DevicePage {
                step: "login",
                user_code: &shown,
                client_id: &found.client.id,
                ..DevicePage::default()
            };
            Ok(render(&state, &headers, StatusCode::OK, page))
        }
    }
}

fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// The consent step: who asks, for what, as whom.
fn confirm(
    state: &AppState,
    headers: &HeaderMap,
    found: &Found,
    active: &ActiveSession,
    shown: &str,
) -> Response {
    // OpenID Core §3.1.2.4: the user sees everything being consented to.
    let scopes = Scope::from_stored(&found.code.scope)
        .iter()
        .map(|s| match pages::describe_scope(s) {
            Some(description) => description.to_owned(),
            None => format!("Use the \u{201c}{s}\u{201d} permission"),
        })
        .collect();
    let page = DevicePage {
        step: "confirm",
        user_code: shown,
        client_id: &found.client.id,
        username: &active.user.username,
        scopes,
        ..DevicePage::default()
    };
    render(state, headers, StatusCode::OK, page)
}

/// The user's answer. Approval makes a grant in the browser's session, as
/// the code flow does, so ending the session revokes the device's tokens.
async fn decide(
    state: &AppState,
    headers: &HeaderMap,
    form: &crate::http::extract::Params,
    found: Found,
    active: &ActiveSession,
) -> Result<Response, PageError> {
    // HTML §4.10.21.2: implicit submission sends the first button, "approve".
    let approved = matches!(form.get("decision"), None | Some("approve"));
    let now = state.now();
    let client = &found.client;
    let entry = audit::Entry {
        actor: "user",
        action: "device_consent",
        subject: Some(active.user.id.clone()),
        client_id: Some(client.id.clone()),
        outcome: if approved { "granted" } else { "denied" },
        detail: Some(found.code.scope.clone()),
        ..audit::Entry::default()
    };
    let gone = || {
        PageError::bad_request(
            "Code expired",
            "This code is no longer valid. Start again on your device.",
        )
    };
    if !approved {
        // RFC 8628 §3.5: the device is told access_denied.
        if !device_codes::decide(&state.db, &found.code.device_code_hash, None, now).await? {
            return Err(gone());
        }
        audit::record(&state.db, now, entry).await;
        tracing::info!(client_id = %client.id, "device request denied");
        return Ok(done(
            state,
            headers,
            "Request denied",
            "The device was not connected. You can close this page.",
        ));
    }
    let grant_id = identifier(state.rng.as_ref());
    let txn = state.db.begin().await?;
    grants::insert_grant(
        &txn,
        Grant {
            id: grant_id.clone(),
            client_id: client.id.clone(),
            user_id: Some(active.user.id.clone()),
            session_id: Some(active.session.id.clone()),
            scope: found.code.scope.clone(),
            auth_time: Some(active.session.auth_time),
            created_at: now,
            revoked_at: None,
            user_version: active.user.token_version,
            client_version: client.token_version,
        },
    )
    .await?;
    if !device_codes::decide(&txn, &found.code.device_code_hash, Some(&grant_id), now).await? {
        return Err(gone());
    }
    sessions::add_client(&txn, &active.session.id, &client.id, now).await?;
    let idle = state.config.sessions.idle_ttl.as_secs() as i64;
    // The session ended while this request ran: its end did not see this
    // grant, so the grant must not be made (dropping `txn` undoes it).
    if !sessions::touch(&txn, &active.session, now, idle).await? {
        return Err(PageError::sign_in_expired());
    }
    txn.commit().await?;
    audit::record(&state.db, now, entry).await;
    tracing::info!(client_id = %client.id, sid = %active.session.id, "device request approved");
    Ok(done(
        state,
        headers,
        "Device connected",
        "You can go back to your device now.",
    ))
}
