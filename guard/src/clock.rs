//! Time, injected: token lifetimes (`exp`, `nbf`, `iat`), the JWKS cache
//! lifetime, revocation entries' `retain_until` and the feed's freshness are
//! all measured with one `Clock`, so tests can travel in time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Wall-clock time now.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// Whole seconds since the Unix epoch, the resolution of JWT times.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    unix_millis(t) / 1000
}

pub(crate) fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}
