//! Deciding what an authorization request needs next, and finishing it.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::TransactionTrait;

use super::request::{AuthorizationRequest, Rejection};
use super::response;
use crate::error::OAuthError;
use crate::http::cookies;
use crate::pages::PageError;
use crate::random::{identifier, secret_token};
use crate::scope::Scope;
use crate::secrets::token_hash;
use crate::session::{self, ActiveSession};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::{self, CodeRecord, Grant};
use crate::store::interactions::{self, Interaction};
use crate::store::{consents, sessions};

/// Where the request goes from here.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Login,
    Consent,
    Complete,
}

/// OpenID Core §3.1.2.1-3: must the user (re-)authenticate before this
/// request can be answered? `Ok(true)` sends them to the login page; an
/// error is answered to the client. The one place prompt=login, max_age and
/// id_token_hint are decided: the consent step asks it again, so a form
/// posted past the login page cannot skip a login that was demanded.
/// `fresh_login` is true once the login page succeeded in this interaction
/// (see [`fresh_login`]), which satisfies prompt=login and max_age.
pub fn login_required(
    req: &AuthorizationRequest,
    session: Option<&ActiveSession>,
    now: i64,
    fresh_login: bool,
) -> Result<bool, OAuthError> {
    let none = req.prompts("none");
    let Some(active) = session else {
        return if none {
            Err(OAuthError::LoginRequired("no user is signed in".into()))
        } else {
            Ok(true)
        };
    };
    // OpenID Core §3.1.2.2: a hint naming another user than the one
    // signed in cannot be answered silently.
    let other_user = req
        .hint_sub
        .as_deref()
        .is_some_and(|sub| sub != active.user.id);
    // OpenID Core §3.1.2.2: nor after someone else signed in on the login
    // page: the answer is an error, not a code for that other user.
    if fresh_login && other_user {
        return Err(OAuthError::LoginRequired(
            "the signed-in user is not the one named by id_token_hint".into(),
        ));
    }
    if !fresh_login {
        let too_old = req
            .max_age
            .is_some_and(|max| now - active.session.auth_time > max);
        if req.prompts("login") || req.prompts("select_account") || too_old || other_user {
            return if none {
                Err(OAuthError::LoginRequired(
                    "the user must sign in again".into(),
                ))
            } else {
                Ok(true)
            };
        }
    }
    Ok(false)
}

/// Whether `active` signed in on the login page of `interaction` (and not
/// merely had a session when it started).
pub fn fresh_login(interaction: &Interaction, active: &ActiveSession) -> bool {
    interaction.login_completed_at.is_some()
        && interaction.session_id.as_deref() == Some(active.session.id.as_str())
}

/// Pure decision (OpenID Core §3.1.2.3-4): does the user need to log in, to
/// consent, or neither?
pub fn next_step(
    req: &AuthorizationRequest,
    client: &Client,
    session: Option<&ActiveSession>,
    granted: &Scope,
    now: i64,
    fresh_login: bool,
) -> Result<Next, OAuthError> {
    if login_required(req, session, now, fresh_login)? {
        return Ok(Next::Login);
    }
    let none = req.prompts("none");
    let missing_consent = !req.scopes.is_subset_of(granted);
    if !client.first_party && (req.prompts("consent") || missing_consent) {
        return if none {
            Err(OAuthError::ConsentRequired(
                "the user has not granted this application access".into(),
            ))
        } else {
            Ok(Next::Consent)
        };
    }
    Ok(Next::Complete)
}

/// Take the request one step further for the browser in `headers`.
pub async fn proceed(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    req: AuthorizationRequest,
    interaction: Option<&Interaction>,
    just_logged_in: Option<ActiveSession>,
) -> Response {
    let step = try_proceed(
        state,
        headers,
        client,
        req,
        interaction,
        just_logged_in,
        None,
    );
    match step.await {
        Ok(r) => r,
        Err(rejection) => reject(state, rejection),
    }
}

