//! One typed configuration, read from an optional TOML file and overridden by
//! `SIGNOFF_*` environment variables (`SIGNOFF_TOKENS__ACCESS_TOKEN_TTL=5m`
//! sets `[tokens] access_token_ttl`), then validated once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::jws::Algorithm;
use crate::seal::MasterKeys;

mod dpop;
mod limits;
mod ssf;
pub use dpop::DpopConfig;
pub use limits::{HttpConfig, ThrottleConfig};
pub use ssf::{DefaultSubjects, SsfConfig};
mod client_auth;
mod par;
pub use client_auth::ClientAuthConfig;
pub use par::ParConfig;
mod device;
pub use device::DeviceConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Address of a second listener serving only `GET /metrics`
    /// (Prometheus); unset (default): no metrics. Keep it private
    /// (loopback or an internal network).
    pub metrics_bind: Option<SocketAddr>,
    /// The `iss` of every token and the base of every endpoint URL.
    pub issuer: Url,
    /// `sqlite://FILE?mode=rwc` (default) or `postgres://…`.
    pub database_url: String,
    /// Log filter in `tracing_subscriber::EnvFilter` syntax.
    pub log: String,
    /// `text` (default; coloured only on a terminal) or `json` (one object a
    /// line, for log collectors).
    pub log_format: LogFormat,
    pub tokens: TokenConfig,
    pub sessions: SessionConfig,
    pub keys: KeyConfig,
    pub logout: LogoutConfig,
    pub revocation: RevocationConfig,
    pub throttle: ThrottleConfig,
    pub http: HttpConfig,
    pub audit: AuditConfig,
    pub ssf: SsfConfig,
    pub dpop: DpopConfig,
    pub par: ParConfig,
    pub client_auth: ClientAuthConfig,
    pub device: DeviceConfig,
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
    /// The `aud` of an access token asked for without an RFC 8707
    /// `resource` by a client that registered no audience: this service's
    /// own resource identifier (`/userinfo` accepts such tokens). Unset: the
    /// issuer URL. Never the client id, which would make an access token
    /// pass for an ID token at a relying party that skips `typ`.
    pub default_audience: Option<String>,
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
    /// Sign-ins in progress (stored interactions) one client address may
    /// start per minute, sustained; 0 disables the limit (e.g. behind a
    /// reverse proxy, where every request comes from the proxy's address).
    pub interactions_per_minute: u32,
    /// How many of them an address may start at once, before the
    /// per-minute rate applies.
    pub interaction_burst: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyConfig {
    /// `Cache-Control: max-age` of the JWKS document. A new key is published
    /// at least this long (plus `refresh_interval` and `clock_skew`) before
    /// it signs.
    #[serde(with = "humantime_serde")]
    pub jwks_cache_ttl: Duration,
    /// Algorithm of JWT access tokens, and of ID tokens for clients that do
    /// not choose one.
    pub default_alg: Algorithm,
    /// Algorithms with a key lifecycle: RS256 (required) and optionally
    /// ES256 and EdDSA (Ed25519).
    pub algorithms: Vec<Algorithm>,
    /// How long each key signs before its successor takes over.
    #[serde(with = "humantime_serde")]
    pub rotate_every: Duration,
    /// How often every instance re-reads the keys and runs the schedule: a
    /// rotation or revocation made elsewhere is in effect here within this.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// Largest disagreement tolerated between clocks (instances, relying
    /// parties): added to publication and retention times.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    /// Master keys sealing private signing keys at rest (AES-256-GCM): 32
    /// random bytes in base64 each, comma-separated, the first seals and all
    /// open. Also `SIGNOFF_MASTER_KEY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<Secret>,
    /// A file with the master keys, one a line. Also `SIGNOFF_MASTER_KEY_FILE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
}

impl KeyConfig {
    /// The algorithms with a key lifecycle, in `Algorithm::ALL` order.
    pub fn enabled_algorithms(&self) -> Vec<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(|a| self.algorithms.contains(a))
            .collect()
    }

    /// The least time a key is published before it signs.
    pub fn publish_lead(&self) -> Duration {
        self.jwks_cache_ttl + self.refresh_interval + self.clock_skew
    }

    pub fn has_master_key(&self) -> bool {
        self.master_key.is_some() || self.master_key_file.is_some()
    }
}

/// A configured secret: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// Back-Channel Logout delivery (the outbox worker).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogoutConfig {
    /// How often the worker looks for due notifications.
    #[serde(with = "humantime_serde")]
    pub worker_interval: Duration,
    /// Time a relying party gets to answer one logout request.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Wait before the first retry; doubled after each failed attempt.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest wait between two attempts.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Attempts before a notification is recorded as failed for good.
    pub max_attempts: u32,
    /// Delivered notifications are kept this long (for `signoff logout-deliveries list`).
    #[serde(with = "humantime_serde")]
    pub keep_delivered: Duration,
}

