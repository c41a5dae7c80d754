//! Brute-force throttling of password and client-secret checks (the sign-in
//! pages and client authentication), per account and per client address.
//!
//! The policy (README "Security"): failures are counted with `governor`
//! (GCRA, `account_failures` / `address_failures` per `window`). The failure
//! that uses up an account's or an address's allowance starts a back-off
//! during which its attempts are refused with 429 and `Retry-After`, without
//! checking the password; each failure after a back-off doubles the next one,
//! up to `backoff_max`, until a quiet `window` passes. An account's back-off
//! does not apply to addresses that signed in to that account before
//! (`trust_address_for`), so an attacker can delay a real user on a new
//! device but cannot lock them out of the ones they use; every address has
//! its own back-off too. Unknown accounts are throttled exactly like real
//! ones, so a 429 reveals nothing. Every back-off that starts is an `audit`
//! event.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::{Clock, UnixTime};
use crate::config::ThrottleConfig;
use crate::secrets::{BUSY_RETRY_AFTER, Busy};

/// Who is trying to authenticate.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A username typed on a sign-in page (known or not).
    User(&'a str),
    /// A client id presented with a secret.
    Client(&'a str),
    /// A user code typed on the /device page (RFC 8628 §5.1): throttled
    /// per address only (a code names no account).
    UserCode,
}

impl Subject<'_> {
    /// Fixed-size key: usernames are attacker-chosen and may be long.
    fn key(&self) -> [u8; 32] {
        let (kind, name) = match self {
            // Case-folded, so "Alice" and "alice" share an allowance
            // whatever the database's collation.
            Subject::User(u) => ("user", u.to_lowercase()),
            Subject::Client(c) => ("client", (*c).to_owned()),
            Subject::UserCode => ("user_code", String::new()),
        };
        openssl::sha::sha256(format!("{kind}\0{name}").as_bytes())
    }

    /// Whether failures for this account start a back-off of their own.
    /// Not for clients: a client id is public, so an account-wide back-off
    /// would let anyone who knows it keep the real client out; a client
    /// secret is a machine credential meant to be long and random (README,
    /// "Password checks and brute force"), and guessing it stays bounded by
    /// the address limit.
    fn has_account_backoff(&self) -> bool {
        matches!(self, Subject::User(_))
    }

    fn kind(&self) -> &'static str {
        match self {
            Subject::User(_) => "user",
            Subject::Client(_) => "client",
            Subject::UserCode => "user_code",
        }
    }

    /// For audit events: names are attacker-chosen, so bounded.
    fn name(&self) -> &str {
        let name = match self {
            Subject::User(u) | Subject::Client(u) => u,
            Subject::UserCode => "",
        };
        let mut end = name.len().min(128);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        &name[..end]
    }
}

/// What a guarded check came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    Wrong,
    /// Refused without checking, or this failure started a back-off: 429.
    Throttled {
        retry_after: u64,
    },
    /// No verification slot free: 503.
    Busy {
        retry_after: u64,
    },
}

/// RFC 9110 §10.2.3: how many seconds to wait (429 and 503 answers).
pub fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// `governor` on the injected clock, so tests move through back-offs without
/// sleeping.
#[derive(Clone)]
struct InjectedClock(Arc<dyn Clock>);

impl governor::clock::Clock for InjectedClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Duration::from_secs(self.0.now().max(0) as u64)
    }
}

type Limiter<K> = RateLimiter<K, DashMapStateStore<K>, InjectedClock, StateInformationMiddleware>;

#[derive(Debug, Clone, Copy)]
struct Backoff {
    level: u32,
    until: UnixTime,
}

/// Failures and back-offs of one dimension (accounts or addresses).
struct Tracker<K: Hash + Eq + Clone> {
    failures: Limiter<K>,
    backoffs: Mutex<HashMap<K, Backoff>>,
}

impl<K: Hash + Eq + Clone> Tracker<K> {
    fn new(per_window: u32, config: &ThrottleConfig, clock: &InjectedClock) -> Self {
        let burst = NonZeroU32::new(per_window).unwrap_or(NonZeroU32::MIN);
        let period = (config.window / burst.get()).max(Duration::from_millis(1));
        let quota = Quota::with_period(period)
            .expect("a positive period")
            .allow_burst(burst);
        Self {
            failures: RateLimiter::<K, _, _, NoOpMiddleware<Duration>>::new(
                quota,
                DashMapStateStore::default(),
                clock.clone(),
            )
            .with_middleware::<StateInformationMiddleware>(),
            backoffs: Mutex::new(HashMap::new()),
        }
    }

