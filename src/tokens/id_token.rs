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
    let key = {
        let header = josekit::jwt::decode_header(token).ok()?;
        // Our access tokens (at+jwt) and logout tokens (logout+jwt) are
        // signed with the same keys but are not ID tokens.
        if header
            .claim("typ")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t != "JWT")
        {
            return None;
        }
        let kid = header.claim("kid")?.as_str()?.to_owned();
        state.keys.by_kid(&kid)?
    };
    let (payload, _) = josekit::jws::deserialize_compact(token, key.verifier()).ok()?;
    let claims: HintClaims = serde_json::from_slice(&payload).ok()?;
    if claims.iss != state.config.issuer_str() {
        return None;
    }
    let aud = match claims.aud {
        Audience::One(a) => vec![a],
        Audience::Many(a) => a,
    };
    Some(IdTokenHint {
        sub: claims.sub,
        sid: claims.sid,
        aud,
    })
}
