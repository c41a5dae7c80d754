//! Can the guard vouch for revocations right now? The feed receiver records
//! each poll that came back; a request arriving more than the freshness
//! bound after the start of the last good poll is not vouched for (fail
//! closed: 503, or introspection). Transitions are logged once and counted.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};

use serde::Serialize;

/// Where the feed receiver is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Discovering, creating the stream, waiting for the verification event
    /// and the backlog: nothing vouched for yet.
    Starting = 0,
    /// Polling; fresh as long as a poll came back within the bound.
    Live = 1,
    /// Polls are failing (the last good one may still be within the bound).
    Retrying = 2,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Live,
            2 => Phase::Retrying,
            _ => Phase::Starting,
        }
    }
}

/// Counters, exported by `Guard::status`.
#[derive(Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub rejected_invalid: AtomicU64,
    pub rejected_revoked: AtomicU64,
    pub failed_closed: AtomicU64,
    pub introspections: AtomicU64,
    pub events_applied: AtomicU64,
    pub sets_refused: AtomicU64,
    pub polls: AtomicU64,
    pub poll_failures: AtomicU64,
    pub stale_periods: AtomicU64,
}

pub(crate) struct Health {
    phase: AtomicU8,
    /// Start (Unix ms, guard clock) of the last poll that came back while
    /// Live; 0 = never.
    fresh_as_of: AtomicI64,
    bound_ms: i64,
    /// Set while requests are being refused for staleness, to log the
    /// transition once.
    stale: AtomicBool,
    pub counters: Counters,
}

impl Health {
    pub(crate) fn new(bound_ms: i64) -> Self {
        Health {
            phase: AtomicU8::new(Phase::Starting as u8),
            fresh_as_of: AtomicI64::new(0),
            bound_ms,
            stale: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        let old = Phase::from_u8(self.phase.swap(phase as u8, Ordering::AcqRel));
        if old != phase {
            tracing::info!(from = ?old, to = ?phase, "revocation feed");
        }
        if phase == Phase::Starting {
            self.fresh_as_of.store(0, Ordering::Release);
        }
    }

    /// A poll that started at `started` (Unix ms) came back and everything
    /// in it was applied.
    pub(crate) fn polled(&self, started: i64) {
        self.counters.polls.fetch_add(1, Ordering::Relaxed);
        if self.phase() == Phase::Starting {
            return;
        }
        self.phase.store(Phase::Live as u8, Ordering::Release);
        self.fresh_as_of.fetch_max(started, Ordering::AcqRel);
        if self.stale.swap(false, Ordering::AcqRel) {
            tracing::warn!("revocation feed is fresh again: tokens are accepted again");
        }
    }

    /// The stream is verified and its backlog drained as of `started`.
    pub(crate) fn became_live(&self, started: i64) {
        self.phase.store(Phase::Live as u8, Ordering::Release);
        tracing::info!("revocation feed is live");
        self.polled(started);
    }

    pub(crate) fn bound_ms(&self) -> i64 {
        self.bound_ms
    }

    pub(crate) fn fresh_as_of(&self) -> Option<i64> {
        match self.fresh_as_of.load(Ordering::Acquire) {
            0 => None,
            t => Some(t),
        }
    }

    /// Whether revocations are vouched for at `now` (Unix ms).
    pub(crate) fn is_fresh(&self, now: i64) -> bool {
        let fresh_as_of = self.fresh_as_of.load(Ordering::Acquire);
        fresh_as_of != 0 && now - fresh_as_of <= self.bound_ms
    }

    /// A request found the feed stale: log the transition once.
    pub(crate) fn note_stale(&self, now: i64, fallback: &'static str) {
        if !self.stale.swap(true, Ordering::AcqRel) {
            self.counters.stale_periods.fetch_add(1, Ordering::Relaxed);
            let behind_ms = self.fresh_as_of().map(|t| now - t);
            tracing::error!(
                behind_ms,
                bound_ms = self.bound_ms,
                phase = ?self.phase(),
                fallback,
                "revocation feed stale: failing closed"
            );
        }
    }
}

/// A snapshot of the guard's state, for logs, health checks and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub phase: Phase,
    /// Revocations are vouched for now.
    pub fresh: bool,
    /// Milliseconds since the start of the last good poll, if any.
    pub behind_ms: Option<i64>,
    pub freshness_bound_ms: i64,
    pub revocation_entries: usize,
    pub verified_tokens_cached: usize,
    pub jwks_fetches: u64,
    pub accepted: u64,
    pub rejected_invalid: u64,
    pub rejected_revoked: u64,
    pub failed_closed: u64,
    pub introspections: u64,
    pub events_applied: u64,
    pub sets_refused: u64,
    pub polls: u64,
    pub poll_failures: u64,
    pub stale_periods: u64,
}

impl Status {
    /// Prometheus text exposition format.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!(
                "# HELP signoff_guard_{name} {help}\n# TYPE signoff_guard_{name} {kind}\nsignoff_guard_{name} {value}\n"
            ));
        };
        line(
            "feed_fresh",
            "gauge",
            "1 if revocations are vouched for now",
            (self.fresh as u8).to_string(),
        );
        line(
            "feed_behind_seconds",
            "gauge",
            "seconds since the start of the last good poll (-1: never)",
            self.behind_ms
                .map(|m| format!("{:.3}", m as f64 / 1000.0))
                .unwrap_or("-1".into()),
        );
        line(
            "revocation_entries",
            "gauge",
            "entries in the revocation set",
            self.revocation_entries.to_string(),
        );
        line(
            "verified_tokens_cached",
            "gauge",
            "tokens in the verify-once cache",
            self.verified_tokens_cached.to_string(),
        );
        line(
            "jwks_fetches_total",
            "counter",
            "JWKS fetches",
            self.jwks_fetches.to_string(),
        );
        line(
            "accepted_total",
            "counter",
            "requests accepted",
            self.accepted.to_string(),
        );
        line(
            "rejected_invalid_total",
            "counter",
            "requests with an invalid token",
            self.rejected_invalid.to_string(),
        );
        line(
            "rejected_revoked_total",
            "counter",
            "requests with a revoked token",
            self.rejected_revoked.to_string(),
        );
        line(
            "failed_closed_total",
            "counter",
            "requests refused because the feed was stale",
            self.failed_closed.to_string(),
        );
        line(
            "introspections_total",
            "counter",
            "introspection calls",
            self.introspections.to_string(),
        );
        line(
            "events_applied_total",
            "counter",
            "revocation events applied",
            self.events_applied.to_string(),
        );
        line(
            "sets_refused_total",
            "counter",
            "SETs refused as invalid",
            self.sets_refused.to_string(),
        );
        line(
            "polls_total",
            "counter",
            "polls that came back",
            self.polls.to_string(),
        );
        line(
            "poll_failures_total",
            "counter",
            "polls that failed",
            self.poll_failures.to_string(),
        );
        line(
            "stale_periods_total",
            "counter",
            "times the feed went stale",
            self.stale_periods.to_string(),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_only_within_the_bound_of_a_live_poll() {
        let h = Health::new(5000);
        h.polled(1_000);
        assert!(
            !h.is_fresh(1_000),
            "a poll before the stream is live vouches for nothing"
        );
        h.became_live(10_000);
        assert!(h.is_fresh(15_000));
        assert!(!h.is_fresh(15_001));
        h.polled(9_000);
        assert_eq!(
            h.fresh_as_of(),
            Some(10_000),
            "an older poll never moves freshness back"
        );
        h.set_phase(Phase::Starting);
        assert!(
            !h.is_fresh(10_001),
            "a new stream vouches for nothing until live"
        );
    }
}
