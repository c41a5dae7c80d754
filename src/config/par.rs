//! `[par]`: Pushed Authorization Requests (RFC 9126).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParConfig {
    /// RFC 9126 §5: every client must push its authorization requests
    /// (`require_pushed_authorization_requests` in discovery). Per client:
    /// `client add --require-par`.
    pub required: bool,
    /// How long a `request_uri` may be used (RFC 9126 §2.2: `expires_in`);
    /// at most 60 s.
    #[serde(with = "humantime_serde")]
    pub request_uri_ttl: Duration,
}

impl Default for ParConfig {
    fn default() -> Self {
        Self {
            required: false,
            request_uri_ttl: Duration::from_secs(60),
        }
    }
}

impl ParConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // RFC 9126 §2.2: a short lifetime, 5 to 600 s being typical; the
        // reference is a bearer value, so we keep it at a minute at most.
        let ttl = self.request_uri_ttl;
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(60) {
            return Err(ConfigError::Invalid(
                "par.request_uri_ttl must be between 1s and 60s".into(),
            ));
        }
        Ok(())
    }
}
