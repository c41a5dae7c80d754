//! Refresh tokens: opaque, stored hashed, one-time use (rotated on every
//! refresh), all tokens of one grant forming a family.

use crate::random::{Random, secret_token};
use crate::secrets::token_hash;
use crate::store::grants::RefreshTokenRecord;
use crate::tokens::liveness::IssuedUnder;

pub struct NewRefreshToken<'a> {
    pub grant_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub scope: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub issued_under: IssuedUnder,
    /// RFC 9449 §5: the DPoP key a public client's token is bound to.
    pub jkt: Option<&'a str>,
}

/// A new refresh token and the row that makes it valid (not yet stored).
pub fn mint(rng: &dyn Random, t: NewRefreshToken<'_>) -> (String, RefreshTokenRecord) {
    let token = secret_token(rng);
    let row = RefreshTokenRecord {
        token_hash: token_hash(&token),
        grant_id: t.grant_id.into(),
        client_id: t.client_id.into(),
        user_id: t.user_id.into(),
        scope: t.scope.into(),
        issued_at: t.now,
        expires_at: t.expires_at,
        consumed_at: None,
        revoked_at: None,
        successor_hash: None,
        successor_sealed: None,
        user_version: t.issued_under.user,
        client_version: t.issued_under.client,
        jkt: t.jkt.map(Into::into),
    };
    (token, row)
}

/// The key that seals a consumed token's successor response: derived from
/// the consumed token itself, so only a holder of that token (who is owed
/// the successor during the grace period) can open it, and the database
/// alone reveals nothing.
fn successor_key(consumed_token: &str) -> [u8; 32] {
    let mut input = b"signoff/refresh-successor/v1\0".to_vec();
    input.extend_from_slice(consumed_token.as_bytes());
    openssl::sha::sha256(&input)
}

pub fn seal_successor(
    consumed_token: &str,
    plaintext: &[u8],
    rng: &dyn Random,
) -> anyhow::Result<String> {
    use base64::Engine;
    let mut iv = [0u8; 12];
    rng.fill(&mut iv);
    let mut tag = [0u8; 16];
    let ciphertext = openssl::symm::encrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        &successor_key(consumed_token),
        Some(&iv),
        b"",
        plaintext,
        &mut tag,
    )?;
    let mut out = iv.to_vec();
    out.extend_from_slice(&ciphertext);
    out.extend_from_slice(&tag);
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
}

pub fn open_successor(consumed_token: &str, sealed: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(sealed)
        .ok()?;
    if raw.len() < 12 + 16 {
        return None;
    }
    let (iv, rest) = raw.split_at(12);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    openssl::symm::decrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        &successor_key(consumed_token),
        Some(iv),
        b"",
        ciphertext,
        tag,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn successor_opens_only_with_the_consumed_token() {
        let sealed = seal_successor("old-token", b"{\"a\":1}", &OsRandom).unwrap();
        assert_eq!(open_successor("old-token", &sealed).unwrap(), b"{\"a\":1}");
        assert!(open_successor("other-token", &sealed).is_none());
        assert!(open_successor("old-token", "garbage").is_none());
    }
}
