//! RP-Initiated Logout 1.0: the end_session_endpoint (§2), the confirmation
//! the OP asks for (§2), and the redirection back to the RP (§3). A request
//! that fails validation (§4) ends nothing and is never redirected.

use std::borrow::Cow;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use url::Url;

use crate::error::OAuthError;
use crate::http::cookies;
use crate::http::extract::{Params, QueryOrForm};
use crate::http::headers::allow_form_redirect_to;
use crate::logout::frontchannel;
use crate::pages::{self, PageError, PageForm};
use crate::revocation::{self, EndReason};
use crate::session::{self, ActiveSession, csrf};
use crate::state::AppState;
use crate::store::clients::{self, Client};
use crate::store::sessions;
use crate::tokens::id_token::{self, HintCheck, IdTokenHint};

/// A validated logout request.
pub struct LogoutRequest {
    /// The RP, from `client_id` or the hint's audience.
    pub client: Option<Client>,
    pub hint: Option<IdTokenHint>,
    /// Kept to carry through the confirmation form.
    raw_hint: Option<String>,
    /// Registered for `client` (checked).
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub logout_hint: Option<String>,
    pub ui_locales: Option<String>,
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage<'a> {
    action: &'a str,
    username: Option<&'a str>,
    client_id: Option<&'a str>,
    csrf_token: &'a str,
    fields: Vec<(&'static str, &'a str)>,
}

/// §4: a request that failed validation is shown an error page.
fn invalid(message: impl Into<Cow<'static, str>>) -> PageError {
    PageError::bad_request("Sign-out request not accepted", message).with_code("invalid_request")
}

/// RP-Initiated Logout 1.0 §2 parameters, checked per §2-4. Errors are
/// pages: §4 forbids redirecting a request that failed validation.
pub async fn validate(state: &AppState, params: &Params) -> Result<LogoutRequest, PageError> {
    if let Err(e) = params.reject_malformed() {
        return Err(invalid(
            e.description()
                .unwrap_or("a parameter was repeated")
                .to_owned(),
        ));
    }
    let mut raw_hint = params.get("id_token_hint").map(str::to_owned);
    // §2: the OP MUST validate that it issued the hint; an expired one is
    // fine (it is a hint about a session, not a credential).
    let mut key_gone = false;
    let hint = match &raw_hint {
        None => None,
        Some(raw) => match id_token::check_any_audience(state, raw) {
            HintCheck::Trusted(h) => Some(h),
            // §2 and §4: a hint signed by a key removed since (rotation)
            // cannot be validated, but refusing the request would leave
            // the session alive. It is treated as absent: the user is asked
            // to confirm, which §2 requires without a valid hint anyway.
            HintCheck::KeyGone => {
                tracing::info!(
                    "end_session with an id_token_hint whose key is gone; asking the user"
                );
                key_gone = true;
                None
            }
            HintCheck::Invalid => {
                tracing::info!("end_session with an id_token_hint we did not issue");
                return Err(invalid(
                    "The ID token sent with this sign-out request was not issued by this service.",
                ));
            }
        },
    };
    if key_gone {
        raw_hint = None;
    }
    let client = match params.get("client_id") {
        Some(id) => {
            let Some(client) = clients::find(&state.db, id).await? else {
                return Err(invalid(
                    "The application that sent you here is not registered with this service.",
                ));
            };
            // §2: with both, client_id MUST match the client the ID token was
            // issued to.
            if let Some(h) = &hint
                && !h.aud.iter().any(|a| a == &client.id)
            {
                tracing::info!(client_id = %client.id, "end_session hint issued to another client");
                return Err(invalid(
                    "The ID token sent with this sign-out request belongs to another application.",
                ));
            }
            Some(client)
        }
        // Our ID tokens have one audience: the client.
        None => match hint.as_ref().map(|h| h.aud.as_slice()) {
            Some([aud]) => match clients::find(&state.db, aud).await? {
                Some(c) => Some(c),
                None => {
                    return Err(invalid(
                        "The application this ID token was issued to is no longer registered.",
                    ));
                }
            },
            _ => None,
        },
    };
    let post_logout_redirect_uri = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            // §3: only to a URI registered for the identified RP, compared
            // as a simple string; without a known RP there is nothing to
            // compare with.
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            // The RP the unverifiable hint would have named cannot be
            // known: sign out without the redirect rather than not at all.
            if !registered && key_gone && client.is_none() {
                None
            } else if !registered {
                tracing::info!(
                    client_id = client.as_ref().map(|c| c.id.as_str()),
                    "end_session with an unregistered post_logout_redirect_uri"
                );
                return Err(invalid(
                    "The application asked to send you to an address it has not registered.",
                ));
            } else {
                Some(uri.to_owned())
            }
        }
    };
    Ok(LogoutRequest {
        client,
        hint,
        raw_hint,
        post_logout_redirect_uri,
        state: params.get("state").map(str::to_owned),
        logout_hint: params.get("logout_hint").map(str::to_owned),
        ui_locales: params.get("ui_locales").map(str::to_owned),
    })
}

impl LogoutRequest {
    /// §3: the registered URI with `state` added, unchanged, when sent.
    pub fn continue_to(&self) -> Option<Url> {
        let mut url = Url::parse(self.post_logout_redirect_uri.as_deref()?).ok()?;
        if let Some(s) = &self.state {
            url.query_pairs_mut().append_pair("state", s);
        }
        Some(url)
    }