/// The audit trail (`audit_events`, `signoff audit list`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Audit events older than this are deleted by the maintenance task.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// The shape of log lines (written to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// How fast a revocation made elsewhere (another instance, the CLI) counts
/// on this instance (docs/revocation.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Token checks read the in-memory view, which follows the log within
    /// `revocation.poll_interval` (sooner on PostgreSQL, which notifies).
    Eventual,
    /// Every token check first catches up with the log: one indexed read
    /// per check; a revocation counts from the next request everywhere.
    Strict,
}

/// The revocation log and each instance's view of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationConfig {
    pub consistency: Consistency,
    /// How often the view polls the log for events committed elsewhere.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How long a missing sequence number is waited for before it counts as
    /// a rolled-back transaction (PostgreSQL commits out of order).
    #[serde(with = "humantime_serde")]
    pub gap_timeout: Duration,
    /// How long an event is kept after no token can match it any more (the
    /// replay window of the Shared Signals feed).
    #[serde(with = "humantime_serde")]
    pub event_retention: Duration,
    /// How often every instance ends the sessions whose idle or absolute
    /// lifetime ran out (their relying parties are notified).
    #[serde(with = "humantime_serde")]
    pub session_sweep_interval: Duration,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self {
            consistency: Consistency::Eventual,
            poll_interval: Duration::from_millis(100),
            gap_timeout: Duration::from_secs(10),
            event_retention: Duration::from_secs(24 * 3600),
            session_sweep_interval: Duration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".parse().expect("valid default address"),
            metrics_bind: None,
            issuer: Url::parse("http://127.0.0.1:8080").expect("valid default issuer"),
            database_url: "sqlite://signoff.db?mode=rwc".into(),
            log: "info".into(),
            log_format: LogFormat::Text,
            tokens: TokenConfig::default(),
            sessions: SessionConfig::default(),
            keys: KeyConfig::default(),
            logout: LogoutConfig::default(),
            revocation: RevocationConfig::default(),
            throttle: ThrottleConfig::default(),
            http: HttpConfig::default(),
            audit: AuditConfig::default(),
            ssf: SsfConfig::default(),
            dpop: DpopConfig::default(),
            par: ParConfig::default(),
            client_auth: ClientAuthConfig::default(),
            device: DeviceConfig::default(),
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
            default_audience: None,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_ttl: Duration::from_secs(24 * 3600),
            absolute_ttl: Duration::from_secs(30 * 24 * 3600),
            interaction_ttl: Duration::from_secs(15 * 60),
            interactions_per_minute: 60,
            interaction_burst: 60,
        }
    }
}

impl Default for LogoutConfig {
    fn default() -> Self {
        Self {
            worker_interval: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(5),
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            max_attempts: 10,
            keep_delivered: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Default for KeyConfig {
    fn default() -> Self {
        Self {
            jwks_cache_ttl: Duration::from_secs(3600),
            default_alg: Algorithm::Rs256,
            algorithms: Algorithm::ALL.to_vec(),
            rotate_every: Duration::from_secs(30 * 24 * 3600),
            refresh_interval: Duration::from_secs(5),
            clock_skew: Duration::from_secs(60),
            master_key: None,
            master_key_file: None,
        }
    }
}

/// Environment variables with the `SIGNOFF_` prefix that are not settings:
/// the config file's path, the gateway's secret, and the switches the test
/// suite, CI and the packaging scripts read. Without this list a CI run that
/// exports one of them would make every `Config::load` refuse to start.
const NOT_SETTINGS: &[&str] = &[
    "config",
    "gateway_client_secret",
    "test_database_url",
    "test_db_prefix",
    "require_browser",
    "update_screenshots",
    "chromium",
    "chromedriver",
    "ci_postgres_url",
    "bin",
    "pid",
];

/// Short environment names of `[keys]` settings: `SIGNOFF_MASTER_KEY` is
/// `keys.master_key`.
const KEY_ALIASES: &[&str] = &["master_key", "master_key_file"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    // The message only (no error source), so it is printed once.
    Load(String),
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
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    !NOT_SETTINGS.contains(&key.as_str()) && !KEY_ALIASES.contains(&key.as_str())
                })
                .split("__"),
        );
        figment = figment.merge(
            Env::prefixed("SIGNOFF_")
                .filter(|key| KEY_ALIASES.contains(&key.as_str().to_ascii_lowercase().as_str()))
                .map(|key| format!("keys.{}", key.as_str().to_ascii_lowercase()).into()),
        );
        let config: Config = figment
            .extract()
            .map_err(|e: figment::Error| ConfigError::Load(e.to_string()))?;
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
                self.database_url_redacted()
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
        // RFC 8707 §2: a resource is an absolute URI without a fragment.
        if let Some(aud) = &t.default_audience
            && !Url::parse(aud).is_ok_and(|u| u.fragment().is_none())
        {
            return invalid(format!(
                "tokens.default_audience {aud} must be an absolute URI without a fragment"
            ));
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
        if self.sessions.interactions_per_minute > 0 && self.sessions.interaction_burst == 0 {
            return invalid(
                "sessions.interaction_burst must be at least 1 (or set sessions.interactions_per_minute = 0 to disable the limit)"
                    .into(),
            );
        }
        let l = &self.logout;
        if l.worker_interval.is_zero() || l.delivery_timeout.is_zero() || l.retry_base.is_zero() {
            return invalid(
                "logout.worker_interval, logout.delivery_timeout and logout.retry_base must be positive"
                    .into(),
            );
        }
        // A delivery must end well within the 60 s lease of its claim, or a
        // second worker could take the same notification meanwhile.
        if l.delivery_timeout > Duration::from_secs(30) {
            return invalid("logout.delivery_timeout must be at most 30s".into());
        }
        if l.retry_base > l.retry_max {
            return invalid("logout.retry_base must not exceed logout.retry_max".into());
        }
        if l.max_attempts == 0 {
            return invalid("logout.max_attempts must be at least 1".into());
        }
        let r = &self.revocation;
        if r.poll_interval < Duration::from_millis(10) || r.poll_interval > Duration::from_secs(60)
        {
            return invalid("revocation.poll_interval must be between 10ms and 60s".into());
        }
        if r.gap_timeout < Duration::from_secs(1) {
            return invalid("revocation.gap_timeout must be at least one second".into());
        }
        if r.session_sweep_interval < Duration::from_millis(100) {
            return invalid("revocation.session_sweep_interval must be at least 100ms".into());
        }
        if self.audit.retention < Duration::from_secs(3600) {
            return invalid("audit.retention must be at least 1h".into());
        }
        self.throttle.validate()?;
        self.http.validate()?;
        self.ssf.validate()?;
        self.dpop.validate()?;
        self.par.validate()?;
        self.client_auth.validate()?;
        self.device.validate()?;
        self.validate_keys()
    }

