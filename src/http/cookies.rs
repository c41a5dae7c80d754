//! Cookies of the hosted pages. Values are random; the server stores hashes.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::Config;

/// The SSO session (its secret; the row is found by its hash).
pub const SESSION: &str = "signoff_session";
/// Binds a pending login/consent interaction to the browser that started it,
/// so a link to someone else's interaction is useless (login CSRF).
pub const BROWSER: &str = "signoff_browser";

pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

/// `HttpOnly; SameSite=Lax` always, `Secure` when the issuer is https.
/// `max_age` of `None` makes a browser-session cookie; `Some(0)` deletes.
pub fn set(config: &Config, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
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

    #[test]
    fn reads_one_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; signoff_session=xyz; b=2"),
        );
        assert_eq!(read(&h, SESSION), Some("xyz"));
        assert_eq!(read(&h, BROWSER), None);
    }

    #[test]
    fn session_cookie_attributes() {
        let v = set(&Config::default(), SESSION, "v", Some(60));
        let s = v.to_str().unwrap();
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Max-Age=60"));
        assert!(!s.contains("Secure"), "http issuer gets no Secure flag");
    }
}
