//! Server-provided DPoP nonces (RFC 9449 §8, §9), stateless: a nonce is the
//! HMAC of a time window under a key derived from the master keys, so every
//! instance makes the same nonce and checks any other's without storing
//! anything. A nonce is issued for the current window and accepted during it
//! and the next: it lives between one and two `dpop.nonce_rotation`
//! periods.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::seal::MasterKeys;
use crate::secrets::{constant_time_eq, hmac_sha256};

const PURPOSE: &str = "dpop-nonce";

fn window(now: i64, rotation: i64) -> i64 {
    now.div_euclid(rotation.max(1))
}

fn nonce_for(key: &[u8], window: i64) -> String {
    let mut message = b"dpop-nonce\0".to_vec();
    message.extend_from_slice(&window.to_be_bytes());
    URL_SAFE_NO_PAD.encode(hmac_sha256(key, &message))
}

/// The nonce to hand out now.
pub fn current(master: &MasterKeys, now: i64, rotation: i64) -> String {
    let keys = master.derive(PURPOSE);
    nonce_for(&keys[0], window(now, rotation))
}

/// Whether `nonce` was handed out in this window or the previous one.
pub fn is_current(master: &MasterKeys, nonce: &str, now: i64, rotation: i64) -> bool {
    let w = window(now, rotation);
    master.derive(PURPOSE).iter().any(|key| {
        [w, w - 1]
            .iter()
            .any(|w| constant_time_eq(&nonce_for(key, *w), nonce))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> MasterKeys {
        MasterKeys::parse("c2lnbm9mZi10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXM=").unwrap()
    }

    #[test]
    fn a_nonce_lives_its_window_and_the_next() {
        let k = keys();
        let n = current(&k, 1000, 300);
        assert!(is_current(&k, &n, 1000, 300));
        assert!(is_current(&k, &n, 1199, 300));
        assert!(is_current(&k, &n, 1499, 300));
        assert!(!is_current(&k, &n, 1500, 300));
        assert!(!is_current(&k, &n, 899, 300));
        assert_ne!(current(&k, 1200, 300), n);
        assert!(!is_current(&k, "forged", 1000, 300));
    }

    #[test]
    fn an_old_master_key_still_checks_its_nonces() {
        let old = keys();
        let n = current(&old, 1000, 300);
        let rotated = MasterKeys::parse(&format!(
            "{},c2lnbm9mZi10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXM=",
            MasterKeys::generate(&crate::random::OsRandom)
        ))
        .unwrap();
        assert!(is_current(&rotated, &n, 1000, 300));
        assert_ne!(current(&rotated, 1000, 300), n);
    }
}
