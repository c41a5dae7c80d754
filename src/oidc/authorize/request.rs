//! Parsing and validating an authorization request (RFC 6749 §4.1.1, OpenID
//! Core §3.1.2.1-2). Validation happens in two stages: until the client and
//! redirect URI are known good, errors are shown on a page; after, they are
//! redirected to the client.

use serde::{Deserialize, Serialize};

use crate::error::OAuthError;
use crate::http::extract::Params;
use crate::pages::PageError;
use crate::state::AppState;
use crate::store::clients::{self, Client};
use crate::tokens::{id_token, parse_scope};

/// A validated authorization request, as stored while the user is on the
/// login and consent pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The scopes that will be granted: requested ∩ allowed for the client.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub code_challenge: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
}

impl AuthorizationRequest {
    pub fn prompts(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }

    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }
}

/// Why a request cannot go on.
pub enum Rejection {
    /// Not safe to redirect: show a page.
    Page(PageError),
    /// Redirect the error to the (validated) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

impl<E: Into<PageError>> From<E> for Rejection {
    fn from(e: E) -> Self {
        Rejection::Page(e.into())
    }
}

fn page(title: &'static str, message: &'static str) -> Rejection {
    Rejection::Page(PageError::bad_request(title, message))
}

pub async fn validate(
    state: &AppState,
    params: &Params,
) -> Result<(Client, AuthorizationRequest), Rejection> {
    // Stage 1: client and redirect URI. Nothing is redirected until both hold.
    if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
        return Err(page(
            "Invalid request",
            "The request repeats client_id or redirect_uri (RFC 6749 §3.1).",
        ));
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(page("Invalid request", "The request has no client_id."));
    };
    // A disabled client is refused like an unknown one: its redirect URIs are
    // no longer trusted (RFC 6749 §4.1.2.1: do not redirect for an invalid
    // client), and the token endpoint would refuse its codes anyway.
    let client = clients::find(&state.db, client_id)
        .await?
        .filter(|c| !c.disabled);
    let Some(client) = client else {
        return Err(page(
            "Unknown application",
            "The application that sent you here is not registered with this sign-in service.",
        ));
    };
    // OpenID Core §3.1.2.1: redirect_uri is required and must exactly match
    // a registered value (simple string comparison, §3.1.2.1 / RFC 9700 §4.1.3).
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(page("Invalid request", "The request has no redirect_uri."));
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(page(
            "Invalid redirect URI",
            "The application asked to return you to an address it has not registered.",
        ));
    }
    let redirect_uri = redirect_uri.to_owned();
    let client_state = params.get("state").map(str::to_owned);
    let redirect = |error: OAuthError| Rejection::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: if params.is_duplicated("state") {
            None
        } else {
            client_state.clone()
        },
        error,
    };

    // Stage 2: everything else is reported to the client.
    params.reject_malformed().map_err(redirect)?;
    // OpenID Core §6.1/§6.2: request objects are optional; we say so with the
    // dedicated codes.
    if params.contains("request") {
        return Err(redirect(OAuthError::RequestNotSupported));
    }
    if params.contains("request_uri") {
        return Err(redirect(OAuthError::RequestUriNotSupported));
    }
    let response_type = params.get("response_type").ok_or_else(|| {
        redirect(OAuthError::InvalidRequest(
            "missing parameter response_type".into(),
        ))
    })?;
    // RFC 6749 §4.1.1: only the code flow is offered.
    if response_type != "code" {
        return Err(redirect(OAuthError::UnsupportedResponseType(
            "only response_type=code is supported".into(),
        )));
    }
    if let Some(mode) = params.get("response_mode")
        && mode != "query"
    {
        return Err(redirect(OAuthError::InvalidRequest(
            "only response_mode=query is supported".into(),
        )));
    }
    if !client.allows_grant("authorization_code") {
        return Err(redirect(OAuthError::UnauthorizedClient(
            "this client may not use the authorization code flow".into(),
        )));
    }

    // RFC 6749 §3.3 / OpenID Core §3.1.2.1: unknown scopes are ignored; scopes
    // the client is not registered for are not granted.
    let requested = parse_scope(params.get("scope").unwrap_or(""));
    let mut scopes: Vec<String> = requested
        .iter()
        .filter(|s| client.allows_scope(s))
        .cloned()
        .collect();
    // OpenID Core §11: offline access is only for clients that can redeem a
    // refresh token.
    if !client.allows_grant("refresh_token") {
        scopes.retain(|s| s != "offline_access");
    }
    if requested.iter().any(|s| s == "openid") && !scopes.iter().any(|s| s == "openid") {
        return Err(redirect(OAuthError::InvalidScope(
            "this client is not registered for the openid scope".into(),
        )));
    }

    // OpenID Core §3.1.2.1: prompt=none with any other value is an error.
    let prompt = parse_scope(params.get("prompt").unwrap_or(""));
    for p in &prompt {
        if !matches!(p.as_str(), "none" | "login" | "consent" | "select_account") {
            // RFC 6749 §4.1.2.1: error_description has a restricted
            // character set, so the client's value is not echoed.
            return Err(redirect(OAuthError::InvalidRequest(
                "unsupported prompt value (none, login, consent, select_account)".into(),
            )));
        }
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(redirect(OAuthError::InvalidRequest(
            "prompt=none cannot be combined with other values".into(),
        )));
    }

    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            redirect(OAuthError::InvalidRequest(
                "max_age must be a non-negative integer".into(),
            ))
        })?),
    };

    // RFC 7636 §4.3 with RFC 9700 §2.1.1: S256 only; required for public
    // clients and for clients registered with require_pkce.
    let code_challenge = match params.get("code_challenge") {
        Some(challenge) => {
            match params.get("code_challenge_method") {
                Some("S256") => {}
                Some("plain") | None => {
                    return Err(redirect(OAuthError::InvalidRequest(
                        "code_challenge_method must be S256 (plain is not accepted)".into(),
                    )));
                }
                Some(_) => {
                    return Err(redirect(OAuthError::InvalidRequest(
                        "unsupported code_challenge_method".into(),
                    )));
                }
            }
            // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
            if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
                return Err(redirect(OAuthError::InvalidRequest(
                    "code_challenge is not a base64url SHA-256 value".into(),
                )));
            }
            Some(challenge.to_owned())
        }
        None if client.pkce_required() => {
            return Err(redirect(OAuthError::InvalidRequest(
                "this client must use PKCE (code_challenge with S256)".into(),
            )));
        }
        None => None,
    };

    // OpenID Core §3.1.2.1: id_token_hint is an ID token we issued, possibly
    // expired, for this client.
    let hint_sub = match params.get("id_token_hint") {
        None => None,
        Some(hint) => match id_token::verify_hint(state, hint, &client.id) {
            Some(h) => Some(h.sub),
            None => {
                return Err(redirect(OAuthError::InvalidRequest(
                    "id_token_hint is not a valid ID token issued to this client".into(),
                )));
            }
        },
    };

    Ok((
        client.clone(),
        AuthorizationRequest {
            client_id: client.id.clone(),
            redirect_uri,
            scopes,
            state: client_state,
            nonce: params.get("nonce").map(str::to_owned),
            prompt,
            max_age,
            login_hint: params
                .get("login_hint")
                .map(|v| v.chars().take(255).collect()),
            code_challenge,
            hint_sub,
        },
    ))
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}
