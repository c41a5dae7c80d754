//! The provider's metadata (OpenID Connect Discovery 1.0 §4, RFC 8414) and
//! the guard's own client-credentials access token (RFC 6749 §4.4).

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use url::Url;

use crate::clock::unix_millis;
use crate::error::GuardError;
use crate::jwt::Algorithm;

/// What the guard uses from the provider's metadata.
#[derive(Debug, Clone)]
pub(crate) struct Provider {
    pub jwks_uri: String,
    pub token_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    /// The asymmetric algorithms the provider signs with.
    pub algorithms: Vec<Algorithm>,
}

/// https, or http on a loopback host (development and tests).
pub(crate) fn check_url(what: &'static str, url: &str) -> Result<Url, GuardError> {
    let parsed = Url::parse(url).map_err(|e| GuardError::invalid(what, format!("{url}: {e}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(GuardError::invalid(
            what,
            format!("{url} must use https (http only on loopback)"),
        )),
    }
}

pub(crate) async fn get_json(
    http: &reqwest::Client,
    what: &'static str,
    url: &str,
) -> Result<Value, GuardError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|source| GuardError::Http { what, source })?;
    if !response.status().is_success() {
        return Err(GuardError::Status {
            what,
            status: response.status(),
        });
    }
    response
        .json()
        .await
        .map_err(|source| GuardError::Http { what, source })
}

fn endpoint(doc: &Value, name: &'static str) -> Result<Option<String>, GuardError> {
    match doc.get(name).and_then(Value::as_str) {
        None => Ok(None),
        Some(url) => check_url(name, url).map(|_| Some(url.to_owned())),
    }
}

/// OpenID Connect Discovery 1.0 §4: the issuer, without a trailing slash,
/// followed by `/.well-known/openid-configuration`.
pub(crate) async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Provider, GuardError> {
    check_url("issuer", issuer)?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = get_json(http, "provider metadata", &url).await?;
    // Discovery §4.3: the metadata's issuer is exactly the one we asked.
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(GuardError::invalid(
            "provider metadata",
            format!(
                "issuer {} is not {issuer}",
                doc.get("issuer").unwrap_or(&Value::Null)
            ),
        ));
    }
    let jwks_uri = endpoint(&doc, "jwks_uri")?
        .ok_or_else(|| GuardError::invalid("provider metadata", "no jwks_uri"))?;
    // Discovery §3: the algorithms the provider signs with. HMAC and `none`
    // are dropped (RFC 8725 §3.1; RFC 9068 §4).
    let algorithms: Vec<Algorithm> = doc
        .get("id_token_signing_alg_values_supported")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(Algorithm::parse)
        .collect();
    if algorithms.is_empty() {
        return Err(GuardError::invalid(
            "provider metadata",
            "no asymmetric signing algorithm in id_token_signing_alg_values_supported",
        ));
    }
    Ok(Provider {
        jwks_uri,
        token_endpoint: endpoint(&doc, "token_endpoint")?,
        introspection_endpoint: endpoint(&doc, "introspection_endpoint")?,
        algorithms,
    })
}

/// The guard's client credentials. The secret is never printed.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) secret: String,
}

impl Credentials {
    pub(crate) fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials {
            client_id: client_id.into(),
            secret: secret.into(),
        }
    }

    /// RFC 6749 §2.3.1 `client_secret_basic`: both parts form-urlencoded,
    /// then Base64.
    pub(crate) fn basic(&self) -> String {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                encode(&self.client_id),
                encode(&self.secret)
            ))
        )
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// An access token for the stream management API, fetched with the
/// client_credentials grant and reused until shortly before it expires.
pub(crate) struct TokenSource {
    http: reqwest::Client,
    endpoint: String,
    credentials: Credentials,
    scope: &'static str,
    cached: Mutex<Option<(String, i64)>>,
}

impl TokenSource {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoint: String,
        credentials: Credentials,
        scope: &'static str,
    ) -> Self {
        TokenSource {
            http,
            endpoint,
            credentials,
            scope,
            cached: Mutex::new(None),
        }
    }

    pub(crate) async fn get(&self, now: std::time::SystemTime) -> Result<String, GuardError> {
        let now = unix_millis(now);
        if let Some((token, until)) = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && *until > now
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::AUTHORIZATION, self.credentials.basic())
            .form(&[("grant_type", "client_credentials"), ("scope", self.scope)])
            .send()
            .await
            .map_err(|source| GuardError::Http {
                what: "client_credentials token",
                source,
            })?;
        if !response.status().is_success() {
            return Err(GuardError::Status {
                what: "client_credentials token",
                status: response.status(),
            });
        }
        let body: Value = response.json().await.map_err(|source| GuardError::Http {
            what: "client_credentials token",
            source,
        })?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| GuardError::invalid("client_credentials token", "no access_token"))?
            .to_owned();
        // RFC 6749 §5.1 `expires_in`; renew a little early (or at once if
        // none is given).
        let lifetime_ms = body
            .get("expires_in")
            .and_then(Value::as_i64)
            .map(|s| (s * 1000 * 9) / 10)
            .unwrap_or(0);
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((token.clone(), now + lifetime_ms));
        Ok(token)
    }

    /// The transmitter refused the token (401): fetch a new one next time.
    pub(crate) fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded() {
        let c = Credentials::new("gate way", "s:e/c+r%t");
        let encoded = c.basic();
        let decoded =
            String::from_utf8(STANDARD.decode(&encoded["Basic ".len()..]).unwrap()).unwrap();
        assert_eq!(decoded, "gate+way:s%3Ae%2Fc%2Br%25t");
        assert!(
            !format!("{c:?}").contains("s:e/c"),
            "Debug never shows the secret"
        );
    }

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        for ok in [
            "https://op.example",
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://[::1]:1",
        ] {
            assert!(check_url("t", ok).is_ok(), "{ok}");
        }
        for bad in ["http://op.example", "ftp://127.0.0.1", "not a url"] {
            assert!(check_url("t", bad).is_err(), "{bad}");
        }
    }
}
