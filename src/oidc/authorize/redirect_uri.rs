//! Matching a presented `redirect_uri` against the registered ones (OpenID
//! Core §3.1.2.1, RFC 9700 §4.1.3: simple string comparison), with the one
//! exception RFC 8252 §7.3 makes for native apps on a loopback IP address.

use crate::store::clients::Client;

/// The registered URI `presented` matches, if any.
pub fn registered_match<'a>(client: &'a Client, presented: &str) -> Option<&'a str> {
    client
        .redirect_uris
        .iter()
        .map(String::as_str)
        .find(|registered| matches(registered, presented, client.is_public()))
}

/// RFC 8252 §7.3: for a loopback IP redirect URI (`http://127.0.0.1`,
/// `http://[::1]`) the authorization server MUST allow any port at request
/// time; the app listens on whatever port the OS gave it. Only public
/// clients (native apps, RFC 8252 §8.4) get this; a confidential client and
/// every other URI are compared exactly. `localhost` is not a loopback IP
/// (RFC 8252 §8.3: NOT RECOMMENDED) and gets no exception.
pub fn matches(registered: &str, presented: &str, public: bool) -> bool {
    if registered == presented {
        return true;
    }
    if !public {
        return false;
    }
    match (split_loopback(registered), split_loopback(presented)) {
        // Same host, same path and query, character for character: only the
        // port may differ.
        (Some((host_a, rest_a)), Some((host_b, rest_b))) => host_a == host_b && rest_a == rest_b,
        _ => false,
    }
}

/// `http://127.0.0.1[:port]<rest>` or `http://[::1][:port]<rest>` split into
/// the host and what follows the port (which must start the path, query or
/// nothing). Anything else (another scheme or host, userinfo, a malformed
/// port) is `None`.
fn split_loopback(uri: &str) -> Option<(&'static str, &str)> {
    let after_scheme = uri.strip_prefix("http://")?;
    let (host, after_host) = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find_map(|h| after_scheme.strip_prefix(h).map(|rest| (h, rest)))?;
    let rest = match after_host.strip_prefix(':') {
        Some(with_port) => {
            let digits = with_port.bytes().take_while(u8::is_ascii_digit).count();
            let port: u16 = with_port[..digits].parse().ok()?;
            if port == 0 {
                return None;
            }
            &with_port[digits..]
        }
        None => after_host,
    };
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
        return None;
    }
    // A fragment is never allowed in a redirect URI (RFC 6749 §3.1.2).
    if rest.contains('#') {
        return None;
    }
    Some((host, rest))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn loopback_ip_uris_of_public_clients_match_any_port() {
        let cases = [
            ("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", true),
            ("http://127.0.0.1:7002/cb", "http://127.0.0.1:9/cb", true),
            ("http://127.0.0.1/cb", "http://127.0.0.1/cb", true),
            ("http://[::1]/cb?x=1", "http://[::1]:8080/cb?x=1", true),
            // Only the port may differ.
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb2", false),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/CB", false),
            ("http://127.0.0.1/cb", "http://[::1]:5000/cb", false),
            ("http://127.0.0.1/cb", "https://127.0.0.1:5000/cb", false),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb?x", false),
            ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb#f", false),
            ("http://127.0.0.1/cb", "http://127.0.0.1:0/cb", false),
            ("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", false),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1:80@evil.example/cb",
                false,
            ),
            (
                "http://127.0.0.1/cb",
                "http://127.0.0.1.evil.example/cb",
                false,
            ),
            // localhost is not a loopback IP (RFC 8252 §8.3).
            ("http://localhost/cb", "http://localhost:5000/cb", false),
            (
                "https://app.example/cb",
                "https://app.example:444/cb",
                false,
            ),
        ];
        for (registered, presented, expected) in cases {
            assert_eq!(
                matches(registered, presented, true),
                expected,
                "{registered} vs {presented}"
            );
        }
    }

    #[test]
    fn confidential_clients_match_exactly() {
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1/cb", false));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51234/cb",
            false
        ));
    }
}