    /// §2: the OP MUST ask unless the hint shows this very session of this
    /// user asking; even then we ask unless the RP is first-party.
    fn may_skip_confirmation(&self, active: &ActiveSession) -> bool {
        let (Some(hint), Some(client)) = (&self.hint, &self.client) else {
            return false;
        };
        let same_session = hint.sub == active.user.id
            && hint
                .sid
                .as_deref()
                .is_none_or(|sid| sid == active.session.id);
        let same_user = self
            .logout_hint
            .as_deref()
            .is_none_or(|h| h == active.user.username || h == active.user.id);
        client.first_party && same_session && same_user
    }

    /// The parameters to carry through the confirmation form.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut fields: Vec<(&'static str, &str)> = [
            ("id_token_hint", &self.raw_hint),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
            ("logout_hint", &self.logout_hint),
            ("ui_locales", &self.ui_locales),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
        .collect();
        if let Some(c) = &self.client {
            fields.push(("client_id", c.id.as_str()));
        }
        fields
    }
}

/// `GET|POST /logout` (§2: both methods are supported).
pub async fn end_session(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    params: Result<QueryOrForm, OAuthError>,
) -> Result<Response, PageError> {
    let params = match params {
        Ok(QueryOrForm(p)) => p,
        Err(e) => {
            return Err(invalid(
                e.description()
                    .unwrap_or("The request could not be read.")
                    .to_owned(),
            ));
        }
    };
    let request = validate(&state, &params).await?;
    let active = session::current(&state, &headers).await?;
    Ok(match active {
        Some(active) if request.may_skip_confirmation(&active) => {
            log_out(&state, &headers, Some(active), &request).await?
        }
        Some(active) => confirm_page(&state, &headers, Some(&active), &request),
        // A cross-site POST carries no SameSite=Lax session cookie, so the
        // browser may well have a session we cannot see: ask, and the
        // same-site confirmation will show it.
        None if method == Method::POST
            && !cookies::present(&state.config, &headers, cookies::SESSION) =>
        {
            confirm_page(&state, &headers, None, &request)
        }
        // No live session: go on as after a logout (ending one that ran out
        // of time, if any).
        None => log_out(&state, &headers, None, &request).await?,
    })
}

/// `POST /logout/confirm`: the user's answer on the confirmation page.
pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    if !csrf::verify(&state, &headers, form.get("csrf_token")) {
        tracing::warn!("logout confirmation with a bad CSRF token");
        return Err(PageError::bad_request(
            "Sign-out expired",
            "This sign-out page is no longer valid. Go back to the application and sign out again.",
        ));
    }
    let request = validate(&state, &form).await?;
    if form.get("decision") != Some("logout") {
        return Ok(frontchannel::still_signed_in());
    }
    let active = session::current(&state, &headers).await?;
    log_out(&state, &headers, active, &request).await
}

fn confirm_page(
    state: &AppState,
    headers: &HeaderMap,
    active: Option<&ActiveSession>,
    request: &LogoutRequest,
) -> Response {
    let (token, set_cookie) = csrf::token(state, headers);
    let action = state.config.endpoint("/logout/confirm");
    let page = pages::render(
        StatusCode::OK,
        &ConfirmPage {
            action: &action,
            username: active.map(|a| a.user.username.as_str()),
            client_id: request.client.as_ref().map(|c| c.id.as_str()),
            csrf_token: &token,
            fields: request.fields(),
        },
    );
    // §3: signing out may end in a redirect to the RP.
    let mut response = allow_form_redirect_to(page, request.post_logout_redirect_uri.as_deref());
    if let Some(c) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// What a logout ends: the browser's live session; without one, a session
/// that ran out of time but was not ended yet (the expiry sweep had not
/// come by), the browser's own or the one the hint names. Ending that one
/// still tells the relying parties that were in it.
async fn to_end(
    state: &AppState,
    headers: &HeaderMap,
    active: Option<ActiveSession>,
    request: &LogoutRequest,
) -> anyhow::Result<Option<(String, EndReason)>> {
    if let Some(a) = active {
        return Ok(Some((a.session.id, EndReason::RpInitiated)));
    }
    let now = state.now();
    let of_browser = session::of_browser(state, headers).await?;
    let of_hint = match &request.hint {
        Some(IdTokenHint {
            sub,
            sid: Some(sid),
            ..
        }) => sessions::find(&state.db, sid)
            .await?
            .filter(|s| &s.user_id == sub),
        _ => None,
    };
    Ok(of_browser
        .into_iter()
        .chain(of_hint)
        .find(|s| s.ended_at.is_none() && !s.is_active(now))
        .map(|s| {
            let reason = if s.absolute_expires_at <= now {
                EndReason::AbsoluteTimeout
            } else {
                EndReason::IdleTimeout
            };
            (s.id, reason)
        }))
}

/// End the browser's session (if any), clear its cookie, and finish with
/// front-channel iframes and the §3 redirect or the signed-out page.
/// Back-channel notifications were queued by `revocation::end_session`;
/// their delivery never delays this response.
async fn log_out(
    state: &AppState,
    headers: &HeaderMap,
    active: Option<ActiveSession>,
    request: &LogoutRequest,
) -> Result<Response, PageError> {
    let ended = match to_end(state, headers, active, request).await? {
        None => None,
        Some((sid, reason)) => revocation::end_session(&state.revoker(), &sid, reason).await?,
    };
    tracing::info!(
        client_id = request.client.as_ref().map(|c| c.id.as_str()),
        sid = ended.as_ref().map(|e| e.session.id.as_str()),
        redirect = request.post_logout_redirect_uri.is_some(),
        "rp-initiated logout"
    );
    let mut response = frontchannel::signed_out(state, ended.as_slice(), request.continue_to());
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(&state.config, cookies::SESSION, "", Some(0)),
    );
    Ok(response)
}
