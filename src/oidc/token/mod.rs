//! The token endpoint (RFC 6749 §3.2): authenticate the client once, then
//! dispatch on `grant_type`.

mod authorization_code;
mod client_credentials;
pub(crate) mod issue;
pub(crate) mod redeem;
mod refresh_token;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use crate::dpop;
use crate::error::{DpopAt, OAuthError};
use crate::grant_type::GrantType;
use crate::http::extract::Params;
use crate::http::headers::no_store;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::state::AppState;
use crate::store::clients::Client;

pub use issue::TokenResponse;

/// A token request, by grant type (RFC 6749 §4.1.3, §4.4.2, §6).
pub enum GrantRequest<'a> {
    AuthorizationCode {
        code: &'a str,
        redirect_uri: Option<&'a str>,
        code_verifier: Option<&'a str>,
        resource: Option<&'a str>,
    },
    RefreshToken {
        refresh_token: &'a str,
        scope: Option<&'a str>,
        resource: Option<&'a str>,
    },
    ClientCredentials {
        scope: Option<&'a str>,
        resource: Option<&'a str>,
    },
    /// RFC 8628 §3.4.
    DeviceCode {
        device_code: &'a str,
        resource: Option<&'a str>,
    },
}

impl<'a> GrantRequest<'a> {
    pub fn parse(params: &'a Params) -> Result<Self, OAuthError> {
        let grant_type = params.require("grant_type")?;
        // RFC 6749 §5.2: a grant type we do not offer. Its name is not
        // echoed: error_description has a restricted character set.
        let Some(grant_type) = GrantType::parse(grant_type) else {
            return Err(OAuthError::UnsupportedGrantType(
                "this grant_type is not supported".into(),
            ));
        };
        Ok(match grant_type {
            GrantType::AuthorizationCode => GrantRequest::AuthorizationCode {
                code: params.require("code")?,
                redirect_uri: params.get("redirect_uri"),
                code_verifier: params.get("code_verifier"),
                resource: params.get("resource"),
            },
            GrantType::RefreshToken => GrantRequest::RefreshToken {
                refresh_token: params.require("refresh_token")?,
                scope: params.get("scope"),
                resource: params.get("resource"),
            },
            GrantType::ClientCredentials => GrantRequest::ClientCredentials {
                scope: params.get("scope"),
                resource: params.get("resource"),
            },
            GrantType::DeviceCode => GrantRequest::DeviceCode {
                device_code: params.require("device_code")?,
                resource: params.get("resource"),
            },
        })
    }

    fn grant_type(&self) -> GrantType {
        match self {
            GrantRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            GrantRequest::RefreshToken { .. } => GrantType::RefreshToken,
            GrantRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            GrantRequest::DeviceCode { .. } => GrantType::DeviceCode,
        }
    }
}

/// `POST /token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Response {
    let response = match handle(&state, &headers, &client, &params).await {
        Ok(body) => {
            if let Some(grant) = params.get("grant_type").and_then(GrantType::parse) {
                crate::metrics::token_issued(grant.as_str(), client.access_token_format.as_str());
            }
            no_store(Json(body).into_response())
        }
        Err(e) => e.into_response(),
    };
    dpop::offer_nonce(&state, response)
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let grant = GrantRequest::parse(params)?;
    // RFC 9449 §5: a proof binds what this request issues to its key.
    let key = dpop::check(
        state,
        headers,
        &dpop::Target {
            method: &Method::POST,
            path: "/token",
            access_token: None,
            at: DpopAt::TokenEndpoint,
        },
    )
    .await?;
    let dpop = key.as_deref();
    // RFC 9449 §5.2: `dpop_bound_access_tokens` makes the proof mandatory;
    // a missing one is a missing parameter (RFC 6749 §5.2).
    if client.dpop_bound_access_tokens && dpop.is_none() {
        return Err(OAuthError::InvalidRequest(
            "this client must send a DPoP proof".into(),
        ));
    }
    if !client.allows_grant(grant.grant_type()) {
        return Err(OAuthError::UnauthorizedClient(
            format!("this client may not use the {} grant", grant.grant_type()).into(),
        ));
    }
    match grant {
        GrantRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resource,
        } => {
            authorization_code::exchange(
                state,
                client,
                code,
                redirect_uri,
                code_verifier,
                resource,
                dpop,
            )
            .await
        }
        GrantRequest::RefreshToken {
            refresh_token,
            scope,
            resource,
        } => refresh_token::refresh(state, client, refresh_token, scope, resource, dpop).await,
        GrantRequest::ClientCredentials { scope, resource } => {
            client_credentials::grant(state, client, scope, resource, dpop).await
        }
        GrantRequest::DeviceCode {
            device_code,
            resource,
        } => crate::oidc::device_token::exchange(state, client, device_code, resource, dpop).await,
    }
}
