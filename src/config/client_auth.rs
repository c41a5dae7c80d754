//! `[client_auth]`: `private_key_jwt` client authentication (RFC 7523,
//! OpenID Core §9): how long an assertion may live, and how clients' JWK
//! Sets are fetched from their `jwks_uri`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    /// Longest an assertion may still be valid when presented (`exp` −
    /// now): its `jti` is remembered that long to refuse a replay.
    #[serde(with = "humantime_serde")]
    pub assertion_max_lifetime: Duration,
    /// How long a JWK Set fetched from a client's `jwks_uri` is used before
    /// it is fetched again. An unknown `kid` refetches sooner (at most every
    /// `jwks_uri_min_refetch`), so a client's key rotation is seen at once.
    #[serde(with = "humantime_serde")]
    pub jwks_uri_cache_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub jwks_uri_min_refetch: Duration,
    /// Time a `jwks_uri` fetch may take.
    #[serde(with = "humantime_serde")]
    pub jwks_uri_timeout: Duration,
    /// Largest JWK Set body read from a `jwks_uri`, in bytes.
    pub jwks_uri_max_bytes: usize,
    /// JWK Sets kept in memory at most (one per `jwks_uri`).
    pub jwks_uri_cache_entries: usize,
    /// Fetch `jwks_uri`s that resolve to loopback, private, link-local or
    /// otherwise non-public addresses. Off: a client cannot make the server
    /// call into its own network (SSRF).
    pub allow_private_jwks_uri: bool,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        Self {
            assertion_max_lifetime: Duration::from_secs(300),
            jwks_uri_cache_ttl: Duration::from_secs(300),
            jwks_uri_min_refetch: Duration::from_secs(10),
            jwks_uri_timeout: Duration::from_secs(5),
            jwks_uri_max_bytes: 64 * 1024,
            jwks_uri_cache_entries: 1000,
            allow_private_jwks_uri: false,
        }
    }
}

impl ClientAuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.into()));
        let lifetime = self.assertion_max_lifetime;
        if lifetime < Duration::from_secs(10) || lifetime > Duration::from_secs(3600) {
            return invalid("client_auth.assertion_max_lifetime must be between 10s and 1h");
        }
        if self.jwks_uri_cache_ttl < Duration::from_secs(1) {
            return invalid("client_auth.jwks_uri_cache_ttl must be at least 1s");
        }
        if self.jwks_uri_min_refetch > self.jwks_uri_cache_ttl {
            return invalid(
                "client_auth.jwks_uri_min_refetch must not exceed client_auth.jwks_uri_cache_ttl",
            );
        }
        if self.jwks_uri_timeout.is_zero() || self.jwks_uri_timeout > Duration::from_secs(30) {
            return invalid("client_auth.jwks_uri_timeout must be between 1ms and 30s");
        }
        if !(1024..=1024 * 1024).contains(&self.jwks_uri_max_bytes) {
            return invalid("client_auth.jwks_uri_max_bytes must be between 1 KiB and 1 MiB");
        }
        if self.jwks_uri_cache_entries == 0 {
            return invalid("client_auth.jwks_uri_cache_entries must be at least 1");
        }
        Ok(())
    }
}
