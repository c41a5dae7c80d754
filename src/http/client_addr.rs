//! The client's address: what the sign-in budget, the brute-force throttle
//! and the logs count a request under. It is the TCP peer, unless the peer is
//! one of `http.trusted_proxies`: then `X-Forwarded-For` is read from the
//! right, each trusted proxy naming the hop before it, and the first address
//! no trusted proxy vouches for is the client. Whatever a client writes to the
//! left of that is ignored, so it cannot pick the address it is counted as.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::state::AppState;

/// Hops of `X-Forwarded-For` read at most: a longer chain of trusted proxies
/// is a misconfiguration, not a deployment.
const MAX_HOPS: usize = 16;

/// The address a request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(of(
            &parts.extensions,
            &parts.headers,
            &state.config.http.trusted_proxies,
        ))
    }
}

/// The client address of a request with these extensions and headers.
pub fn of(
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> ClientAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    ClientAddr(resolve(peer, headers, trusted))
}

fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    // RFC 7239 §5.2 describes the same chain for `Forwarded`; the de facto
    // `X-Forwarded-For` is what proxies send. Several header lines form one
    // list, in order.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev().take(MAX_HOPS) {
        // A hop that is not an address (garbage, `unknown`, an obfuscated
        // identifier) ends the chain: the last proxy that spoke is the client
        // as far as anyone can vouch.
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let h = headers(&["203.0.113.9"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn an_untrusted_peer_cannot_name_another_address() {
        let h = headers(&["203.0.113.9"]);
        assert_eq!(
            resolve(ip("198.51.100.7"), &h, &nets(&["10.0.0.0/8"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_rightmost_address_no_trusted_proxy_vouches_for_is_the_client() {
        // The client forged the leftmost entry; the proxies appended the rest.
        let h = headers(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(
            resolve(ip("10.0.0.1"), &h, &nets(&["10.0.0.0/8"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn garbage_ends_the_chain_at_the_last_proxy() {
        let h = headers(&["203.0.113.9, unknown"]);
        assert_eq!(
            resolve(ip("10.0.0.1"), &h, &nets(&["10.0.0.0/8"])),
            ip("10.0.0.1")
        );
        // No header at all: the proxy itself.
        assert_eq!(
            resolve(ip("10.0.0.1"), &HeaderMap::new(), &nets(&["10.0.0.0/8"])),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn mapped_ipv4_matches_ipv4_ranges() {
        let h = headers(&["::ffff:203.0.113.9"]);
        assert_eq!(
            resolve(ip("::ffff:10.0.0.1"), &h, &nets(&["10.0.0.0/8"])),
            ip("203.0.113.9")
        );
    }
}
