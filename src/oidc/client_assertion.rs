//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID
//! Core §9): the client signs a short-lived JWT with a key whose public half
//! it registered (`oidc::client_keys`). Accepted wherever clients
//! authenticate (`oidc::client_auth`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use serde_json::Value;

use crate::state::AppState;
use crate::store::clients::{Client, ClientKeys};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Signature algorithms accepted: asymmetric only (`none` and HMAC are
/// refused; a client secret is not a key here).
pub const ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];
/// Longest `jti` accepted.
const MAX_JTI_BYTES: usize = 256;

/// Why an assertion was not accepted (logged, never sent: every refusal is
/// `invalid_client`).
#[derive(Debug)]
pub enum Refusal {
    Invalid(String),
    Internal(anyhow::Error),
}

fn invalid<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::Invalid(why.into()))
}

/// The client an assertion claims to come from (its `sub`, RFC 7523 §3
/// item 2), read without verifying anything, to find that client's keys.
pub fn claimed_client(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Verify `assertion` as `client`'s authentication at `endpoint` (the URL
/// of the endpoint called), and spend its `jti`.
pub async fn verify(
    state: &AppState,
    client: &Client,
    assertion: &str,
    endpoint: &str,
) -> Result<(), Refusal> {
    let header = josekit::jwt::decode_header(assertion)
        .map_err(|_| Refusal::Invalid("the assertion is not a JWS".into()))?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !ALGORITHMS.contains(&alg.as_str()) {
        return invalid(format!("algorithm {alg:?} is not accepted"));
    }
    // RFC 7515 §4.1.11: we understand no critical extension.
    if header.claim("crit").is_some() {
        return invalid("the assertion has critical header parameters");
    }
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let now = state.now();
    let keys = match &client.keys {
        Some(ClientKeys::Jwks(text)) => crate::oidc::client_keys::parse_jwks(text)
            .map_err(|e| Refusal::Internal(anyhow::anyhow!("stored JWK Set: {e}")))?,
        Some(ClientKeys::Uri(uri)) => state
            .client_jwks
            .keys(&state.config.client_auth, uri, kid.as_deref(), now)
            .await
            .map_err(|e| Refusal::Invalid(format!("the client's jwks_uri: {e}")))?
            .as_ref()
            .clone(),
        None => return invalid("the client has no registered keys"),
    };
    let payload = keys
        .iter()
        .filter(|k| kid.is_none() || k.key_id() == kid.as_deref())
        .filter(|k| k.algorithm().is_none_or(|a| a == alg))
        .find_map(|k| {
            let verifier = verifier(&alg, k)?;
            jws::deserialize_compact(assertion, verifier.as_ref())
                .ok()
                .map(|(payload, _)| payload)
        })
        .ok_or_else(|| Refusal::Invalid("no registered key verifies the assertion".into()))?;
    let claims: Value = serde_json::from_slice(&payload)
        .map_err(|_| Refusal::Invalid("the assertion's claims are not JSON".into()))?;
    let jti = check_claims(state, client, &claims, endpoint, now)?;
    // RFC 7523 §3 item 7, OpenID Core §9: a jti is used once, on every
    // instance; remembered until the assertion expires (plus the skew).
    let exp = claims["exp"].as_i64().unwrap_or(now);
    let skew = state.config.keys.clock_skew.as_secs() as i64;
    let key = format!("{}:{}:{jti}", client.id.len(), client.id);
    let first = crate::store::replay::first_use(
        &state.db,
        "client_assertion",
        &key,
        exp.saturating_add(skew),
    )
    .await
    .map_err(|e| Refusal::Internal(e.into()))?;
    if !first {
        return invalid("the assertion's jti was used before");
    }
    Ok(())
}

fn verifier(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    Some(match alg {
        "RS256" => Box::new(jws::RS256.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(jws::PS256.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(jws::ES256.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(jws::EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    })
}

/// RFC 7523 §3 and OpenID Core §9: the claims of a verified assertion. The
/// `jti` on success.
fn check_claims<'a>(
    state: &AppState,
    client: &Client,
    claims: &'a Value,
    endpoint: &str,
    now: i64,
) -> Result<&'a str, Refusal> {
    // §3 items 1-2: issued by the client, about the client.
    if claims["iss"].as_str() != Some(client.id.as_str())
        || claims["sub"].as_str() != Some(client.id.as_str())
    {
        return invalid("iss and sub must both be the client id");
    }
    // §3 item 3: the audience identifies us. OpenID Core §9 (with its 2023
    // errata) and RFC 9126 §2: the issuer, the token endpoint, or the URL of
    // the endpoint called.
    let ours = [
        state.config.issuer_str().to_owned(),
        state.config.endpoint("/token"),
        endpoint.to_owned(),
    ];
    let audience_ok = match &claims["aud"] {
        Value::String(aud) => ours.contains(aud),
        Value::Array(auds) => auds
            .iter()
            .any(|a| a.as_str().is_some_and(|a| ours.iter().any(|o| o == a))),
        _ => false,
    };
    if !audience_ok {
        return invalid("aud does not name this server");
    }
    // §3 item 4: exp is required; a bounded lifetime keeps the jti
    // memory bounded too.
    let skew = state.config.keys.clock_skew.as_secs() as i64;
    let max_lifetime = state.config.client_auth.assertion_max_lifetime.as_secs() as i64;
    let Some(exp) = claims["exp"].as_i64() else {
        return invalid("exp is missing");
    };
    if exp.saturating_add(skew) <= now {
        return invalid("the assertion has expired");
    }
    if exp > now.saturating_add(max_lifetime).saturating_add(skew) {
        return invalid("the assertion lives longer than client_auth.assertion_max_lifetime");
    }
    // §3 item 5: not before.
    if claims["nbf"].as_i64().is_some_and(|nbf| nbf > now + skew) {
        return invalid("the assertion is not valid yet (nbf)");
    }
    if claims["iat"].as_i64().is_some_and(|iat| iat > now + skew) {
        return invalid("the assertion was issued in the future (iat)");
    }
    // OpenID Core §9: jti is required.
    match claims["jti"].as_str() {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_BYTES => Ok(jti),
        _ => invalid("jti is missing or too long"),
    }
}