    fn backoffs(&self) -> std::sync::MutexGuard<'_, HashMap<K, Backoff>> {
        self.backoffs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds left of `key`'s back-off, if one is running.
    fn blocked(&self, key: &K, now: UnixTime) -> Option<u64> {
        let until = self.backoffs().get(key)?.until;
        (until > now).then(|| (until - now) as u64)
    }

    /// Count a failure; the back-off it starts, if any.
    fn fail(&self, key: &K, now: UnixTime, config: &ThrottleConfig) -> Option<Backoff> {
        let allowance_left = match self.failures.check_key(key) {
            Ok(state) => state.remaining_burst_capacity() > 0,
            Err(_) => false,
        };
        let window = config.window.as_secs() as i64;
        let mut backoffs = self.backoffs();
        let previous = backoffs
            .get(key)
            .filter(|b| now < b.until.saturating_add(window))
            .map(|b| b.level);
        let level = match previous {
            Some(level) => level.saturating_add(1),
            None if allowance_left => return None,
            None => 1,
        };
        let delay = config
            .backoff_base
            .saturating_mul(2u32.saturating_pow(level - 1))
            .min(config.backoff_max);
        let backoff = Backoff {
            level,
            until: now + delay.as_secs().max(1) as i64,
        };
        if backoffs.len() >= config.max_tracked && !backoffs.contains_key(key) {
            backoffs.retain(|_, b| now < b.until.saturating_add(window));
            // Still full: the back-off nearest its end gives way.
            if backoffs.len() >= config.max_tracked
                && let Some(first) = backoffs.iter().min_by_key(|(_, b)| b.until)
            {
                let first = first.0.clone();
                backoffs.remove(&first);
            }
        }
        backoffs.insert(key.clone(), backoff);
        Some(backoff)
    }

    fn prune(&self, now: UnixTime, window: i64) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        self.backoffs()
            .retain(|_, b| now < b.until.saturating_add(window));
    }

    fn tracked(&self) -> usize {
        self.failures.len() + self.backoffs().len()
    }
}

pub struct Throttle {
    config: ThrottleConfig,
    clock: Arc<dyn Clock>,
    accounts: Tracker<[u8; 32]>,
    addresses: Tracker<IpAddr>,
    /// (account, address) pairs that succeeded, with the time they last did.
    trusted: Mutex<HashMap<([u8; 32], IpAddr), UnixTime>>,
}

impl Throttle {
    pub fn new(config: &ThrottleConfig, clock: Arc<dyn Clock>) -> Self {
        let governor_clock = InjectedClock(clock.clone());
        Self {
            accounts: Tracker::new(config.account_failures, config, &governor_clock),
            addresses: Tracker::new(config.address_failures, config, &governor_clock),
            config: config.clone(),
            clock,
            trusted: Mutex::new(HashMap::new()),
        }
    }

    fn trusted(&self) -> std::sync::MutexGuard<'_, HashMap<([u8; 32], IpAddr), UnixTime>> {
        self.trusted.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_trusted(&self, account: [u8; 32], peer: IpAddr, now: UnixTime) -> bool {
        let ttl = self.config.trust_address_for.as_secs() as i64;
        self.trusted()
            .get(&(account, peer))
            .is_some_and(|at| now < at.saturating_add(ttl))
    }

