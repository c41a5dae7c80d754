//! One typed configuration, read from an optional TOML file and overridden by
//! `SIGNOFF_*` environment variables (`SIGNOFF_TOKENS__ACCESS_TOKEN_TTL=5m`
//! sets `[tokens] access_token_ttl`), then validated once at start.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// The `iss` of every token and the base of every endpoint URL.
    pub issuer: Url,
    /// `sqlite://FILE?mode=rwc` (default) or `postgres://…`.
    pub database_url: String,
    /// Log filter in `tracing_subscriber::EnvFilter` syntax.
    pub log: String,
    pub tokens: TokenConfig,
    pub sessions: SessionConfig,
    pub keys: KeyConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub id_token_ttl: Duration,
    /// Sliding lifetime: each use of a refresh token extends it by this much.
    #[serde(with = "humantime_serde")]
    pub refresh_token_idle_ttl: Duration,
    /// No refresh token of a grant outlives this, however often it is used.
    #[serde(with = "humantime_serde")]
    pub refresh_token_absolute_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub authorization_code_ttl: Duration,
    /// A refresh token presented again this soon after it was rotated gets
    /// the same successor instead of revoking the family (two tabs, network
    /// retries). Zero disables the grace period.
    #[serde(with = "humantime_serde")]
    pub refresh_reuse_grace: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// An SSO session unused for this long ends.
    #[serde(with = "humantime_serde")]
    pub idle_ttl: Duration,
    /// An SSO session ends this long after login, however active.
    #[serde(with = "humantime_serde")]
    pub absolute_ttl: Duration,
    /// Time a user has to finish the login and consent pages.
    #[serde(with = "humantime_serde")]
    pub interaction_ttl: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyConfig {
    /// `Cache-Control: max-age` of the JWKS document.
    #[serde(with = "humantime_serde")]
    pub jwks_cache_ttl: Duration,
    /// Algorithm of ID tokens for clients that do not choose one.
    pub default_alg: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".parse().expect("valid default address"),
            issuer: Url::parse("http://127.0.0.1:8080").expect("valid default issuer"),
            database_url: "sqlite://signoff.db?mode=rwc".into(),
            log: "info".into(),
            tokens: TokenConfig::default(),
            sessions: SessionConfig::default(),
            keys: KeyConfig::default(),
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(10 * 60),
            id_token_ttl: Duration::from_secs(60 * 60),
            refresh_token_idle_ttl: Duration::from_secs(14 * 24 * 3600),
            refresh_token_absolute_ttl: Duration::from_secs(90 * 24 * 3600),
            authorization_code_ttl: Duration::from_secs(60),
            refresh_reuse_grace: Duration::from_secs(10),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_ttl: Duration::from_secs(24 * 3600),
            absolute_ttl: Duration::from_secs(30 * 24 * 3600),
            interaction_ttl: Duration::from_secs(15 * 60),
        }
    }
}

impl Default for KeyConfig {
    fn default() -> Self {
        Self {
            jwks_cache_ttl: Duration::from_secs(3600),
            default_alg: "RS256".into(),
        }
    }
}

/// Environment variables with the `SIGNOFF_` prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["config", "test_database_url"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(
            Env::prefixed("SIGNOFF_")
                .filter(|key| !NOT_SETTINGS.contains(&key.as_str().to_ascii_lowercase().as_str()))
                .split("__"),
        );
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let issuer = &self.issuer;
        // OpenID Discovery 1.0 §3: the issuer is an https URL with no query or
        // fragment. Plain http is allowed for loopback development only.
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return invalid(format!("issuer {issuer} must not have a query or fragment"));
        }
        match issuer.scheme() {
            "https" => {}
            "http" if is_loopback_host(issuer) => {}
            _ => {
                return invalid(format!(
                    "issuer {issuer} must be https (http is only allowed for 127.0.0.1, ::1 or localhost)"
                ));
            }
        }
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("postgres"))
        {
            return invalid(format!(
                "database_url must start with sqlite: or postgres://, got {}",
                self.database_url
            ));
        }
        let t = &self.tokens;
        for (name, value) in [
            ("tokens.access_token_ttl", t.access_token_ttl),
            ("tokens.id_token_ttl", t.id_token_ttl),
            ("tokens.refresh_token_idle_ttl", t.refresh_token_idle_ttl),
            (
                "tokens.refresh_token_absolute_ttl",
                t.refresh_token_absolute_ttl,
            ),
            ("tokens.authorization_code_ttl", t.authorization_code_ttl),
            ("sessions.idle_ttl", self.sessions.idle_ttl),
            ("sessions.absolute_ttl", self.sessions.absolute_ttl),
            ("sessions.interaction_ttl", self.sessions.interaction_ttl),
        ] {
            if value.as_secs() == 0 {
                return invalid(format!("{name} must be at least one second"));
            }
        }
        // RFC 6749 §4.1.2: codes are short-lived; ten minutes is the ceiling.
        if t.authorization_code_ttl > Duration::from_secs(600) {
            return invalid("tokens.authorization_code_ttl must be at most 10m".into());
        }
        if t.refresh_token_idle_ttl > t.refresh_token_absolute_ttl {
            return invalid(
                "tokens.refresh_token_idle_ttl must not exceed tokens.refresh_token_absolute_ttl"
                    .into(),
            );
        }
        if self.sessions.idle_ttl > self.sessions.absolute_ttl {
            return invalid("sessions.idle_ttl must not exceed sessions.absolute_ttl".into());
        }
        if crate::keys::Algorithm::parse(&self.keys.default_alg).is_none() {
            return invalid(format!(
                "keys.default_alg must be RS256, ES256 or EdDSA, got {}",
                self.keys.default_alg
            ));
        }
        Ok(())
    }

    /// An endpoint URL under the issuer (which may itself have a path).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer.as_str().trim_end_matches('/'), path)
    }

    /// The issuer exactly as it appears in `iss` claims: no trailing slash
    /// unless the operator put a path there.
    pub fn issuer_str(&self) -> &str {
        let s = self.issuer.as_str();
        if self.issuer.path() == "/" {
            s.trim_end_matches('/')
        } else {
            s
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.issuer.scheme() == "https"
    }
}

pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
        assert_eq!(Config::default().issuer_str(), "http://127.0.0.1:8080");
    }

    #[test]
    fn plain_http_issuer_is_refused_off_loopback() {
        let config = Config {
            issuer: Url::parse("http://idp.example.com").unwrap(),
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("must be https"), "{err}");
    }

    #[test]
    fn long_code_lifetime_is_refused() {
        let mut config = Config::default();
        config.tokens.authorization_code_ttl = Duration::from_secs(3600);
        assert!(config.validate().is_err());
    }
}
