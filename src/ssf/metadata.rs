//! Transmitter configuration metadata (SSF 1.0 §7.1), served at
//! `/.well-known/ssf-configuration` (for an issuer with a path, SSF 1.0
//! §7.2's RFC 8615 form: the well-known segment between host and path).
//! Only what works is advertised; `default_subjects` is `[ssf]`'s.

use axum::routing::MethodRouter;
use serde_json::{Value, json};

use super::{POLL, PUSH};
use crate::state::AppState;

pub fn metadata(state: &AppState) -> Value {
    let c = &state.config;
    json!({
        "spec_version": "1_0",
        "issuer": c.issuer_str(),
        "jwks_uri": c.endpoint("/jwks"),
        "delivery_methods_supported": [PUSH, POLL],
        "configuration_endpoint": c.endpoint("/ssf/streams"),
        "status_endpoint": c.endpoint("/ssf/status"),
        "verification_endpoint": c.endpoint("/ssf/verify"),
        // SSF 1.0 §8.1.3.2 / §8.1.3.3.
        "add_subject_endpoint": c.endpoint("/ssf/subjects/add"),
        "remove_subject_endpoint": c.endpoint("/ssf/subjects/remove"),
        // SSF 1.0 §7.1.1: OAuth 2.0 bearer tokens (client_credentials).
        "authorization_schemes": [{ "spec_urn": "urn:ietf:rfc:6749" }],
        "default_subjects": c.ssf.default_subjects.as_str(),
    })
}

/// Built once with the router, like the discovery document.
pub fn ssf_configuration(state: &AppState) -> MethodRouter<AppState> {
    crate::oidc::discovery::static_json(&metadata(state))
}
