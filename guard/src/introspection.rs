//! Token introspection (RFC 7662) with the guard's client credentials: for
//! opaque access tokens, and as the fallback when the feed is stale. An
//! answer is cached no longer than the feed can vouch for it: at most the
//! freshness bound, and only used while the feed is fresh (a revocation the
//! feed does not carry, such as `/revoke` of one opaque token, therefore
//! counts within the bound).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;
use serde_json::{Map, Value};

use crate::access_token::audiences;
use crate::claims::{Claims, ClaimsData, TokenKind};
use crate::error::GuardError;
use crate::provider::Credentials;

pub(crate) struct Introspector {
    http: reqwest::Client,
    endpoint: String,
    credentials: Credentials,
    issuer: String,
    audience: String,
    /// Token hash → the answer and the Unix ms until which it may be
    /// reused.
    cache: Mutex<HashMap<Box<str>, (Claims, i64), RandomState>>,
    ttl_ms: i64,
    capacity: usize,
}

/// What the provider said.
pub(crate) enum Answer {
    Active(Claims),
    /// Inactive, or not an access token for this resource.
    Inactive,
}

impl Introspector {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoint: String,
        credentials: Credentials,
        issuer: String,
        audience: String,
        ttl_ms: i64,
        capacity: usize,
    ) -> Self {
        Introspector {
            http,
            endpoint,
            credentials,
            issuer,
            audience,
            cache: Mutex::new(HashMap::default()),
            ttl_ms,
            capacity,
        }
    }

    /// The cached answer for the token whose `token_hash` this is.
    pub(crate) fn cached(&self, hash: &str, now_ms: i64) -> Option<Claims> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(hash)
            .filter(|(_, until)| *until > now_ms)
            .map(|(claims, _)| claims.clone())
    }

    /// Ask the provider now. `cache` keeps an active answer for reuse,
    /// under `hash` (the token's `token_hash`).
    pub(crate) async fn introspect(
        &self,
        token: &str,
        hash: &str,
        now_ms: i64,
        cache: bool,
    ) -> Result<Answer, GuardError> {
        let response = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::AUTHORIZATION, self.credentials.basic())
            // RFC 7662 §2.1: the token, with a hint of its type.
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|source| GuardError::Http {
                what: "introspection",
                source,
            })?;
        if !response.status().is_success() {
            return Err(GuardError::Status {
                what: "introspection",
                status: response.status(),
            });
        }
        let body: Map<String, Value> =
            response.json().await.map_err(|source| GuardError::Http {
                what: "introspection",
                source,
            })?;
        let Some(claims) = self.interpret(body, now_ms / 1000) else {
            return Ok(Answer::Inactive);
        };
        if cache {
            let until = (now_ms + self.ttl_ms).min(claims.expires_at() * 1000);
            let mut entries = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len() >= self.capacity {
                entries.retain(|_, (_, u)| *u > now_ms);
                if entries.len() >= self.capacity {
                    entries.clear();
                }
            }
            entries.insert(hash.into(), (claims.clone(), until));
        }
        Ok(Answer::Active(claims))
    }

    /// RFC 7662 §2.2, and §4: the resource server checks that the token is
    /// meant for it.
    fn interpret(&self, body: Map<String, Value>, now: i64) -> Option<Claims> {
        if body.get("active") != Some(&Value::Bool(true)) {
            return None;
        }
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        // A refresh token is not a bearer token for a resource, nor is a
        // DPoP-bound access token (RFC 9449 §6.2, §7.2: `token_type` DPoP).
        if text("token_type").is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
            return None;
        }
        if text("iss").is_some_and(|iss| iss != self.issuer) {
            return None;
        }
        let aud = audiences(body.get("aud"))?;
        if !aud.contains(&self.audience) {
            return None;
        }
        let exp = body.get("exp").and_then(Value::as_i64)?;
        if exp <= now {
            return None;
        }
        let client_id = text("client_id")?;
        Some(Claims(Arc::new(ClaimsData {
            kind: TokenKind::Introspected,
            iss: self.issuer.clone(),
            sub: text("sub").unwrap_or_else(|| client_id.clone()),
            scope: text("scope").unwrap_or_default(),
            iat: body.get("iat").and_then(Value::as_i64),
            nbf: body.get("nbf").and_then(Value::as_i64),
            jti: text("jti"),
            sid: text("sid"),
            gid: text("gid"),
            ver: body.get("ver").and_then(Value::as_i64),
            cver: body.get("cver").and_then(Value::as_i64),
            kid: None,
            client_id,
            aud,
            exp,
            all: body,
        })))
    }

    pub(crate) fn sweep(&self, now_ms: i64) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, until)| *until > now_ms);
    }
}

/// SHA-256 of an opaque token, base64url without padding: how Signoff
/// stores and names it (docs/ssf.md `token_hash`).
pub(crate) fn token_hash(token: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(openssl::sha::sha256(token.as_bytes()))
}
