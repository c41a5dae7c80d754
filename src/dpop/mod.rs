//! DPoP (RFC 9449): tokens bound to a key the client holds. A request
//! carries a proof, a JWT signed by that key, naming the request; tokens
//! issued with it carry the key's thumbprint (`cnf.jkt`) and are accepted
//! only with a fresh proof by the same key. `proof` checks one proof as a
//! pure function; this module adds what needs state: one-time `jti`s across
//! instances (`store::replay`) and the server nonces (`nonce`).

mod nonce;
pub mod proof;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;

use crate::error::{DpopAt, OAuthError};
use crate::state::AppState;
use crate::store::replay;

pub use proof::ALGORITHMS;

/// RFC 9449 §4.1: the request header carrying the proof.
pub const HEADER: HeaderName = HeaderName::from_static("dpop");
/// RFC 9449 §8.1: the response header carrying a server nonce.
pub const NONCE_HEADER: HeaderName = HeaderName::from_static("dpop-nonce");
/// Largest proof accepted: a proof with an RSA-8192 key and signature fits.
const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The `store::replay` namespace of proof `jti`s.
const REPLAY_NAMESPACE: &str = "dpop";

/// The request a proof must name.
pub struct Target<'a> {
    pub method: &'a Method,
    /// The endpoint's path under the issuer (`/token`, `/userinfo`).
    pub path: &'a str,
    /// The access token presented with the proof (`ath`, RFC 9449 §4.3).
    pub access_token: Option<&'a str>,
    pub at: DpopAt,
}

/// Check the request's DPoP proof, if it has one (RFC 9449 §4.3): the
/// thumbprint of the key it proves possession of, or `None` without a
/// `DPoP` header. A proof counts once: its `jti` is spent here.
pub async fn check(
    state: &AppState,
    headers: &HeaderMap,
    target: &Target<'_>,
) -> Result<Option<String>, OAuthError> {
    let invalid = |desc: &'static str| OAuthError::InvalidDpopProof {
        desc: desc.into(),
        at: target.at,
    };
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    // RFC 9449 §4.3 item 1: exactly one DPoP header, one JWT.
    if values.next().is_some() {
        return Err(invalid("more than one DPoP header"));
    }
    if value.len() > MAX_PROOF_BYTES {
        return Err(invalid("the DPoP proof is too large"));
    }
    let proof = value
        .to_str()
        .map_err(|_| invalid("the DPoP proof is not a JWT"))?;
    let config = &state.config.dpop;
    let now = state.now();
    let url = state.config.endpoint(target.path);
    let checked = proof::check(
        proof,
        &proof::Expected {
            method: target.method.as_str(),
            url: &url,
            access_token: target.access_token,
            now,
            window: config.window_secs(),
        },
    )
    .map_err(invalid)?;
    // RFC 9449 §8 item 10 (and §9 at a resource): the current server nonce.
    if config.require_nonce {
        let fresh = checked.nonce.as_deref().is_some_and(|n| {
            nonce::is_current(state.keys.master_keys(), n, now, config.rotation_secs())
        });
        if !fresh {
            return Err(OAuthError::UseDpopNonce {
                nonce: current_nonce(state),
                at: target.at,
            });
        }
    }
    // RFC 9449 §11.1: a proof is used once, on any instance. It is
    // remembered until its `iat` leaves the window; the key is part of the
    // identifier, so clients cannot collide.
    let id = format!("{}.{}", checked.jkt, checked.jti);
    let expires_at = checked.iat.saturating_add(config.window_secs());
    if !replay::first_use(&state.db, REPLAY_NAMESPACE, &id, expires_at).await? {
        tracing::warn!(jkt = %checked.jkt, "DPoP proof replayed");
        return Err(invalid("the DPoP proof was already used"));
    }
    Ok(Some(checked.jkt))
}

fn current_nonce(state: &AppState) -> String {
    nonce::current(
        state.keys.master_keys(),
        state.now(),
        state.config.dpop.rotation_secs(),
    )
}

/// RFC 9449 §8.2: with nonces required, every response of an endpoint that
/// takes proofs carries the current nonce, so a client learns the next one
/// before the one it holds expires.
pub fn offer_nonce(state: &AppState, mut response: Response) -> Response {
    if state.config.dpop.require_nonce
        && let Ok(value) = HeaderValue::from_str(&current_nonce(state))
    {
        response.headers_mut().insert(NONCE_HEADER, value);
    }
    response
}
