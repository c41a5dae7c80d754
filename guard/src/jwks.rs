//! The provider's JSON Web Key Set (RFC 7517 §5): fetched at start, cached as
//! long as its `Cache-Control: max-age` allows (RFC 9111 §5.2.2.1), fetched
//! again early only for a `kid` it does not know, and then at most once per
//! `min_refresh` so that tokens with random `kid`s cannot force refetches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::Value;

use crate::clock::{Clock, millis, unix_millis};
use crate::error::GuardError;
use crate::jwt::Algorithm;

/// Used when the JWKS response has no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// A JWKS is never kept longer than this, whatever its `max-age`.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// One published key and a verifier for each algorithm it may be used with.
struct Key {
    verifiers: Vec<(Algorithm, Box<dyn JwsVerifier>)>,
}

/// A parsed key set.
#[derive(Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Key>,
    /// Keys published without a `kid`, tried for tokens without one.
    anonymous: Vec<Key>,
}

pub(crate) enum Lookup<'a> {
    Found(&'a dyn JwsVerifier),
    Unknown,
    /// The key exists but is not for this algorithm (RFC 7517 §4.4 `alg`,
    /// or a key type that cannot verify it).
    WrongAlgorithm,
}

impl KeySet {
    /// Parse a JWK Set, keeping the signing keys usable with `allowed`.
    /// Keys we cannot use are skipped (RFC 7517 §5: "implementations SHOULD
    /// ignore JWKs within a JWK Set that use "kty" values that are not
    /// understood").
    pub(crate) fn parse(body: &[u8], allowed: &[Algorithm]) -> Result<Self, String> {
        let doc: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no \"keys\" array")?;
        let mut set = KeySet::default();
        for value in keys {
            let Some(object) = value.as_object() else {
                continue;
            };
            // RFC 7517 §4.2: a key for encryption is not a signing key.
            if object
                .get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
            {
                continue;
            }
            let Ok(jwk) = Jwk::from_map(object.clone()) else {
                continue;
            };
            let declared = jwk.algorithm().map(Algorithm::parse);
            let verifiers: Vec<_> = allowed
                .iter()
                .copied()
                // RFC 7517 §4.4: a key that names its algorithm is used only with it.
                .filter(|a| match declared {
                    Some(d) => d == Some(*a),
                    None => true,
                })
                .filter_map(|a| a.verifier(&jwk).ok().map(|v| (a, v)))
                .collect();
            if verifiers.is_empty() {
                continue;
            }
            let key = Key { verifiers };
            match jwk.key_id() {
                Some(kid) => {
                    set.by_kid.insert(kid.to_owned(), key);
                }
                None => set.anonymous.push(key),
            }
        }
        Ok(set)
    }

    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        let candidates: &[Key] = match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(key) => std::slice::from_ref(key),
                None => return Lookup::Unknown,
            },
            None if self.anonymous.is_empty() => return Lookup::Unknown,
            None => &self.anonymous,
        };
        candidates
            .iter()
            .flat_map(|k| k.verifiers.iter())
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| Lookup::Found(v.as_ref()))
            .unwrap_or(Lookup::WrongAlgorithm)
    }

    pub(crate) fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.anonymous.len()
    }
}

struct Fetched {
    etag: Option<String>,
    /// When the cached set goes stale (Unix ms).
    expires_at: i64,
    /// When we last asked (Unix ms), for the refetch rate limit.
    fetched_at: i64,
}

/// The cached key set of one `jwks_uri`.
pub(crate) struct Jwks {
    uri: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    allowed: Vec<Algorithm>,
    min_refresh: Duration,
    keys: RwLock<Arc<KeySet>>,
    fetched: Mutex<Fetched>,
    /// One fetch at a time; callers arriving meanwhile use its result.
    in_flight: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

impl Jwks {
    /// Fetch the key set once; the guard does not start without it.
    pub(crate) async fn load(
        uri: String,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        allowed: Vec<Algorithm>,
        min_refresh: Duration,
    ) -> Result<Self, GuardError> {
        let jwks = Jwks {
            uri,
            http,
            clock,
            allowed,
            min_refresh,
            keys: RwLock::new(Arc::new(KeySet::default())),
            fetched: Mutex::new(Fetched {
                etag: None,
                expires_at: 0,
                fetched_at: i64::MIN / 2,
            }),
            in_flight: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        };
        jwks.fetch().await?;
        Ok(jwks)
    }

