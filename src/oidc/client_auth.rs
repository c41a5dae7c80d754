//! Client authentication at the token, revocation and introspection
//! endpoints (RFC 6749 §2.3, OpenID Core §9): `client_secret_basic`,
//! `client_secret_post`, and `none` for public clients.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::OAuthError;
use crate::http::extract::Params;
use crate::state::AppState;
use crate::store::clients::{self, Client};

enum Presented {
    Secret { client_id: String, secret: String },
    Public { client_id: String },
}

fn bad_client(why: &'static str) -> OAuthError {
    OAuthError::InvalidClient(why.into())
}

fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let authorization = headers.get(header::AUTHORIZATION);
    if let Some(value) = authorization {
        let value = value
            .to_str()
            .map_err(|_| bad_client("malformed Authorization header"))?;
        let (scheme, credentials) = value
            .split_once(' ')
            .ok_or_else(|| bad_client("malformed Authorization header"))?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(bad_client(
                "only the Basic authorization scheme is accepted here",
            ));
        }
        let decoded = STANDARD
            .decode(credentials.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad_client("malformed Basic credentials"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| bad_client("malformed Basic credentials"))?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before encoding.
        let id = url_decode(id).ok_or_else(|| bad_client("malformed Basic credentials"))?;
        let secret = url_decode(secret).ok_or_else(|| bad_client("malformed Basic credentials"))?;
        // RFC 6749 §2.3: one authentication method per request.
        if params.contains("client_secret") {
            return Err(OAuthError::InvalidRequest(
                "use either HTTP Basic or client_secret, not both".into(),
            ));
        }
        if params.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::InvalidRequest(
                "client_id in the body does not match the authenticated client".into(),
            ));
        }
        return Ok(Presented::Secret {
            client_id: id,
            secret,
        });
    }
    match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(Presented::Secret {
            client_id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        (Some(id), None) => Ok(Presented::Public {
            client_id: id.to_owned(),
        }),
        (None, _) => Err(bad_client("client authentication is required")),
    }
}

fn url_decode(s: &str) -> Option<String> {
    let replaced = s.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(replaced.as_bytes())?;
    String::from_utf8(bytes).ok()
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Authenticate the calling client. Every failure is `invalid_client`
/// (401) with no hint of whether the client exists.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, OAuthError> {
    let presented = presented(headers, params)?;
    let (client_id, secret) = match &presented {
        Presented::Secret { client_id, secret } => (client_id.as_str(), Some(secret.as_str())),
        Presented::Public { client_id } => (client_id.as_str(), None),
    };
    // RFC 6749 Appendix A.1: client_id = *VSCHAR. Anything else names no
    // client, and must not reach the database (PostgreSQL rejects NUL in text).
    if !client_id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        tracing::info!("authentication with a malformed client_id");
        return Err(bad_client("client authentication failed"));
    }
    let client = clients::find(&state.db, client_id).await?;
    let Some(client) = client else {
        tracing::info!(client_id, "authentication by an unknown client");
        return Err(bad_client("client authentication failed"));
    };
    let ok = match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) => state.client_secrets.verify(hash, &client.id, secret).await,
        // A public client presents no secret (RFC 6749 §2.1, auth method none).
        (None, None) => true,
        _ => false,
    };
    if !ok {
        tracing::info!(client_id, "client authentication failed");
        return Err(bad_client("client authentication failed"));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let creds = STANDARD.encode("my%20client:p%3Ass+word");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {creds}").parse().unwrap(),
        );
        match presented(&h, &Params::default()).unwrap() {
            Presented::Secret { client_id, secret } => {
                assert_eq!(client_id, "my client");
                assert_eq!(secret, "p:ss word");
            }
            Presented::Public { .. } => panic!("expected a secret"),
        }
    }

    #[test]
    fn garbage_authorization_is_invalid_client() {
        for value in ["Basic", "Basic !!!", "Bearer abc", "Basic Zm9v"] {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            let err = presented(&h, &Params::default()).err().expect(value);
            assert_eq!(err.code(), "invalid_client", "{value}");
        }
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode("a:b")).parse().unwrap(),
        );
        let params = Params::parse(b"client_secret=b");
        assert_eq!(
            presented(&h, &params).err().unwrap().code(),
            "invalid_request"
        );
    }
}