    /// Run `verify` (a password or secret check) under the policy: refused
    /// while a back-off runs; a failure counted; a success remembered.
    pub async fn guard<F>(&self, subject: Subject<'_>, peer: IpAddr, verify: F) -> Verdict
    where
        F: Future<Output = Result<bool, Busy>>,
    {
        let account = subject.key();
        // One IPv6 host holds a whole /64: counted per address, it could
        // rotate through 2^64 allowances.
        let peer = crate::http::rate::address_key(peer);
        let now = self.clock.now();
        let blocked = self.addresses.blocked(&peer, now).or_else(|| {
            self.accounts
                .blocked(&account, now)
                .filter(|_| subject.has_account_backoff() && !self.is_trusted(account, peer, now))
        });
        if let Some(retry_after) = blocked {
            tracing::debug!(target: "audit", event = "attempt_throttled", kind = subject.kind(),
                subject = subject.name(), peer = %peer, retry_after, "attempt refused during a back-off");
            return Verdict::Throttled { retry_after };
        }
        match verify.await {
            Err(Busy) => Verdict::Busy {
                retry_after: BUSY_RETRY_AFTER,
            },
            Ok(true) => {
                self.succeeded(account, peer);
                Verdict::Verified
            }
            Ok(false) => self.failed(subject, account, peer),
        }
    }

    fn succeeded(&self, account: [u8; 32], peer: IpAddr) {
        let now = self.clock.now();
        let mut trusted = self.trusted();
        if trusted.len() >= self.config.max_tracked && !trusted.contains_key(&(account, peer)) {
            let ttl = self.config.trust_address_for.as_secs() as i64;
            trusted.retain(|_, at| now < at.saturating_add(ttl));
            if trusted.len() >= self.config.max_tracked {
                // Not remembering is the safe side: the address only loses
                // its exemption from the account's back-off.
                return;
            }
        }
        trusted.insert((account, peer), now);
    }

    fn failed(&self, subject: Subject<'_>, account: [u8; 32], peer: IpAddr) -> Verdict {
        let now = self.clock.now();
        let by_address = self.addresses.fail(&peer, now, &self.config);
        let by_account = subject
            .has_account_backoff()
            .then(|| self.accounts.fail(&account, now, &self.config))
            .flatten();
        if let Some(b) = by_address {
            tracing::warn!(target: "audit", event = "address_throttled", kind = subject.kind(),
                subject = subject.name(), peer = %peer, level = b.level,
                retry_after = b.until - now, "too many failures from one address: back-off started");
        }
        if let Some(b) = by_account {
            tracing::warn!(target: "audit", event = "account_throttled", kind = subject.kind(),
                subject = subject.name(), peer = %peer, level = b.level,
                retry_after = b.until - now, "too many failures for one account: back-off started");
        }
        let account_applies = by_account.filter(|_| !self.is_trusted(account, peer, now));
        match [by_address, account_applies]
            .into_iter()
            .flatten()
            .map(|b| b.until)
            .max()
        {
            Some(until) => Verdict::Throttled {
                retry_after: (until - now) as u64,
            },
            None => Verdict::Wrong,
        }
    }

    /// Forget what no longer matters (run by `crate::maintenance`).
    pub fn prune(&self) {
        let now = self.clock.now();
        let window = self.config.window.as_secs() as i64;
        self.accounts.prune(now, window);
        self.addresses.prune(now, window);
        let ttl = self.config.trust_address_for.as_secs() as i64;
        self.trusted().retain(|_, at| now < at.saturating_add(ttl));
    }

    /// Entries held (failure counters, back-offs, trusted pairs).
    pub fn tracked(&self) -> usize {
        self.accounts.tracked() + self.addresses.tracked() + self.trusted().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;

    fn throttle(clock: &MockClock) -> Throttle {
        let config = ThrottleConfig {
            account_failures: 2,
            address_failures: 100,
            window: Duration::from_secs(60),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(25),
            ..ThrottleConfig::default()
        };
        Throttle::new(&config, Arc::new(clock.clone()))
    }

    async fn attempt(t: &Throttle, user: &str, peer: &str, ok: bool) -> Verdict {
        t.guard(Subject::User(user), peer.parse().unwrap(), async { Ok(ok) })
            .await
    }

    async fn client_attempt(t: &Throttle, peer: &str, ok: bool) -> Verdict {
        t.guard(Subject::Client("c"), peer.parse().unwrap(), async {
            Ok(ok)
        })
        .await
    }

    #[tokio::test]
    async fn addresses_of_one_ipv6_prefix_share_an_allowance() {
        let clock = MockClock::starting_now();
        let config = ThrottleConfig {
            address_failures: 2,
            ..ThrottleConfig::default()
        };
        let t = Throttle::new(&config, Arc::new(clock.clone()));
        assert_eq!(attempt(&t, "a", "2001:db8::1", false).await, Verdict::Wrong);
        // Another address of the same /64, another account: same allowance.
        assert!(matches!(
            attempt(&t, "b", "2001:db8::2", false).await,
            Verdict::Throttled { .. }
        ));
        assert!(matches!(
            attempt(&t, "c", "2001:db8::3", true).await,
            Verdict::Throttled { .. }
        ));
        assert_eq!(
            attempt(&t, "c", "2001:db9::1", true).await,
            Verdict::Verified
        );
    }

    #[tokio::test]
    async fn failures_for_a_client_id_never_hold_out_its_right_secret() {
        let clock = MockClock::starting_now();
        let t = throttle(&clock);
        // A guesser's address is backed off by its own limit...
        let config = ThrottleConfig {
            address_failures: 2,
            ..ThrottleConfig::default()
        };
        let strict = Throttle::new(&config, Arc::new(clock.clone()));
        assert_eq!(
            client_attempt(&strict, "10.0.0.1", false).await,
            Verdict::Wrong
        );
        assert!(matches!(
            client_attempt(&strict, "10.0.0.1", false).await,
            Verdict::Throttled { .. }
        ));
        // ...but the client id's failures start no back-off of their own, so
        // the real client from an address it never used gets through.
        for _ in 0..5 {
            assert_eq!(client_attempt(&t, "10.0.0.1", false).await, Verdict::Wrong);
        }
        assert_eq!(
            client_attempt(&t, "10.0.0.2", true).await,
            Verdict::Verified
        );
        assert_eq!(
            client_attempt(&strict, "10.0.0.2", true).await,
            Verdict::Verified
        );
    }

    #[tokio::test]
    async fn back_off_doubles_up_to_the_cap_and_spares_trusted_addresses() {
        let clock = MockClock::starting_now();
        let t = throttle(&clock);
        assert_eq!(
            attempt(&t, "bob", "10.0.0.9", true).await,
            Verdict::Verified
        );
        assert_eq!(attempt(&t, "bob", "10.0.0.1", false).await, Verdict::Wrong);
        let throttled = |retry_after| Verdict::Throttled { retry_after };
        assert_eq!(attempt(&t, "Bob", "10.0.0.1", false).await, throttled(10));
        assert_eq!(attempt(&t, "bob", "10.0.0.2", true).await, throttled(10));
        // The address bob signed in from before is not locked out.
        assert_eq!(
            attempt(&t, "bob", "10.0.0.9", true).await,
            Verdict::Verified
        );
        clock.advance(10);
        assert_eq!(attempt(&t, "bob", "10.0.0.1", false).await, throttled(20));
        clock.advance(20);
        assert_eq!(attempt(&t, "bob", "10.0.0.1", false).await, throttled(25));
        clock.advance(25);
        assert_eq!(
            attempt(&t, "bob", "10.0.0.2", true).await,
            Verdict::Verified
        );
        // Other accounts are not affected.
        assert_eq!(
            attempt(&t, "carol", "10.0.0.1", false).await,
            Verdict::Wrong
        );
    }

    #[tokio::test]
    async fn state_is_forgotten_after_a_quiet_window() {
        let clock = MockClock::starting_now();
        let t = throttle(&clock);
        for _ in 0..2 {
            attempt(&t, "bob", "10.0.0.1", false).await;
        }
        assert!(t.tracked() > 0);
        clock.advance(200);
        t.prune();
        assert_eq!(t.tracked(), 0);
        assert_eq!(attempt(&t, "bob", "10.0.0.1", false).await, Verdict::Wrong);
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_back_off_is_an_audit_event() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _scope = tracing::subscriber::set_default(subscriber);
        let clock = MockClock::starting_now();
        let t = throttle(&clock);
        for _ in 0..2 {
            attempt(&t, "bob", "10.0.0.1", false).await;
        }
        let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let line = logs
            .lines()
            .find(|l| l.contains("account_throttled"))
            .unwrap_or_else(|| panic!("no audit event in {logs}"));
        for part in [" audit:", "bob", "10.0.0.1", "retry_after=10"] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
    }

    #[tokio::test]
    async fn a_busy_verifier_is_not_a_failure() {
        let clock = MockClock::starting_now();
        let t = throttle(&clock);
        for _ in 0..5 {
            let v = t
                .guard(Subject::Client("c"), "10.0.0.1".parse().unwrap(), async {
                    Err(Busy)
                })
                .await;
            assert_eq!(v, Verdict::Busy { retry_after: 1 });
        }
        assert_eq!(attempt(&t, "c", "10.0.0.1", false).await, Verdict::Wrong);
    }
}
