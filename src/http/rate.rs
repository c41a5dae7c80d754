//! Per-client-address budgets (GCRA through `governor`): how often one
//! address may do something that costs the server storage, such as starting
//! a sign-in. Budgets run on the monotonic clock, not the injected protocol
//! clock: they are about real request rates, and tests configure a budget
//! small enough to exhaust at once instead of moving time.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// A per-address budget, or none at all (rate 0).
pub struct AddressBudget {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl AddressBudget {
    /// `per_minute` sustained, up to `burst` at once; `per_minute == 0`
    /// means unlimited.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        AddressBudget { limiter }
    }

    /// Take one unit of `peer`'s budget, or say how long until one is back.
    pub fn spend(&self, peer: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&address_key(peer))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forget addresses whose budget is full again, so the table holds only
    /// the addresses active within the last refill period (run every minute
    /// by `crate::maintenance`).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

/// The key of an address: IPv4 as is (an IPv4-mapped IPv6 address too), and
/// IPv6 by its /64 prefix, the smallest block one subscriber is usually
/// given (RFC 6177 §3): otherwise one host could take a fresh budget for
/// every address of its own prefix.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_per_address_and_ipv6_by_prefix() {
        let budget = AddressBudget::per_minute(1, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(budget.spend(a).is_ok());
        assert!(budget.spend(a).is_ok());
        let wait = budget.spend(a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(budget.spend(b).is_ok());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(budget.spend(mapped).is_err());
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_prefix: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(budget.spend(one).is_ok());
        assert!(budget.spend(one).is_ok());
        assert!(budget.spend(same_prefix).is_err());
        assert_eq!(budget.tracked(), 3);
    }

    #[test]
    fn a_zero_rate_is_unlimited() {
        let budget = AddressBudget::per_minute(0, 0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..1000 {
            assert!(budget.spend(a).is_ok());
        }
    }
}