    fn validate_keys(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let k = &self.keys;
        // Unknown algorithm names were refused when the settings were read
        // (`Algorithm` is `Deserialize`).
        for (i, alg) in k.algorithms.iter().enumerate() {
            if k.algorithms[..i].contains(alg) {
                return invalid(format!("keys.algorithms lists {alg} twice"));
            }
        }
        // OpenID Core §15.1: RS256 is mandatory to implement.
        if !k.algorithms.contains(&Algorithm::Rs256) {
            return invalid("keys.algorithms must include RS256".into());
        }
        if !k.algorithms.contains(&k.default_alg) {
            return invalid(format!(
                "keys.default_alg {} must be one of keys.algorithms",
                k.default_alg
            ));
        }
        if k.refresh_interval < Duration::from_secs(1) {
            return invalid("keys.refresh_interval must be at least one second".into());
        }
        if k.rotate_every <= k.publish_lead() {
            return invalid(format!(
                "keys.rotate_every ({}) must be longer than keys.jwks_cache_ttl + keys.refresh_interval + keys.clock_skew ({}): a new key is published that long before it signs",
                humantime::format_duration(k.rotate_every),
                humantime::format_duration(k.publish_lead())
            ));
        }
        if k.master_key.is_some() && k.master_key_file.is_some() {
            return invalid("set keys.master_key or keys.master_key_file, not both".into());
        }
        if let Some(list) = &k.master_key
            && let Err(e) = MasterKeys::parse(list.expose())
        {
            return invalid(format!("keys.master_key: {e:#}"));
        }
        Ok(())
    }

    /// `database_url` fit for logs and errors: its password (in the user
    /// information or a `password` query parameter) replaced.
    pub fn database_url_redacted(&self) -> String {
        let Ok(mut url) = Url::parse(&self.database_url) else {
            // Not a URL: nothing can be told of it without risking its secret.
            return "(unparsable URL)".into();
        };
        if url.password().is_some() {
            let _ = url.set_password(Some("REDACTED"));
        }
        if url.query_pairs().any(|(k, _)| k == "password") {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        "REDACTED".into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }

    /// `text` (e.g. a driver's error) without the database password, should
    /// the driver have quoted it.
    pub fn scrub_database_password(&self, text: &str) -> String {
        let Ok(url) = Url::parse(&self.database_url) else {
            return text.replace(&self.database_url, "(database URL)");
        };
        let mut secrets: Vec<String> = url
            .query_pairs()
            .filter(|(k, _)| k == "password")
            .map(|(_, v)| v.into_owned())
            .collect();
        if let Some(p) = url.password() {
            secrets.push(p.to_owned());
            // The driver may quote it percent-decoded.
            let query = format!("p={p}");
            secrets
                .extend(url::form_urlencoded::parse(query.as_bytes()).map(|(_, v)| v.into_owned()));
        }
        let mut out = text.replace(&self.database_url, &self.database_url_redacted());
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s.as_str(), "REDACTED");
        }
        out
    }

    /// This service's resource identifier: the `aud` of access tokens meant
    /// for it (`/userinfo`), and the default `aud` of access tokens.
    pub fn default_audience(&self) -> &str {
        self.tokens
            .default_audience
            .as_deref()
            .unwrap_or_else(|| self.issuer_str())
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
mod tests;