/// The first step of a new authorization request from `peer`: a sign-in it
/// starts (a stored interaction) is charged to the address's budget.
pub async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    peer: IpAddr,
    client: &Client,
    req: AuthorizationRequest,
) -> Response {
    match try_proceed(state, headers, client, req, None, None, Some(peer)).await {
        Ok(r) => r,
        Err(rejection) => reject(state, rejection),
    }
}

async fn try_proceed(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    req: AuthorizationRequest,
    interaction: Option<&Interaction>,
    just_logged_in: Option<ActiveSession>,
    peer: Option<IpAddr>,
) -> Result<Response, Rejection> {
    let now = state.now();
    // The sign-in of this interaction, when it just happened: recorded on
    // the interaction only if the request goes on to the consent page (a
    // request answered now deletes the interaction instead).
    let just_signed_in = just_logged_in.as_ref().map(|s| s.session.id.clone());
    // A login that finished in this interaction satisfies prompt=login and
    // max_age for the rest of it.
    let (session, fresh_login) = match just_logged_in {
        Some(s) => (Some(s), true),
        None => {
            let s = session::current(state, headers).await?;
            let fresh = interaction
                .zip(s.as_ref())
                .is_some_and(|(i, s)| fresh_login(i, s));
            (s, fresh)
        }
    };
    // Only a third-party client asks for consent (`next_step`): a
    // first-party one's request needs no consent read.
    let signed_in = session.as_ref().filter(|_| !client.first_party);
    let granted = match signed_in {
        Some(s) => consents::granted_scopes(&state.db, &s.user.id, &client.id).await?,
        None => Scope::default(),
    };
    let next = next_step(&req, client, session.as_ref(), &granted, now, fresh_login)
        .map_err(|error| req.refuse(error))?;
    match (next, session) {
        (Next::Complete, Some(active)) => {
            // An interaction finishes once: of two concurrent submissions
            // (double click) only the one that takes it gets a code.
            if let Some(i) = interaction
                && !interactions::take(&state.db, &i.id).await?
            {
                return Err(PageError::sign_in_expired().into());
            }
            Ok(complete(state, client, &req, &active).await?)
        }
        (Next::Consent, _) => {
            if let (Some(i), Some(sid)) = (interaction, just_signed_in.as_deref()) {
                interactions::record_login(&state.db, &i.id, sid, now).await?;
            }
            let (id, set_cookie) =
                start_interaction(state, headers, &req, interaction, peer).await?;
            Ok(redirect_with_cookie(
                &state.config.endpoint(&format!("/consent?interaction={id}")),
                set_cookie,
            ))
        }
        // Login, or Complete without a session (cannot happen: next_step
        // only completes with a session).
        (_, _) => {
            let (id, set_cookie) =
                start_interaction(state, headers, &req, interaction, peer).await?;
            Ok(redirect_with_cookie(
                &state.config.endpoint(&format!("/login?interaction={id}")),
                set_cookie,
            ))
        }
    }
}

