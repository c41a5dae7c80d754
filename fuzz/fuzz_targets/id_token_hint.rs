//! JWS parsing and verification of tokens clients send back: the
//! `id_token_hint` of /authorize and /end_session (OpenID Core §3.1.2.1,
//! RP-Initiated Logout §2) and JWT access tokens (RFC 9068) at UserInfo,
//! introspection and revocation.
//!
//! Input, by its first byte:
//! - 0: the rest is a compact JWS as a client would send it;
//! - 1: the rest is `typ`, a newline, and a JSON payload, signed here with a
//!   real key, so what follows a good signature (claims, `iss`, `aud`) is
//!   fuzzed too; the token is then also checked with one byte flipped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signoff::jws::Algorithm;
use signoff::tokens::{id_token, validate};
use signoff_fuzz::{Harness, PUBLIC};

fn check(harness: &Harness, token: &str) -> bool {
    let state = &harness.state;
    let any = id_token::verify_any_audience(state, token);
    let for_client = id_token::verify_hint(state, token, PUBLIC);
    if let Some(h) = &for_client {
        assert!(h.aud.iter().any(|a| a == PUBLIC));
        assert!(any.is_some());
    }
    let _ = validate::verified_jwt(state, token, true);
    let _ = validate::verified_jwt(state, token, false);
    any.is_some()
}

fuzz_target!(|data: &[u8]| {
    let harness = Harness::get(false);
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                check(harness, token);
            }
        }
        1 => {
            let Ok(rest) = std::str::from_utf8(rest) else {
                return;
            };
            let (typ, payload) = rest.split_once('\n').unwrap_or(("JWT", rest));
            let Ok(claims) = serde_json::from_str::<serde_json::Value>(payload) else {
                return;
            };
            let now = harness.state.now();
            for alg in Algorithm::ALL {
                let Some(key) = harness.state.keys.signer(alg, now) else {
                    continue;
                };
                let Ok(token) = key.sign(typ, &claims) else {
                    continue;
                };
                check(harness, &token);
                // A signature over other bytes never verifies.
                let mut tampered = token.into_bytes();
                let i = tampered.len() / 2;
                tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
                if let Ok(t) = String::from_utf8(tampered) {
                    let dot = t.rfind('.').unwrap_or(0);
                    if i < dot {
                        assert!(!check(harness, &t) || t.as_bytes()[i] == b'.');
                    }
                }
            }
        }
        _ => {}
    }
});
