//! Client authentication at the token, revocation, introspection and PAR
//! endpoints (RFC 6749 §2.3, OpenID Core §9): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` (`oidc::client_assertion`), and
//! `none` for public clients. Every endpoint a
//! client calls with its credentials takes an [`AuthenticatedClient`], so the
//! form rules, the authentication and the disabled-client policy are the same
//! everywhere.

use std::net::IpAddr;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::audit;
use crate::error::OAuthError;
use crate::http::access::{ClientSlot, record_client};
use crate::http::client_addr::{self, ClientAddr};
use crate::http::extract::{Form, Params};
use crate::oidc::client_assertion;
use crate::secrets::dummy_password_hash;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::throttle::{Subject, Verdict};

/// A client that proved who it is on this request, with the request's form
/// parameters (RFC 6749 §2.3: the credentials travel in the same form).
///
/// In order: the body must be a form (RFC 6749 §4.1.3, RFC 7009 §2.1, RFC
/// 7662 §2.1), no parameter may be repeated or hold a NUL (RFC 6749 §3.1:
/// `invalid_request`), the client must authenticate (`invalid_client`), and
/// it must not be disabled.
///
/// A disabled client is refused as `invalid_client` (401) at every endpoint.
/// RFC 6749 §5.2 defines `invalid_client` as "client authentication failed",
/// which is what disabling a client means: its credentials are no longer
/// accepted anywhere. `unauthorized_client` is the wrong code: §5.2 reserves
/// it for an authenticated client that may not use the grant type it asked
/// for, and neither revocation (RFC 7009 §2.2.1) nor introspection (RFC 7662
/// §2.3, which asks for 401 when the caller's credentials are invalid) has a
/// grant type at all.
pub struct AuthenticatedClient {
    pub client: Client,
    pub params: Params,
}

impl FromRequest<AppState> for AuthenticatedClient {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let slot = req.extensions().get::<ClientSlot>().cloned();
        // The URL of the endpoint called: an audience a client assertion
        // may name (RFC 9126 §2).
        let endpoint = ENDPOINTS
            .iter()
            .find(|e| req.uri().path().ends_with(**e))
            .map(|e| state.config.endpoint(e))
            .unwrap_or_default();
        let ClientAddr(peer) = client_addr::of(
            req.extensions(),
            &headers,
            &state.config.http.trusted_proxies,
        );
        let Form(params) = Form::from_request(req, state).await?;
        params.reject_malformed()?;
        let client = authenticate(state, &headers, &params, peer, &endpoint).await?;
        record_client(slot.as_ref(), &client.id);
        if client.disabled {
            tracing::info!(client_id = %client.id, "a disabled client was refused");
            return Err(bad_client("this client is disabled"));
        }
        Ok(AuthenticatedClient { client, params })
    }
}

/// The endpoints that authenticate clients.
const ENDPOINTS: [&str; 5] = [
    "/token",
    "/introspect",
    "/revoke",
    "/par",
    "/device_authorization",
];

enum Presented {
    Secret {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: String,
        assertion: String,
    },
    Public {
        client_id: String,
    },
}

fn bad_client(why: &'static str) -> OAuthError {
    OAuthError::InvalidClient(why.into())
}

fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let authorization = headers.get(header::AUTHORIZATION);
    if params.contains("client_assertion") || params.contains("client_assertion_type") {
        // RFC 6749 §2.3: one authentication method per request.
        if authorization.is_some() || params.contains("client_secret") {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method, not several".into(),
            ));
        }
        return assertion(params);
    }
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

