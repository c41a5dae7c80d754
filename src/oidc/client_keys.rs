//! The public keys of `private_key_jwt` clients (RFC 7523 §2.2, OpenID Core
//! §9, §10.1.1): a JWK Set registered with the client, or fetched from its
//! `jwks_uri`, through a bounded in-memory cache (`[client_auth]`).
//!
//! Fetching a URL a client chose is a server-side request forgery risk: the
//! URL must be https (http only on a loopback address), its host must
//! resolve to public addresses only (unless `allow_private_jwks_uri`), the
//! connection goes to the address checked (no second DNS lookup), redirects
//! are not followed, and the body and time are bounded.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use josekit::jwk::Jwk;
use serde_json::{Map, Value};
use url::Url;

use crate::config::{ClientAuthConfig, is_loopback_host};

/// At most this many keys in a client's JWK Set.
const MAX_KEYS: usize = 20;
/// Largest registered JWK Set, in bytes.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2,
/// §6.3.2, §6.4.1; RFC 8037 §2): a client registers public keys only.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A client's JWK Set: its signature keys, each checked to be public.
pub fn parse_jwks(text: &str) -> Result<Vec<Jwk>, String> {
    if text.len() > MAX_JWKS_BYTES {
        return Err(format!("the JWK Set is over {MAX_JWKS_BYTES} bytes"));
    }
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("the JWK Set is not JSON: {e}"))?;
    // RFC 7517 §5: an object with a `keys` array.
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWK Set has no keys array (RFC 7517 §5)")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("the JWK Set must hold 1 to {MAX_KEYS} keys"));
    }
    keys.iter().map(parse_key).collect()
}

fn parse_key(key: &Value) -> Result<Jwk, String> {
    let map: Map<String, Value> = key.as_object().cloned().ok_or("a key is not an object")?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| map.contains_key(**m)) {
        return Err(format!(
            "a key has the private member {member}: register public keys only"
        ));
    }
    match map.get("kty").and_then(Value::as_str) {
        Some("RSA" | "EC" | "OKP") => {}
        _ => return Err("a key's kty is not RSA, EC or OKP".into()),
    }
    // RFC 7517 §4.2: keys for encryption are not for signatures.
    if map.get("use").is_some_and(|u| u != "sig") {
        return Err("a key's use is not sig".into());
    }
    Jwk::from_map(map).map_err(|e| format!("a key is not a valid JWK: {e}"))
}

/// Registration rule for a `jwks_uri`: https, or http on a loopback host
/// (development), no fragment, no user information.
pub fn validate_jwks_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri} is not an absolute URI: {e}"))?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{uri} must have no fragment and no user information"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        _ => Err(format!(
            "{uri} must be https (http only for loopback hosts)"
        )),
    }
}

/// Addresses a server must not be made to call: everything but the public
/// internet (RFC 6890 special-purpose ranges).
pub fn is_private(ip: IpAddr) -> bool {
    crate::http::outbound::is_special_purpose(ip)
}

struct Cached {
    keys: Arc<Vec<Jwk>>,
    fetched_at: i64,
}

/// JWK Sets fetched from `jwks_uri`s: at most `jwks_uri_cache_entries`,
/// each used for `jwks_uri_cache_ttl` (the bound on how long a key the
/// client withdrew is still accepted).
pub struct JwksCache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new()
    }
}

