//! JWT Response for OAuth Token Introspection (RFC 9701): a resource server
//! that asks with `Accept: application/token-introspection+jwt` gets the
//! introspection response signed by this provider, so it can prove later
//! what it was told.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::error::OAuthError;
use crate::http::headers::no_store;
use crate::jws::Algorithm;
use crate::state::AppState;
use crate::store::clients::Client;

/// RFC 9701 §4 / §7.1: the media type of the request and the response.
pub const MEDIA_TYPE: &str = "application/token-introspection+jwt";
/// RFC 9701 §5: the JWS `typ`.
const TYP: &str = "token-introspection+jwt";
/// RFC 9701 §6: without a registered `introspection_signed_response_alg`
/// the default is RS256, which every deployment has (OpenID Core §15.1).
pub const ALG: Algorithm = Algorithm::Rs256;

/// RFC 9701 §4: does the caller ask for a signed response? A media range
/// naming the type with a zero quality (RFC 9110 §12.4.2) is a refusal.
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let is_type = parts
                .next()
                .is_some_and(|t| t.eq_ignore_ascii_case(MEDIA_TYPE));
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q")
                        && v.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
                })
            });
            is_type && !refused
        })
}

#[derive(Serialize)]
struct IntrospectionJwt<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    token_introspection: &'a Value,
}

/// RFC 9701 §5: the response as a JWT: `iss`, `aud` (the caller), `iat`,
/// and the usual response in `token_introspection`.
pub fn respond(state: &AppState, caller: &Client, body: &Value) -> Result<Response, OAuthError> {
    let now = state.now();
    let key = state
        .keys
        .signer(ALG, now)
        .ok_or_else(|| OAuthError::Internal(anyhow::anyhow!("no {ALG} signing key is active")))?;
    let jwt = key.sign(
        TYP,
        &IntrospectionJwt {
            iss: state.config.issuer_str(),
            aud: &caller.id,
            iat: now,
            token_introspection: body,
        },
    )?;
    let mut response = (StatusCode::OK, jwt).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    Ok(no_store(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_asks_for_a_jwt_unless_refused() {
        let cases = [
            ("application/token-introspection+jwt", true),
            (
                "application/json, application/token-introspection+jwt;q=0.9",
                true,
            ),
            ("Application/Token-Introspection+JWT", true),
            ("application/token-introspection+jwt;q=0", false),
            ("application/json", false),
            ("*/*", false),
        ];
        for (accept, expected) in cases {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, accept.parse().unwrap());
            assert_eq!(wanted(&h), expected, "{accept}");
        }
        assert!(!wanted(&HeaderMap::new()));
    }
}
