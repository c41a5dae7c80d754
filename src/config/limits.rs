//! The limits sections: what one client may make the HTTP server do
//! (`[http]`), and how password and secret checks are bounded and throttled
//! (`[throttle]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Limits of the HTTP server (src/http/server.rs, src/routes.rs): what one
/// client can make a connection or a worker wait for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body, in bytes; a larger one gets 413.
    pub max_body_bytes: usize,
    /// Time a client has to send a request's headers; also how long an idle
    /// keep-alive connection stays open. Then the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time one request may take, reading its body included; then 408.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// Connections one client (an IPv4 address or an IPv6 /64) may hold at
    /// once; more are closed on arrival. Trusted proxies are not capped
    /// (`crate::http::peer_limit`).
    pub max_connections_per_client: usize,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For`
    /// names the client. Empty (the default): the TCP peer is the client and
    /// the header is ignored, so nobody can choose the address they are
    /// throttled and audited under (`crate::http::client_addr`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_connections_per_client: 64,
            trusted_proxies: Vec::new(),
        }
    }
}

/// More ranges than this is a list of clients, not of proxies.
const MAX_TRUSTED_PROXIES: usize = 64;

impl HttpConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.into()));
        let h = self;
        // Below 1 KiB even a token request with a client assertion would not
        // fit; above 16 MiB the limit no longer protects anything.
        if !(1024..=16 * 1024 * 1024).contains(&h.max_body_bytes) {
            return invalid("http.max_body_bytes must be between 1024 and 16777216");
        }
        if h.header_read_timeout < Duration::from_millis(100)
            || h.header_read_timeout > Duration::from_secs(300)
        {
            return invalid("http.header_read_timeout must be between 100ms and 5m");
        }
        if h.request_timeout < Duration::from_secs(1)
            || h.request_timeout > Duration::from_secs(600)
        {
            return invalid("http.request_timeout must be between 1s and 10m");
        }
        if h.max_connections == 0 {
            return invalid("http.max_connections must be at least 1");
        }
        if h.max_connections_per_client == 0 {
            return invalid("http.max_connections_per_client must be at least 1");
        }
        if h.trusted_proxies.len() > MAX_TRUSTED_PROXIES {
            return invalid("http.trusted_proxies lists more than 64 ranges");
        }
        Ok(())
    }
}

/// Password and client-secret checks: how many argon2id verifications run
/// at once, and the brute-force policy (`crate::throttle`, README "Security").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// argon2id verifications running at once (19 MiB each).
    pub max_concurrent_hashes: usize,
    /// How long a check waits for a free verification slot before the
    /// request is answered 503.
    #[serde(with = "humantime_serde")]
    pub hash_wait: Duration,
    /// Failures for one account (or client) within `window` that start its
    /// back-off.
    pub account_failures: u32,
    /// Failures from one address within `window` that start its back-off.
    pub address_failures: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// The first back-off; each failure after one doubles it.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// How long an address that signed in to an account stays exempt from
    /// that account's back-off (not from its own).
    #[serde(with = "humantime_serde")]
    pub trust_address_for: Duration,
    /// Most accounts, addresses and trusted pairs remembered (memory bound).
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_wait: Duration::from_secs(1),
            account_failures: 5,
            address_failures: 30,
            window: Duration::from_secs(15 * 60),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(15 * 60),
            trust_address_for: Duration::from_secs(30 * 24 * 3600),
            max_tracked: 100_000,
        }
    }
}

impl ThrottleConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("throttle.{m}")));
        if !(1..=1024).contains(&self.max_concurrent_hashes) {
            return invalid("max_concurrent_hashes must be between 1 and 1024");
        }
        if self.hash_wait > Duration::from_secs(30) {
            return invalid("hash_wait must be at most 30s");
        }
        if self.account_failures == 0 || self.address_failures == 0 {
            return invalid("account_failures and address_failures must be at least 1");
        }
        // The throttle counts whole seconds (the injected clock's resolution).
        if self.window.as_secs() == 0 || self.backoff_base.as_secs() == 0 {
            return invalid("window and backoff_base must be at least one second");
        }
        if self.backoff_base > self.backoff_max {
            return invalid("backoff_base must not exceed throttle.backoff_max");
        }
        if self.max_tracked < 100 {
            return invalid("max_tracked must be at least 100");
        }
        Ok(())
    }
}
