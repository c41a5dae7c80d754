//! Parsing and validating an authorization request (RFC 6749 §4.1.1, OpenID
//! Core §3.1.2.1-2). Validation happens in two stages: until the client and
//! redirect URI are known good, errors are shown on a page; after, they are
//! redirected to the client. `validate` keeps that order; each rule is a
//! small named check.

use serde::{Deserialize, Serialize};

use super::response::ResponseMode;
use crate::error::OAuthError;
use crate::grant_type::GrantType;
use crate::http::extract::Params;
use crate::pages::PageError;
use crate::scope::Scope;
use crate::state::AppState;
use crate::store::clients::{self, Client};
use crate::tokens::id_token;

/// A validated authorization request, as stored while the user is on the
/// login and consent pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The scopes that will be granted: requested ∩ allowed for the client.
    pub scopes: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub code_challenge: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
    /// How the response goes back (interactions stored before this field
    /// existed answered in the query).
    #[serde(default)]
    pub response_mode: ResponseMode,
}

impl AuthorizationRequest {
    pub fn prompts(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }

    pub fn is_openid(&self) -> bool {
        self.scopes.contains("openid")
    }

    /// `error` for this request's client, at its redirect URI.
    pub fn refuse(&self, error: OAuthError) -> Rejection {
        Rejection::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            response_mode: self.response_mode,
            error,
        }
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
        response_mode: ResponseMode,
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

/// How the authorization request reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// In the browser's query or form, at /authorize.
    FrontChannel,
    /// Pushed by the authenticated client to /par (RFC 9126), or read back
    /// from such a push.
    Pushed,
}

impl Rejection {
    /// The rejection as a protocol error, for an endpoint that answers in
    /// JSON (RFC 9126 §2.3: /par answers with the token endpoint's errors).
    pub fn into_oauth_error(self) -> OAuthError {
        match self {
            Rejection::Redirect { error, .. } => error,
            Rejection::Page(PageError::Internal(e)) => OAuthError::Internal(e),
            Rejection::Page(PageError::Shown { message, .. }) => {
                OAuthError::InvalidRequest(message)
            }
            Rejection::Page(_) => OAuthError::InvalidRequest("the request was refused".into()),
        }
    }
}

/// Validate a front-channel authorization request.
pub async fn validate(
    state: &AppState,
    params: &Params,
) -> Result<(Client, AuthorizationRequest), Rejection> {
    // Stage 1: client and redirect URI. Nothing is redirected until both hold.
    let client = check_client(state, params).await?;
    let request = validate_for(state, &client, params, Channel::FrontChannel).await?;
    Ok((client, request))
}

/// Validate an authorization request of `client` (a registered, enabled
/// client: found from `client_id` at /authorize, authenticated at /par).
pub async fn validate_for(
    state: &AppState,
    client: &Client,
    params: &Params,
    channel: Channel,
) -> Result<AuthorizationRequest, Rejection> {
    let redirect_uri = check_redirect_uri(client, params)?;
    let client_state = params.get("state").map(str::to_owned);
    // A repeated state is not echoed (it is refused as malformed below).
    let echoed_state = client_state
        .clone()
        .filter(|_| !params.is_duplicated("state"));
    let to_client = |response_mode: ResponseMode| {
        let (redirect_uri, state) = (redirect_uri.clone(), echoed_state.clone());
        move |error: OAuthError| Rejection::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            response_mode,
            error,
        }
    };

    // Stage 2: everything else is reported to the client, in the response
    // mode it asked for once that is known to be one we support.
    let response_mode = ResponseMode::of(params).map_err(to_client(ResponseMode::Query))?;
    let redirect = to_client(response_mode);
    params.reject_malformed().map_err(&redirect)?;
    check_channel(state, client, channel).map_err(&redirect)?;
    check_lengths(params).map_err(&redirect)?;
    check_request_objects(params).map_err(&redirect)?;
    check_response_type(client, params).map_err(&redirect)?;
    let scopes = check_scope(client, params).map_err(&redirect)?;
    let prompt = check_prompt(params).map_err(&redirect)?;
    let max_age = check_max_age(params).map_err(&redirect)?;
    let code_challenge = check_pkce(client, params).map_err(&redirect)?;
    let hint_sub = check_id_token_hint(state, client, params).map_err(&redirect)?;

    Ok(AuthorizationRequest {
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
        response_mode,
    })
}