/// RFC 7521 §4.2 and RFC 7523 §2.2: a JWT client assertion. The client is
/// the one the assertion names (`sub`); a `client_id` sent too must agree.
fn assertion(params: &Params) -> Result<Presented, OAuthError> {
    if params.get("client_assertion_type") != Some(client_assertion::ASSERTION_TYPE) {
        return Err(bad_client("unsupported client_assertion_type"));
    }
    let assertion = params
        .get("client_assertion")
        .ok_or_else(|| bad_client("client_assertion is missing"))?;
    let client_id = client_assertion::claimed_client(assertion)
        .ok_or_else(|| bad_client("the client assertion names no client"))?;
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(bad_client("client_id does not match the client assertion"));
    }
    Ok(Presented::Assertion {
        client_id,
        assertion: assertion.to_owned(),
    })
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
/// (401) with no hint of whether the client exists: an unknown client id
/// with a secret costs the same argon2 verification as a real one, and both
/// are throttled alike (`crate::throttle`: 429 during a back-off).
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    peer: IpAddr,
    endpoint: &str,
) -> Result<Client, OAuthError> {
    let presented = presented(headers, params)?;
    let (client_id, secret) = match &presented {
        Presented::Secret { client_id, secret } => (client_id.as_str(), Some(secret.as_str())),
        Presented::Assertion { client_id, .. } | Presented::Public { client_id } => {
            (client_id.as_str(), None)
        }
    };
    // RFC 6749 Appendix A.1: client_id = *VSCHAR. Anything else names no
    // client, and must not reach the database (PostgreSQL rejects NUL in text).
    if !client_id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        tracing::info!("authentication with a malformed client_id");
        return Err(bad_client("client authentication failed"));
    }
    // Cached by the revocation view, which evicts a client's row on every
    // event that changed it (`store::client_cache`).
    let client = state.revocations.find_client(client_id).await?;
    if let Presented::Assertion { assertion, .. } = &presented {
        return by_assertion(state, client, assertion, peer, endpoint).await;
    }
    let stored = client.as_ref().and_then(|c| c.secret_hash.as_deref());
    let verdict = match (&client, stored, secret) {
        // A public client presents no secret (RFC 6749 §2.1, auth method
        // none); a client registered with keys is not public.
        (Some(c), None, None) if c.is_public() => Verdict::Verified,
        (_, _, None) => Verdict::Wrong,
        (Some(_), Some(hash), Some(secret)) => {
            let check = state
                .client_secrets
                .verify(&state.passwords, hash, client_id, secret);
            state
                .throttle
                .guard(Subject::Client(client_id), peer, check)
                .await
        }
        // An unknown client, or a public one presenting a secret.
        (_, _, Some(secret)) => {
            let check = async {
                state
                    .passwords
                    .verify(secret, dummy_password_hash())
                    .await
                    .map(|_| false)
            };
            state
                .throttle
                .guard(Subject::Client(client_id), peer, check)
                .await
        }
    };
    settle(state, client_id, client, verdict, peer).await
}

/// The answer to a verdict, the same for secrets and assertions: refusals
/// are counted and logged, and failures of a registered client are stored
/// in the audit trail.
async fn settle(
    state: &AppState,
    client_id: &str,
    client: Option<Client>,
    verdict: Verdict,
    peer: IpAddr,
) -> Result<Client, OAuthError> {
    // Failures only (a success is every token request): a client id that
    // names no client is not stored.
    let known = client.as_ref().map(|c| c.id.clone());
    let failed = |outcome| audit::Entry {
        actor: "client",
        action: "client_auth",
        subject: known.clone(),
        client_id: known.clone(),
        address: Some(peer),
        outcome,
        detail: known.is_none().then(|| "unknown client".to_owned()),
    };
    match (verdict, client) {
        (Verdict::Verified, Some(client)) => Ok(client),
        (Verdict::Throttled { retry_after }, _) => {
            // Counted and logged, not stored: a refusal during a back-off
            // costs the sender nothing, and a row each would let anyone
            // write to the database at line rate.
            crate::metrics::client_auth_refused("throttled");
            tracing::info!(target: "audit", client_id, outcome = "throttled", "client authentication refused during a back-off");
            Err(OAuthError::Throttled(retry_after))
        }
        (Verdict::Busy { retry_after }, _) => Err(OAuthError::Unavailable(retry_after)),
        _ => {
            tracing::info!(client_id, "client authentication failed");
            crate::metrics::client_auth_refused("failure");
            // Stored for a registered client only: failures for made-up ids
            // are logged and counted, never a row each.
            if known.is_some() {
                audit::record(&state.db, state.now(), failed("failure")).await;
            }
            Err(bad_client("client authentication failed"))
        }
    }
}

/// `private_key_jwt`: the assertion verified against the keys of the
/// client it names, throttled like a secret (a wrong signature counts as a
/// failed attempt).
async fn by_assertion(
    state: &AppState,
    client: Option<Client>,
    assertion: &str,
    peer: IpAddr,
    endpoint: &str,
) -> Result<Client, OAuthError> {
    let Some(client) = client.filter(|c| c.keys.is_some()) else {
        tracing::info!("client assertion for a client without registered keys");
        crate::metrics::client_auth_refused("failure");
        return Err(bad_client("client authentication failed"));
    };
    let mut internal = None;
    let check = async {
        match client_assertion::verify(state, &client, assertion, endpoint).await {
            Ok(()) => Ok(true),
            Err(client_assertion::Refusal::Invalid(why)) => {
                tracing::info!(client_id = %client.id, why, "client assertion refused");
                Ok(false)
            }
            Err(client_assertion::Refusal::Internal(e)) => {
                internal = Some(e);
                Ok(false)
            }
        }
    };
    let verdict = state
        .throttle
        .guard(Subject::Client(&client.id), peer, check)
        .await;
    if let Some(e) = internal {
        return Err(OAuthError::Internal(e));
    }
    let client_id = client.id.clone();
    settle(state, &client_id, Some(client), verdict, peer).await
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
            _ => panic!("expected a secret"),
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
