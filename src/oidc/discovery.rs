//! OpenID Connect Discovery 1.0 §3 and RFC 8414 §2: the provider metadata.
//! Only what works is advertised.

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};

use crate::grant_type::GrantType;
use crate::oidc::authorize::response::ResponseMode;
use crate::oidc::{client_assertion, introspection_jwt};
use crate::state::AppState;
use crate::tokens::claims;

pub fn metadata(state: &AppState) -> Value {
    let c = &state.config;
    // Only algorithms with a key lifecycle running can sign.
    let algs: Vec<&str> = c
        .keys
        .enabled_algorithms()
        .iter()
        .map(|a| a.as_str())
        .collect();
    json!({
        "issuer": c.issuer_str(),
        "authorization_endpoint": c.endpoint("/authorize"),
        "token_endpoint": c.endpoint("/token"),
        "userinfo_endpoint": c.endpoint("/userinfo"),
        "jwks_uri": c.endpoint("/jwks"),
        "revocation_endpoint": c.endpoint("/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": client_assertion::ALGORITHMS,
        "introspection_endpoint": c.endpoint("/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": client_assertion::ALGORITHMS,
        // RFC 9701 §8.1.
        "introspection_signing_alg_values_supported": [introspection_jwt::ALG.as_str()],
        "scopes_supported": claims::USER_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ResponseMode::SUPPORTED,
        "grant_types_supported": GrantType::ALL.map(|g| g.as_str()),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        // OpenID Core §9: the algorithms of private_key_jwt assertions.
        "token_endpoint_auth_signing_alg_values_supported": client_assertion::ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 §5.1: the algorithms a DPoP proof may use.
        "dpop_signing_alg_values_supported": crate::dpop::ALGORITHMS,
        "claims_supported": claims::SUPPORTED,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": c.endpoint("/par"),
        "require_pushed_authorization_requests": c.par.required,
        // RFC 8628 §4.
        "device_authorization_endpoint": c.endpoint("/device_authorization"),
        "require_request_uri_registration": false,
        "prompt_values_supported": ["none", "login", "consent"],
        "display_values_supported": ["page", "popup"],
        "ui_locales_supported": ["en"],
        "claims_locales_supported": ["en"],
        // RFC 9207 §3: the authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
        // RP-Initiated Logout 1.0 §2.1.
        "end_session_endpoint": c.endpoint("/logout"),
        // Back-Channel Logout 1.0 §2.1: logout tokens always carry `sid`.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // Front-Channel Logout 1.0 §3: the iframes always carry iss and sid.
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
    })
}

/// The document's response, built once when the router is: the metadata
/// depends only on the configuration, which does not change while the
/// process runs, so each request clones a reference-counted body instead of
/// rebuilding and serialising the JSON (docs/design.md, "The HTTP stack's
/// cost per request").
pub fn openid_configuration(state: &AppState) -> MethodRouter<AppState> {
    static_json(&metadata(state))
}

/// A GET (and HEAD) route answering `document` as fixed bytes, cacheable
/// for 300 s like every metadata document Signoff serves.
pub fn static_json(document: &Value) -> MethodRouter<AppState> {
    // Serialising a `Value` cannot fail: its map keys are strings.
    let body = Bytes::from(serde_json::to_vec(document).unwrap_or_default());
    get(move || {
        let body = body.clone();
        async move {
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    ),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=300"),
                    ),
                ],
                body,
            )
                .into_response()
        }
    })
}