/// The client, registered and enabled. A disabled client is refused like an
/// unknown one: its redirect URIs are no longer trusted (RFC 6749 §4.1.2.1:
/// do not redirect for an invalid client), and the token endpoint would
/// refuse its codes anyway.
async fn check_client(state: &AppState, params: &Params) -> Result<Client, Rejection> {
    if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
        return Err(page(
            "Invalid request",
            "The request repeats client_id or redirect_uri (RFC 6749 §3.1).",
        ));
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(page("Invalid request", "The request has no client_id."));
    };
    clients::find(&state.db, client_id)
        .await?
        .filter(|c| !c.disabled)
        .ok_or_else(|| {
            page(
                "Unknown application",
                "The application that sent you here is not registered with this sign-in service.",
            )
        })
}

/// OpenID Core §3.1.2.1: redirect_uri is required and must match a
/// registered value (`redirect_uri::matches`: exactly, but for the port of a
/// public client's loopback IP URI, RFC 8252 §7.3).
fn check_redirect_uri(client: &Client, params: &Params) -> Result<String, Rejection> {
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(page("Invalid request", "The request has no redirect_uri."));
    };
    if super::redirect_uri::registered_match(client, redirect_uri).is_none() {
        return Err(page(
            "Invalid redirect URI",
            "The application asked to return you to an address it has not registered.",
        ));
    }
    Ok(redirect_uri.to_owned())
}

/// Longest `state` and `nonce` accepted, in bytes.
pub const MAX_STATE_BYTES: usize = 512;

/// RFC 6749 §4.1.1 (`state`) and OpenID Core §3.1.2.1 (`nonce`) set no
/// length, but both are stored with the interaction and echoed in redirects
/// and ID tokens, so they are bounded like other OPs bound them (Connect2id:
/// state 1024 and nonce 128 characters by default; WeChat: state 128). A
/// random value needs far less than 512 bytes. Refused per RFC 6749
/// §4.1.2.1 (`invalid_request`, redirected: the client is known by now).
fn check_lengths(params: &Params) -> Result<(), OAuthError> {
    for name in ["state", "nonce"] {
        if params.get(name).is_some_and(|v| v.len() > MAX_STATE_BYTES) {
            return Err(OAuthError::InvalidRequest(
                format!("{name} is longer than {MAX_STATE_BYTES} bytes").into(),
            ));
        }
    }
    Ok(())
}

/// RFC 9126 §5-6: a client (or this provider) that requires pushed
/// authorization requests gets none through the front channel.
fn check_channel(state: &AppState, client: &Client, channel: Channel) -> Result<(), OAuthError> {
    let required = state.config.par.required || client.require_pushed_authorization_requests;
    if required && channel == Channel::FrontChannel {
        return Err(OAuthError::InvalidRequest(
            "this client must push its authorization requests to the pushed_authorization_request_endpoint".into(),
        ));
    }
    Ok(())
}

/// OpenID Core §6.1/§6.2: request objects are optional; we say so with the
/// dedicated codes. The only `request_uri` we take is the reference to a
/// pushed request (RFC 9126 §4), which `oidc::par::resolve` reads before
/// this; any other is a request object by reference. A pushed request holds
/// none (RFC 9126 §2.1, refused at /par).
fn check_request_objects(params: &Params) -> Result<(), OAuthError> {
    if params.contains("request") {
        return Err(OAuthError::RequestNotSupported);
    }
    if params.contains("request_uri") {
        return Err(OAuthError::RequestUriNotSupported);
    }
    Ok(())
}

