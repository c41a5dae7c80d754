//! Requests Signoff makes to addresses a client chose (a push receiver's
//! endpoint, a `private_key_jwt` client's `jwks_uri`): which addresses they
//! may reach. One list, so the two callers cannot drift apart.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Anything but the public internet (RFC 6890 and its IPv6 registry):
/// loopback, private, shared, link-local, documentation, benchmarking,
/// reserved and multicast ranges, and IPv6 forms that carry or translate to
/// an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo), which could
/// otherwise smuggle a private IPv4 address past the check.
pub fn is_special_purpose(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => is_special_v6(v6),
    }
}

fn is_special_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        // "This network", and 240/4 reserved.
        || a == 0
        || a >= 240
        // RFC 6598 shared address space (carrier-grade NAT).
        || (a == 100 && (64..128).contains(&b))
        // RFC 2544 benchmarking.
        || (a == 198 && (b == 18 || b == 19))
        // 192.0.0.0/24 IETF protocol assignments, 192.88.99.0/24 6to4 relays.
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
}

fn is_special_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_special_v4(v4);
    }
    let s = v6.segments();
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        // ::/96 IPv4-compatible (deprecated), 64:ff9b::/96 and
        // 64:ff9b:1::/48 NAT64, 100::/64 discard.
        || s[..6] == [0; 6]
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || (s[0] == 0x100 && s[1..4] == [0; 3])
        // 2001::/23 IETF protocol assignments (Teredo 2001::/32 among them),
        // 2001:db8::/32 documentation, 2002::/16 6to4.
        || (s[0] == 0x2001 && s[1] < 0x200)
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || s[0] == 0x2002
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_and_translated_addresses_are_special_purpose() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.0.8",
            "::1",
            "::",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
        ] {
            assert!(is_special_purpose(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_special_purpose(ip.parse().unwrap()), "{ip}");
        }
    }
}