impl JwksCache {
    pub fn new() -> Self {
        JwksCache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The keys at `uri`, from the cache while fresh. A `kid` the cached
    /// set lacks fetches again, at most every `jwks_uri_min_refetch`.
    pub async fn keys(
        &self,
        config: &ClientAuthConfig,
        uri: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Arc<Vec<Jwk>>, String> {
        let ttl = config.jwks_uri_cache_ttl.as_secs() as i64;
        let min_refetch = config.jwks_uri_min_refetch.as_secs() as i64;
        let cached = self.cached(uri).filter(|(_, at)| now - at < ttl);
        if let Some((keys, fetched_at)) = &cached {
            let knows_kid = kid.is_none_or(|kid| keys.iter().any(|k| k.key_id() == Some(kid)));
            if knows_kid || now - fetched_at < min_refetch {
                return Ok(keys.clone());
            }
        }
        let keys = Arc::new(fetch(config, uri).await?);
        self.store(config, uri, keys.clone(), now);
        Ok(keys)
    }

    fn cached(&self, uri: &str) -> Option<(Arc<Vec<Jwk>>, i64)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(uri).map(|c| (c.keys.clone(), c.fetched_at))
    }

    fn store(&self, config: &ClientAuthConfig, uri: &str, keys: Arc<Vec<Jwk>>, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !entries.contains_key(uri) && entries.len() >= config.jwks_uri_cache_entries {
            // Full: the oldest fetch goes.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, c)| c.fetched_at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            uri.to_owned(),
            Cached {
                keys,
                fetched_at: now,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// GET the JWK Set at `uri`, within the `[client_auth]` bounds.
async fn fetch(config: &ClientAuthConfig, uri: &str) -> Result<Vec<Jwk>, String> {
    validate_jwks_uri(uri)?;
    let url = Url::parse(uri).map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("no port")?;
    let lookup_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        config.jwks_uri_timeout,
        tokio::net::lookup_host((lookup_host.as_str(), port)),
    )
    .await
    .map_err(|_| "resolving the host timed out".to_owned())?
    .map_err(|e| format!("cannot resolve {host}: {e}"))?
    .collect();
    let allowed = |a: &SocketAddr| config.allow_private_jwks_uri || !is_private(a.ip());
    // Every address must be allowed: a name with one public and one
    // private address could otherwise be steered to the private one.
    if addrs.is_empty() || !addrs.iter().all(allowed) {
        return Err(format!(
            "{host} resolves to a non-public address (client_auth.allow_private_jwks_uri)"
        ));
    }
    // Connect to the address just checked, not to a second lookup's answer.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the name again, past the address check.
        .no_proxy()
        .timeout(config.jwks_uri_timeout)
        .resolve(&lookup_host, addrs[0])
        .build()
        .map_err(|e| e.to_string())?;
    let mut response = client
        .get(url)
        .header("accept", "application/jwk-set+json, application/json")
        .send()
        .await
        .map_err(|e| format!("fetching the JWK Set failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("the jwks_uri answered {}", response.status()));
    }
    let max = config.jwks_uri_max_bytes;
    if response.content_length().is_some_and(|l| l > max as u64) {
        return Err(format!("the JWK Set is over {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the JWK Set failed: {e}"))?
    {
        if body.len() + chunk.len() > max {
            return Err(format!("the JWK Set is over {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| "the JWK Set is not UTF-8".to_owned())?;
    parse_jwks(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_jwks_must_hold_public_signature_keys() {
        let public = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}"#;
        assert_eq!(parse_jwks(public).unwrap().len(), 1);
        let private = public.replace(
            r#""kid":"k1""#,
            r#""kid":"k1","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI""#,
        );
        assert!(
            parse_jwks(&private)
                .unwrap_err()
                .contains("private member d")
        );
        let symmetric = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        assert!(parse_jwks(symmetric).is_err());
        let encryption = public.replace(r#""kid":"k1""#, r#""kid":"k1","use":"enc""#);
        assert!(parse_jwks(&encryption).is_err());
        assert!(parse_jwks(r#"{"keys":[]}"#).is_err());
        assert!(parse_jwks("[]").is_err());
    }

    #[test]
    fn jwks_uri_is_https_or_loopback_http() {
        assert!(validate_jwks_uri("https://rp.example.com/jwks").is_ok());
        assert!(validate_jwks_uri("http://127.0.0.1:8080/jwks").is_ok());
        assert!(validate_jwks_uri("http://rp.example.com/jwks").is_err());
        assert!(validate_jwks_uri("https://user:pw@rp.example.com/jwks").is_err());
        assert!(validate_jwks_uri("file:///etc/passwd").is_err());
    }

    #[test]
    fn non_public_addresses_are_private() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
