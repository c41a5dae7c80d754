//! Cookies of the hosted pages. Values are random; the server stores hashes.
//!
//! Under an https issuer every cookie is `Secure` and carries the `__Host-`
//! prefix (RFC 6265bis §4.1.3.2): a browser accepts such a cookie only from a
//! secure origin, with `Secure`, `Path=/` and no `Domain`, so a page on a
//! sibling subdomain can neither plant nor overwrite it (which would defeat
//! the double-submit CSRF cookie and the interaction binding). An http issuer
//! (loopback development only) can have neither.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::Config;

/// The SSO session (its secret; the row is found by its hash).
pub const SESSION: &str = "signoff_session";
/// Binds a pending login/consent interaction to the browser that started it,
/// so a link to someone else's interaction is useless (login CSRF).
pub const BROWSER: &str = "signoff_browser";
/// The double-submit CSRF token of the account and logout forms.
pub const CSRF: &str = "signoff_csrf";

/// The name the cookie `base` goes by under this configuration.
pub fn name<'a>(config: &Config, base: &'a str) -> Cow<'a, str> {
    if config.secure_cookies() {
        Cow::Owned(format!("__Host-{base}"))
    } else {
        Cow::Borrowed(base)
    }
}

/// The value of the cookie `base` (under its configured name) in a request.
/// Under an https issuer an unprefixed cookie of the same base name is
/// ignored: only the `__Host-` one is known to come from this origin.
pub fn read<'a>(config: &Config, headers: &'a HeaderMap, base: &str) -> Option<&'a str> {
    let name = name(config, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Whether a request sent the cookie `base` at all.
pub fn present(config: &Config, headers: &HeaderMap, base: &str) -> bool {
    read(config, headers, base).is_some()
}

/// The SameSite attribute of the cookie `base`.
///
/// The SSO session cookie is `SameSite=None` under an https issuer: a relying
/// party may send the authorization request as a cross-site form POST
/// (OpenID Core §3.1.2.1 allows POST), and a `Lax` cookie is withheld from
/// cross-site POSTs (RFC 6265bis §5.2.1), so the user would be asked to sign
/// in again although signed in. Certified providers make the same choice.
/// Nothing that changes state trusts the session cookie alone: every form
/// carries a CSRF token and every page forbids framing. `SameSite=None`
/// requires `Secure` (RFC 6265bis §5.6.7.1), so an http issuer keeps `Lax`,
/// and `POST /authorize` without the cookie falls back to a top-level `GET`
/// (see `oidc::authorize`). The other cookies are only needed on same-site
/// requests and top-level navigations, so they stay `Lax`.
fn same_site(config: &Config, base: &str) -> &'static str {
    if base == SESSION && config.secure_cookies() {
        "None"
    } else {
        "Lax"
    }
}

/// `Set-Cookie` for `base`: `HttpOnly`, `Path=/`, its SameSite policy, and
/// `Secure` with the `__Host-` name when the issuer is https. `max_age` of
/// `None` makes a browser-session cookie; `Some(0)` deletes (with the same
/// attributes, or a browser ignores a `__Host-` deletion).
pub fn set(config: &Config, base: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite={}",
        name(config, base),
        same_site(config, base)
    );
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if config.secure_cookies() {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn https() -> Config {
        Config {
            issuer: url::Url::parse("https://id.example.com/auth").unwrap(),
            ..Config::default()
        }
    }

    #[test]
    fn reads_one_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; signoff_session=xyz; b=2"),
        );
        assert_eq!(read(&Config::default(), &h, SESSION), Some("xyz"));
        assert_eq!(read(&Config::default(), &h, BROWSER), None);
    }

    #[test]
    fn https_reads_only_the_host_prefixed_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("signoff_csrf=planted; __Host-signoff_session=real"),
        );
        assert_eq!(read(&https(), &h, SESSION), Some("real"));
        assert_eq!(read(&https(), &h, CSRF), None);
    }

    #[test]
    fn http_issuer_cookie_attributes() {
        let v = set(&Config::default(), SESSION, "v", Some(60));
        let s = v.to_str().unwrap();
        assert!(s.starts_with("signoff_session=v;"), "{s}");
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Max-Age=60"));
        assert!(!s.contains("Secure"), "http issuer gets no Secure flag");
    }

    #[test]
    fn https_issuer_cookie_attributes() {
        // An issuer with a path still gets Path=/, as __Host- requires.
        let session = set(&https(), SESSION, "v", None);
        assert_eq!(
            session.to_str().unwrap(),
            "__Host-signoff_session=v; Path=/; HttpOnly; SameSite=None; Secure"
        );
        let csrf = set(&https(), CSRF, "t", Some(0));
        assert_eq!(
            csrf.to_str().unwrap(),
            "__Host-signoff_csrf=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
    }
}
