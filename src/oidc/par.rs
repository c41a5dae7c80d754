//! Pushed Authorization Requests (RFC 9126): `POST /par` validates an
//! authorization request of an authenticated client as /authorize would and
//! keeps it behind a one-time `request_uri`; /authorize reads it back
//! ([`resolve`]) from `client_id` and `request_uri` alone.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::OAuthError;
use crate::http::extract::Params;
use crate::http::headers::no_store;
use crate::oidc::authorize::request::{self, AuthorizationRequest, Channel, Rejection};
use crate::oidc::client_auth::AuthenticatedClient;
use crate::pages::PageError;
use crate::random::secret_token;
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::clients::{self, Client};
use crate::store::pushed_requests::{self, PushedRequest};

/// RFC 9126 §2.2: the `request_uri` is this URN with a random reference.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Client authentication parameters: they authenticate the push and are not
/// part of the authorization request, so they are never stored.
const CLIENT_AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// `POST /par` (RFC 9126 §2).
pub async fn push(
    State(state): State<AppState>,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Response {
    match handle(&state, &client, &params).await {
        // RFC 9126 §2.2: 201 with the reference and its lifetime.
        Ok(body) => no_store((StatusCode::CREATED, Json(body)).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<serde_json::Value, OAuthError> {
    // RFC 9126 §2.1: the request cannot itself be a reference.
    if params.contains("request_uri") {
        return Err(OAuthError::InvalidRequest(
            "request_uri must not be sent to the pushed_authorization_request_endpoint".into(),
        ));
    }
    // RFC 9126 §3: request objects (JAR) would be accepted here if we
    // supported them; we do not, at /par either.
    if params.contains("request") {
        return Err(OAuthError::RequestNotSupported);
    }
    // RFC 9126 §2.1: the same validation as at the authorization endpoint;
    // every error is answered here, in JSON.
    request::validate_for(state, client, params, Channel::Pushed)
        .await
        .map_err(Rejection::into_oauth_error)?;
    let reference = secret_token(state.rng.as_ref());
    let now = state.now();
    let ttl = state.config.par.request_uri_ttl.as_secs() as i64;
    pushed_requests::insert(
        &state.db,
        PushedRequest {
            reference_hash: token_hash(&reference),
            client_id: client.id.clone(),
            params: params.without(CLIENT_AUTH_PARAMS).to_urlencoded(),
            created_at: now,
            expires_at: now + ttl,
            consumed_at: None,
        },
    )
    .await?;
    tracing::info!(client_id = %client.id, "authorization request pushed");
    Ok(json!({
        "request_uri": format!("{REQUEST_URI_PREFIX}{reference}"),
        "expires_in": ttl,
    }))
}

/// A pushed request read back at /authorize: validated again (the client may
/// have changed since), not yet consumed.
pub struct Resolved {
    pub client: Client,
    pub request: AuthorizationRequest,
    pub reference: Reference,
}

/// The stored pushed request, to be used up.
pub struct Reference {
    hash: String,
}

impl Reference {
    /// Use the pushed request up (RFC 9126 §4: one-time use); false when
    /// another use got there first.
    pub async fn consume(&self, state: &AppState) -> Result<bool, sea_orm::DbErr> {
        pushed_requests::consume(&state.db, &self.hash, state.now()).await
    }
}

/// Whether the front-channel request refers to a pushed request; any other
/// `request_uri` is a request object by reference (OpenID Core §6.2), which
/// `request::validate` refuses.
pub fn is_pushed_reference(params: &Params) -> bool {
    params
        .get("request_uri")
        .is_some_and(|uri| uri.starts_with(REQUEST_URI_PREFIX))
}

/// RFC 9126 §4: the authorization request behind `request_uri`, for the
/// `client_id` that pushed it. Every other front-channel parameter is
/// ignored: the pushed ones are the request. A reference that is unknown,
/// used, expired or another client's gets the error page (nothing trusted
/// to redirect to); once found, errors go to its redirect URI.
pub async fn resolve(state: &AppState, params: &Params) -> Result<Resolved, Rejection> {
    let invalid = || {
        Rejection::Page(
            PageError::bad_request(
                "Sign-in link expired",
                "This sign-in request is no longer valid. Go back to the application and start again.",
            )
            .with_code("invalid_request_uri"),
        )
    };
    if params.is_duplicated("request_uri") || params.is_duplicated("client_id") {
        return Err(invalid());
    }
    let (Some(client_id), Some(reference)) = (
        params.get("client_id"),
        params
            .get("request_uri")
            .and_then(|u| u.strip_prefix(REQUEST_URI_PREFIX)),
    ) else {
        return Err(invalid());
    };
    let reference_hash = token_hash(reference);
    let pushed = pushed_requests::find_live(&state.db, &reference_hash, state.now())
        .await
        .map_err(PageError::from)?
        // RFC 9126 §4: bound to the client that pushed it.
        .filter(|p| p.client_id == client_id)
        .ok_or_else(|| {
            tracing::info!(client_id, "unknown, used, expired or foreign request_uri");
            invalid()
        })?;
    let client = clients::find(&state.db, &pushed.client_id)
        .await
        .map_err(PageError::from)?
        .filter(|c| !c.disabled)
        .ok_or_else(invalid)?;
    let stored = Params::parse(pushed.params.as_bytes());
    let request = request::validate_for(state, &client, &stored, Channel::Pushed).await?;
    Ok(Resolved {
        client,
        request,
        reference: Reference {
            hash: reference_hash,
        },
    })
}
