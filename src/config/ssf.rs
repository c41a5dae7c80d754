//! `[ssf]`: the Shared Signals transmitter (src/ssf, docs/ssf.md).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsfConfig {
    /// Streams one receiver (client) may have at once; one more gets 409.
    pub max_streams_per_client: u64,
    /// Longest a poll with `returnImmediately: false` is held with nothing
    /// to return (RFC 8936 §2.2); at most 3/4 of `http.request_timeout`. Short
    /// enough that every held poll answers well within a receiver's
    /// freshness bound (signoff-guard fails closed after 5 s by default).
    #[serde(with = "humantime_serde")]
    pub long_poll_timeout: Duration,
    /// Long polls held at once on this instance; further polls return at
    /// once.
    pub max_long_polls: usize,
    /// Most SETs one poll response carries, whatever `maxEvents` asks.
    pub max_events: u64,
    /// Time a push receiver has to answer one SET.
    #[serde(with = "humantime_serde")]
    pub push_timeout: Duration,
    /// First wait after a failed push; doubled per failure up to
    /// `push_retry_max`.
    #[serde(with = "humantime_serde")]
    pub push_retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub push_retry_max: Duration,
    /// Allow push endpoints on loopback, private, link-local and other
    /// non-public addresses (tests and closed networks; otherwise SSRF).
    /// Plain http is accepted only for loopback addresses.
    pub push_allow_private: bool,
    /// SSF 1.0 §7.1 `default_subjects`: `ALL` (a new stream covers every
    /// subject; receivers remove the ones they do not want) or `NONE` (it
    /// covers none until the receiver adds subjects, §8.1.3.2).
    pub default_subjects: DefaultSubjects,
    /// Subjects one stream may add or remove (SSF 1.0 §8.1.3); one more is
    /// refused with 400.
    pub max_subjects_per_stream: u64,
    /// Long polls one receiver (client) may hold at once on this instance;
    /// one more is answered 429.
    pub max_long_polls_per_client: usize,
}

/// SSF 1.0 §7.1 `default_subjects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DefaultSubjects {
    All,
    None,
}

impl DefaultSubjects {
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultSubjects::All => "ALL",
            DefaultSubjects::None => "NONE",
        }
    }
}

impl Default for SsfConfig {
    fn default() -> Self {
        Self {
            max_streams_per_client: 5,
            long_poll_timeout: Duration::from_secs(2),
            max_long_polls: 256,
            max_events: 500,
            push_timeout: Duration::from_secs(5),
            push_retry_base: Duration::from_secs(1),
            push_retry_max: Duration::from_secs(300),
            push_allow_private: false,
            default_subjects: DefaultSubjects::All,
            max_subjects_per_stream: 10_000,
            max_long_polls_per_client: 16,
        }
    }
}

impl SsfConfig {
    /// How long a poll is held: `long_poll_timeout`, but never past three
    /// quarters of `http.request_timeout` (which would answer 408 instead).
    pub fn effective_long_poll(&self, request_timeout: Duration) -> Duration {
        self.long_poll_timeout.min(request_timeout * 3 / 4)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.into()));
        if !(1..=1000).contains(&self.max_streams_per_client) {
            return invalid("ssf.max_streams_per_client must be between 1 and 1000");
        }
        // A held poll also ends before the request timeout: `effective_long_poll`.
        if self.long_poll_timeout < Duration::from_millis(100)
            || self.long_poll_timeout > Duration::from_secs(60)
        {
            return invalid("ssf.long_poll_timeout must be between 100ms and 60s");
        }
        if !(1..=100_000).contains(&self.max_long_polls) {
            return invalid("ssf.max_long_polls must be between 1 and 100000");
        }
        if !(1..=10_000).contains(&self.max_events) {
            return invalid("ssf.max_events must be between 1 and 10000");
        }
        // A push round must end well within the 60 s lease of its stream.
        if self.push_timeout.is_zero() || self.push_timeout > Duration::from_secs(30) {
            return invalid("ssf.push_timeout must be positive and at most 30s");
        }
        if self.push_retry_base.is_zero() || self.push_retry_base > self.push_retry_max {
            return invalid("ssf.push_retry_base must be positive and at most ssf.push_retry_max");
        }
        if !(1..=1_000_000).contains(&self.max_subjects_per_stream) {
            return invalid("ssf.max_subjects_per_stream must be between 1 and 1000000");
        }
        if self.max_long_polls_per_client == 0
            || self.max_long_polls_per_client > self.max_long_polls
        {
            return invalid(
                "ssf.max_long_polls_per_client must be between 1 and ssf.max_long_polls",
            );
        }
        Ok(())
    }
}