/// RFC 6749 §4.1.1: only the code flow is offered, and only to clients
/// registered for it (the response mode was read before: `ResponseMode::of`).
fn check_response_type(client: &Client, params: &Params) -> Result<(), OAuthError> {
    let response_type = params.require("response_type")?;
    if response_type != "code" {
        return Err(OAuthError::UnsupportedResponseType(
            "only response_type=code is supported".into(),
        ));
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the authorization code flow".into(),
        ));
    }
    Ok(())
}

/// The scopes to grant. RFC 6749 §3.3: a malformed scope is `invalid_scope`;
/// OpenID Core §3.1.2.1: unknown scopes are ignored, and scopes the client is
/// not registered for are not granted.
pub(crate) fn check_scope(client: &Client, params: &Params) -> Result<Scope, OAuthError> {
    let requested = Scope::parse(params.get("scope").unwrap_or(""))
        .map_err(|e| OAuthError::InvalidScope(e.to_string().into()))?;
    // OpenID Core §11: offline access is only for clients that can redeem a
    // refresh token.
    let refreshable = client.allows_grant(GrantType::RefreshToken);
    let scopes =
        requested.filter(|s| client.allows_scope(s) && (refreshable || s != "offline_access"));
    if requested.contains("openid") && !scopes.contains("openid") {
        return Err(OAuthError::InvalidScope(
            "this client is not registered for the openid scope".into(),
        ));
    }
    Ok(scopes)
}

/// OpenID Core §3.1.2.1: the space-delimited `prompt` values we know, and
/// prompt=none alone.
fn check_prompt(params: &Params) -> Result<Vec<String>, OAuthError> {
    let mut prompt: Vec<String> = Vec::new();
    for p in params.get("prompt").unwrap_or("").split(' ') {
        if p.is_empty() || prompt.iter().any(|q| q == p) {
            continue;
        }
        if !matches!(p, "none" | "login" | "consent" | "select_account") {
            // RFC 6749 §4.1.2.1: error_description has a restricted
            // character set, so the client's value is not echoed.
            return Err(OAuthError::InvalidRequest(
                "unsupported prompt value (none, login, consent, select_account)".into(),
            ));
        }
        prompt.push(p.to_owned());
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(OAuthError::InvalidRequest(
            "prompt=none cannot be combined with other values".into(),
        ));
    }
    Ok(prompt)
}

/// OpenID Core §3.1.2.1: `max_age` is a number of seconds.
fn check_max_age(params: &Params) -> Result<Option<i64>, OAuthError> {
    match params.get("max_age") {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .map(Some)
            .ok_or_else(|| {
                OAuthError::InvalidRequest("max_age must be a non-negative integer".into())
            }),
    }
}

/// RFC 7636 §4.3 with RFC 9700 §2.1.1: S256 only; required for public
/// clients and for clients registered with require_pkce.
fn check_pkce(client: &Client, params: &Params) -> Result<Option<String>, OAuthError> {
    let Some(challenge) = params.get("code_challenge") else {
        if client.pkce_required() {
            return Err(OAuthError::InvalidRequest(
                "this client must use PKCE (code_challenge with S256)".into(),
            ));
        }
        return Ok(None);
    };
    match params.get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") | None => {
            return Err(OAuthError::InvalidRequest(
                "code_challenge_method must be S256 (plain is not accepted)".into(),
            ));
        }
        Some(_) => {
            return Err(OAuthError::InvalidRequest(
                "unsupported code_challenge_method".into(),
            ));
        }
    }
    // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
    if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
        return Err(OAuthError::InvalidRequest(
            "code_challenge is not a base64url SHA-256 value".into(),
        ));
    }
    Ok(Some(challenge.to_owned()))
}

/// OpenID Core §3.1.2.1: id_token_hint is an ID token we issued, possibly
/// expired, for this client. Its `sub` is the user the client expects.
fn check_id_token_hint(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<Option<String>, OAuthError> {
    let Some(hint) = params.get("id_token_hint") else {
        return Ok(None);
    };
    match id_token::verify_hint(state, hint, &client.id) {
        Some(h) => Ok(Some(h.sub)),
        None => Err(OAuthError::InvalidRequest(
            "id_token_hint is not a valid ID token issued to this client".into(),
        )),
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}
