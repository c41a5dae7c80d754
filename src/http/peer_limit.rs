//! A cap on the connections one client holds at once. `http.max_connections`
//! bounds the server as a whole, but without a share per client one address
//! could hold every place with idle keep-alive connections (each renewed
//! before `http.header_read_timeout`) and lock everyone else out. Past
//! `http.max_connections_per_client`, a new connection from the same client
//! is closed at once, before a byte is read.
//!
//! A client is an IPv4 address, or an IPv6 /64: one subscriber usually holds
//! a whole /64 (RFC 6177), so counting single IPv6 addresses would give one
//! host 2^64 shares. Trusted proxies (`http.trusted_proxies`) are not capped:
//! they carry many clients' connections.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use crate::config::HttpConfig;

#[derive(Clone)]
pub struct PeerLimit {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    cap: usize,
    exempt: Arc<[IpNet]>,
}

/// A connection's place in its client's share; released on drop.
pub struct PeerSlot {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    client: Option<IpAddr>,
}

impl PeerLimit {
    pub fn new(limits: &HttpConfig) -> Self {
        Self {
            open: Arc::default(),
            cap: limits.max_connections_per_client,
            exempt: limits.trusted_proxies.clone().into(),
        }
    }

    /// A place for a new connection from `peer`, or `None` when that client
    /// already holds its share. The map holds one entry per client with an
    /// open connection, so it is bounded by `http.max_connections`.
    pub fn admit(&self, peer: IpAddr) -> Option<PeerSlot> {
        let peer = peer.to_canonical();
        if self.exempt.iter().any(|net| net.contains(&peer)) {
            return Some(PeerSlot {
                open: self.open.clone(),
                client: None,
            });
        }
        let client = client_of(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let held = open.entry(client).or_insert(0);
        if *held >= self.cap {
            return None;
        }
        *held += 1;
        Some(PeerSlot {
            open: self.open.clone(),
            client: Some(client),
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let Some(client) = self.client else { return };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = open.get_mut(&client) {
            *held -= 1;
            if *held == 0 {
                open.remove(&client);
            }
        }
    }
}

/// The key a connection is counted under: the address itself for IPv4, the
/// /64 network for IPv6.
fn client_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(cap: usize, exempt: &[&str]) -> PeerLimit {
        let limits = HttpConfig {
            max_connections_per_client: cap,
            trusted_proxies: exempt.iter().map(|n| n.parse().unwrap()).collect(),
            ..HttpConfig::default()
        };
        PeerLimit::new(&limits)
    }

    #[test]
    fn a_client_gets_its_share_and_a_freed_place_back() {
        let limit = limit(2, &[]);
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let first = limit.admit(peer).unwrap();
        let _second = limit.admit(peer).unwrap();
        assert!(limit.admit(peer).is_none());
        assert!(limit.admit("203.0.113.10".parse().unwrap()).is_some());
        drop(first);
        assert!(limit.admit(peer).is_some());
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_one_cap_and_mapped_ipv4_is_ipv4() {
        let limit = limit(1, &[]);
        let _a = limit.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(
            limit
                .admit("2001:db8:1:2:ffff::9".parse().unwrap())
                .is_none()
        );
        assert!(limit.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _v4 = limit.admit("198.51.100.7".parse().unwrap()).unwrap();
        assert!(
            limit
                .admit("::ffff:198.51.100.7".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn trusted_proxies_are_not_capped_and_leave_no_entry() {
        let limit = limit(1, &["10.0.0.0/8"]);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let slots: Vec<_> = (0..5).map(|_| limit.admit(proxy).unwrap()).collect();
        assert!(limit.open.lock().unwrap().is_empty());
        drop(slots);
    }
}