fn redirect_with_cookie(path: &str, set_cookie: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to(path).into_response();
    if let Some(c) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// Keep the validated request server-side while the user is on our pages,
/// bound to this browser.
async fn start_interaction(
    state: &AppState,
    headers: &HeaderMap,
    req: &AuthorizationRequest,
    existing: Option<&Interaction>,
    peer: Option<IpAddr>,
) -> Result<(String, Option<HeaderValue>), Rejection> {
    if let Some(i) = existing {
        return Ok((i.id.clone(), None));
    }
    // Each new interaction is a row kept for `sessions.interaction_ttl`,
    // which anyone can make without signing in: bounded per address. A 429
    // page rather than a `temporarily_unavailable` redirect (RFC 6749
    // §4.1.2.1): the limit is about this browser's network, not the client,
    // and a relying party that restarts sign-in on an error would loop.
    if let Some(peer) = peer
        && let Err(retry_after) = state.interaction_budget.spend(peer)
    {
        tracing::info!(client_id = %req.client_id, %peer, "too many sign-ins started from one address");
        return Err(PageError::TooManySignIns { retry_after }.into());
    }
    let (browser, set_cookie) = match cookies::read(&state.config, headers, cookies::BROWSER) {
        Some(b) => (b.to_owned(), None),
        None => {
            let b = secret_token(state.rng.as_ref());
            let c = cookies::set(&state.config, cookies::BROWSER, &b, None);
            (b, Some(c))
        }
    };
    let now = state.now();
    let id = identifier(state.rng.as_ref());
    let request = serde_json::to_string(req).map_err(anyhow::Error::from)?;
    interactions::insert(
        &state.db,
        Interaction {
            id: id.clone(),
            browser_hash: token_hash(&browser),
            csrf_token: secret_token(state.rng.as_ref()),
            client_id: req.client_id.clone(),
            request,
            session_id: None,
            login_completed_at: None,
            created_at: now,
            expires_at: now + state.config.sessions.interaction_ttl.as_secs() as i64,
        },
    )
    .await?;
    Ok((id, set_cookie))
}

/// Issue the authorization code (RFC 6749 §4.1.2) and send the browser back.
pub async fn complete(
    state: &AppState,
    client: &Client,
    req: &AuthorizationRequest,
    active: &ActiveSession,
) -> anyhow::Result<Response> {
    let now = state.now();
    let code = secret_token(state.rng.as_ref());
    let grant_id = identifier(state.rng.as_ref());
    let txn = state.db.begin().await?;
    grants::insert_grant(
        &txn,
        Grant {
            id: grant_id.clone(),
            client_id: client.id.clone(),
            user_id: Some(active.user.id.clone()),
            session_id: Some(active.session.id.clone()),
            scope: req.scopes.to_string(),
            auth_time: Some(active.session.auth_time),
            created_at: now,
            revoked_at: None,
            // The versions `session::current` just checked the session
            // against (its user row) and the client row of this request.
            user_version: active.user.token_version,
            client_version: client.token_version,
        },
    )
    .await?;
    grants::insert_code(
        &txn,
        CodeRecord {
            code_hash: token_hash(&code),
            grant_id,
            client_id: client.id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            created_at: now,
            expires_at: now + state.config.tokens.authorization_code_ttl.as_secs() as i64,
            consumed_at: None,
        },
    )
    .await?;
    sessions::add_client(&txn, &active.session.id, &client.id, now).await?;
    let still_live = sessions::touch(
        &txn,
        &active.session,
        now,
        state.config.sessions.idle_ttl.as_secs() as i64,
    )
    .await?;
    // The session ended while this request ran: its end did not see this
    // grant, so the grant must not be made (dropping `txn` undoes it).
    if !still_live {
        return Ok(PageError::sign_in_expired().into_response());
    }
    txn.commit().await?;
    tracing::info!(client_id = %client.id, sid = %active.session.id, "authorization code issued");
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        pairs.push(("state", s));
    }
    // RFC 9207 §2: identify the issuer in the response.
    pairs.push(("iss", state.config.issuer_str()));
    Ok(response::deliver(
        &req.redirect_uri,
        req.response_mode,
        &pairs,
    ))
}

/// Turn a rejection into a page or an error redirect (RFC 6749 §4.1.2.1,
/// OpenID Core §3.1.2.6).
pub fn reject(state: &AppState, rejection: Rejection) -> Response {
    match rejection {
        Rejection::Page(page) => page.into_response(),
        // An internal error is ours, not the client's: a page, not a redirect.
        Rejection::Redirect {
            error: OAuthError::Internal(e),
            ..
        } => PageError::Internal(e).into_response(),
        Rejection::Redirect {
            redirect_uri,
            state: client_state,
            response_mode,
            error,
        } => {
            error.log();
            let mut pairs = vec![("error", error.code())];
            if let Some(d) = error.description() {
                pairs.push(("error_description", d));
            }
            if let Some(s) = client_state.as_deref() {
                pairs.push(("state", s));
            }
            pairs.push(("iss", state.config.issuer_str()));
            response::deliver(&redirect_uri, response_mode, &pairs)
        }
    }
}
