//! The `[dpop]` section: DPoP proofs (RFC 9449) at the token endpoint and
//! `/userinfo` (src/dpop/).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// How far a proof's `iat` may be from the server's clock, either way
    /// (RFC 9449 §4.3 item 11, §11.1). Each proof's `jti` is remembered
    /// this long after its `iat`, on every instance.
    #[serde(with = "humantime_serde")]
    pub proof_window: Duration,
    /// Require a server-provided nonce in every proof (RFC 9449 §8, §9): a
    /// proof without the current nonce gets `use_dpop_nonce` and a fresh
    /// `DPoP-Nonce`. Off by default: it costs each client one extra round
    /// trip, and replays are already refused by `jti` on every instance;
    /// turn it on to stop proofs made in advance (a client whose clock runs
    /// ahead, or an attacker that could make the client sign future proofs).
    pub require_nonce: bool,
    /// How often the nonce changes. A nonce is accepted in the period it was
    /// issued and the next one.
    #[serde(with = "humantime_serde")]
    pub nonce_rotation: Duration,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            proof_window: Duration::from_secs(60),
            require_nonce: false,
            nonce_rotation: Duration::from_secs(300),
        }
    }
}

impl DpopConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("dpop.{m}")));
        // Under a second refuses every proof over a real network; past ten
        // minutes a captured proof stays usable (against another endpoint's
        // replay store) far too long.
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&self.proof_window) {
            return invalid("proof_window must be between 1s and 10m");
        }
        if !(Duration::from_secs(10)..=Duration::from_secs(3600)).contains(&self.nonce_rotation) {
            return invalid("nonce_rotation must be between 10s and 1h");
        }
        Ok(())
    }

    pub fn window_secs(&self) -> i64 {
        self.proof_window.as_secs() as i64
    }

    pub fn rotation_secs(&self) -> i64 {
        self.nonce_rotation.as_secs() as i64
    }
}
