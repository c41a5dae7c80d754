//! The Cookie request header, under an http and an https issuer.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use signoff::Config;
use signoff::http::cookies;
use std::sync::OnceLock;

fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let https = Config {
            issuer: url::Url::parse("https://id.example.com/auth").expect("issuer"),
            ..Config::default()
        };
        [Config::default(), https]
    })
}

fuzz_target!(|data: &[u8]| {
    // Several Cookie headers may arrive (HTTP/2 splits them): one per line.
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(header::COOKIE, value);
        }
    }
    for config in configs() {
        for base in [cookies::SESSION, cookies::BROWSER, cookies::CSRF] {
            let value = cookies::read(config, &headers, base);
            assert_eq!(value.is_some(), cookies::present(config, &headers, base));
            if let Some(v) = value {
                assert!(!v.is_empty());
            }
        }
    }
});
