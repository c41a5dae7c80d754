//! Randomness is injected like the clock. Production uses the operating
//! system's CSPRNG through OpenSSL; tests may substitute a deterministic source.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub trait Random: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}

#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // OpenSSL's RAND_bytes only fails when the OS entropy source is gone;
        // issuing predictable tokens would be worse than stopping.
        openssl::rand::rand_bytes(buf).expect("the operating system's random source failed");
    }
}

/// 256 bits, base64url: authorization codes, opaque tokens, cookies.
pub fn secret_token(rng: &dyn Random) -> String {
    let mut buf = [0u8; 32];
    rng.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// 128 bits, base64url: identifiers that need to be unguessable but not secret
/// (user ids, `sid`, `jti`, interaction ids, key ids).
pub fn identifier(rng: &dyn Random) -> String {
    let mut buf = [0u8; 16];
    rng.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = secret_token(&OsRandom);
        let b = secret_token(&OsRandom);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(identifier(&OsRandom).len(), 22);
    }
}
