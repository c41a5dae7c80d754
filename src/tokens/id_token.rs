//! ID tokens (OpenID Core §2, §3.1.3.6).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::keys::SigningKey;

#[derive(Debug, Serialize)]
pub struct IdTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    /// OpenID Core §2: the party the token was issued to.
    pub azp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<&'a str>>,
    #[serde(flatten)]
    pub user_claims: Map<String, Value>,
}

pub fn sign(key: &SigningKey, claims: &IdTokenClaims<'_>) -> anyhow::Result<String> {
    key.sign("JWT", claims)
}

/// What a trusted `id_token_hint` tells us.
#[derive(Debug, Clone)]
pub struct IdTokenHint {
    pub sub: String,
    pub sid: Option<String>,
    pub aud: Vec<String>,
}

#[derive(serde::Deserialize)]
struct HintClaims {
    iss: String,
    sub: String,
    aud: Audience,
    #[serde(default)]
    sid: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Verify an ID token we issued, ignoring its expiry (OpenID Core §3.1.2.1
/// and RP-Initiated Logout §2 accept expired hints): the signature must check
/// against a published key, `iss` must be ours, and when `client_id` is given
/// it must be among the audiences.
pub fn verify_hint(
    state: &crate::state::AppState,
    token: &str,
    client_id: &str,
) -> Option<IdTokenHint> {
    let hint = verify_any_audience(state, token)?;
    hint.aud.iter().any(|a| a == client_id).then_some(hint)
}

pub fn verify_any_audience(state: &crate::state::AppState, token: &str) -> Option<IdTokenHint> {
    match check_any_audience(state, token) {
        HintCheck::Trusted(h) => Some(h),
        HintCheck::KeyGone | HintCheck::Invalid => None,
    }
}

/// What an `id_token_hint` turned out to be.
#[derive(Debug)]
pub enum HintCheck {
    Trusted(IdTokenHint),
    /// Well-formed, naming us as issuer, but signed by a key we no longer
    /// hold (removed after rotation, or revoked): it cannot be verified, nor
    /// told from a forgery, so it identifies nothing; it is not proof that
    /// someone else forged it either.
    KeyGone,
    Invalid,
}

/// [`verify_any_audience`], telling a hint whose key is gone from one that
/// is not ours.
pub fn check_any_audience(state: &crate::state::AppState, token: &str) -> HintCheck {
    let Some(header) = josekit::jwt::decode_header(token).ok() else {
        return HintCheck::Invalid;
    };
    // Our access tokens (at+jwt) and logout tokens (logout+jwt) are
    // signed with the same keys but are not ID tokens.
    if header
        .claim("typ")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t != "JWT")
    {
        return HintCheck::Invalid;
    }
    let Some(kid) = header.claim("kid").and_then(|k| k.as_str()) else {
        return HintCheck::Invalid;
    };
    let Some(key) = state.keys.by_kid(kid) else {
        return if unverified_issuer(token).as_deref() == Some(state.config.issuer_str()) {
            HintCheck::KeyGone
        } else {
            HintCheck::Invalid
        };
    };
    let Ok((payload, _)) = josekit::jws::deserialize_compact(token, key.verifier()) else {
        return HintCheck::Invalid;
    };
    let Ok(claims) = serde_json::from_slice::<HintClaims>(&payload) else {
        return HintCheck::Invalid;
    };
    if claims.iss != state.config.issuer_str() {
        return HintCheck::Invalid;
    }
    let aud = match claims.aud {
        Audience::One(a) => vec![a],
        Audience::Many(a) => a,
    };
    HintCheck::Trusted(IdTokenHint {
        sub: claims.sub,
        sid: claims.sid,
        aud,
    })
}

/// The `iss` a compact JWS claims, unverified: only to tell a token of ours
/// whose key is gone from a stranger's.
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    Some(value.get("iss")?.as_str()?.to_owned())
}
