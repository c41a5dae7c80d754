//! `[device]`: the OAuth 2.0 Device Authorization Grant (RFC 8628).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// How long a device code and its user code live (RFC 8628 §3.2:
    /// `expires_in`): 1 to 30 minutes.
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// The polling interval a device is told (RFC 8628 §3.2: `interval`,
    /// 5 s when absent): 1 to 60 seconds.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// User codes that may be tried on the /device page per minute, all
    /// addresses together (RFC 8628 §5.1: brute force); each address is
    /// also throttled like a sign-in (`[throttle]`). 0: no global limit.
    pub user_code_attempts_per_minute: u32,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            code_ttl: Duration::from_secs(600),
            interval: Duration::from_secs(5),
            user_code_attempts_per_minute: 600,
        }
    }
}

impl DeviceConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // RFC 8628 §6.1: the user code's short lifetime is what makes its
        // low entropy safe.
        if !(Duration::from_secs(60)..=Duration::from_secs(1800)).contains(&self.code_ttl) {
            return Err(ConfigError::Invalid(
                "device.code_ttl must be between 1m and 30m".into(),
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.interval) {
            return Err(ConfigError::Invalid(
                "device.interval must be between 1s and 60s".into(),
            ));
        }
        Ok(())
    }

    pub fn ttl_secs(&self) -> i64 {
        self.code_ttl.as_secs() as i64
    }

    pub fn interval_secs(&self) -> i64 {
        self.interval.as_secs() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_settings_out_of_range_are_refused() {
        assert!(DeviceConfig::default().validate().is_ok());
        let with = |f: &dyn Fn(&mut DeviceConfig)| {
            let mut c = DeviceConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(with(&|c| c.code_ttl = Duration::from_secs(59)).contains("device.code_ttl"));
        assert!(with(&|c| c.code_ttl = Duration::from_secs(1801)).contains("device.code_ttl"));
        assert!(with(&|c| c.interval = Duration::ZERO).contains("device.interval"));
        assert!(with(&|c| c.interval = Duration::from_secs(61)).contains("device.interval"));
    }
}