    pub(crate) fn current(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Whether the cached set has outlived its `max-age`.
    pub(crate) fn is_stale(&self) -> bool {
        let now = unix_millis(self.clock.now());
        self.fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expires_at
            <= now
    }

    /// A token named a `kid` we do not know: fetch again, unless we did
    /// within `min_refresh`. Returns the key set to retry with, if new.
    pub(crate) async fn refresh_for_unknown_kid(&self) -> Option<Arc<KeySet>> {
        let seen = self.fetch_count();
        let _guard = self.in_flight.lock().await;
        // Someone else fetched while we waited: use their result.
        if self.fetch_count() != seen {
            return Some(self.current());
        }
        let now = unix_millis(self.clock.now());
        let last = self
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fetched_at;
        if now - last < millis(self.min_refresh) {
            return None;
        }
        match self.fetch_locked().await {
            Ok(()) => Some(self.current()),
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh for an unknown kid failed");
                None
            }
        }
    }

    /// Fetch again because the cached set expired.
    pub(crate) async fn refresh(&self) -> Result<(), GuardError> {
        let _guard = self.in_flight.lock().await;
        if !self.is_stale() {
            return Ok(());
        }
        self.fetch_locked().await
    }

    async fn fetch(&self) -> Result<(), GuardError> {
        let _guard = self.in_flight.lock().await;
        self.fetch_locked().await
    }

    async fn fetch_locked(&self) -> Result<(), GuardError> {
        let now = unix_millis(self.clock.now());
        let etag = {
            let mut f = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
            f.fetched_at = now;
            f.etag.clone()
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let mut request = self.http.get(&self.uri);
        if let Some(etag) = &etag {
            // RFC 9110 §13.1.2: the provider answers 304 if nothing changed.
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request.send().await.map_err(|source| GuardError::Http {
            what: "JWKS",
            source,
        })?;
        let status = response.status();
        let max_age = max_age(response.headers().get(CACHE_CONTROL));
        let new_etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
            let mut f = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
            f.expires_at = now + millis(max_age);
            return Ok(());
        }
        if !status.is_success() {
            return Err(GuardError::Status {
                what: "JWKS",
                status,
            });
        }
        let body = response.bytes().await.map_err(|source| GuardError::Http {
            what: "JWKS",
            source,
        })?;
        let set =
            KeySet::parse(&body, &self.allowed).map_err(|e| GuardError::invalid("JWKS", e))?;
        tracing::debug!(
            keys = set.len(),
            max_age_s = max_age.as_secs(),
            "JWKS fetched"
        );
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        let mut f = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        f.etag = new_etag;
        f.expires_at = now + millis(max_age);
        Ok(())
    }
}

/// How long a response may be reused (RFC 9111 §5.2.2.1 `max-age`;
/// `no-store` and `no-cache` mean not at all, §5.2.2.5 and §5.2.2.4).
pub(crate) fn max_age(header: Option<&reqwest::header::HeaderValue>) -> Duration {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return DEFAULT_MAX_AGE;
    };
    let mut found = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Duration::ZERO;
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            found = seconds
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    found.unwrap_or(DEFAULT_MAX_AGE).min(LONGEST_MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn cache_control_lifetimes() {
        let cases = [
            (None, DEFAULT_MAX_AGE),
            (Some("public, max-age=3600"), Duration::from_secs(3600)),
            (Some("max-age=\"60\""), Duration::from_secs(60)),
            (Some("no-cache"), Duration::ZERO),
            (Some("max-age=600, no-store"), Duration::ZERO),
            (Some("max-age=99999999"), LONGEST_MAX_AGE),
            (Some("max-age=soon"), DEFAULT_MAX_AGE),
            (Some("public"), DEFAULT_MAX_AGE),
        ];
        for (header, expected) in cases {
            let value = header.map(|h| HeaderValue::from_str(h).unwrap());
            assert_eq!(max_age(value.as_ref()), expected, "{header:?}");
        }
    }

    #[test]
    fn unusable_keys_are_skipped() {
        let body = br#"{"keys":[
            {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"OKP","kid":"ed","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}"#;
        let set = KeySet::parse(body, &Algorithm::ALL).unwrap();
        assert!(!set.contains_kid("hmac"), "symmetric keys never verify");
        assert!(!set.contains_kid("enc"), "encryption keys never verify");
        assert!(set.contains_kid("ed"));
        assert!(matches!(
            set.lookup(Some("ed"), Algorithm::EdDsa),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.lookup(Some("ed"), Algorithm::Rs256),
            Lookup::WrongAlgorithm
        ));
        assert!(matches!(
            set.lookup(Some("nope"), Algorithm::EdDsa),
            Lookup::Unknown
        ));
        assert!(KeySet::parse(b"[]", &Algorithm::ALL).is_err());
    }
}
