//! Private signing keys at rest: AES-256-GCM under an operator-held master
//! key. The master key list works like a keyring: the first key seals, every
//! key opens, so an operator can introduce a new master key (first) while rows
//! sealed under the old one (kept second) still open.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

use crate::random::Random;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Version prefix of a sealed value, so the format can change later.
const PREFIX: &str = "v1.";

/// File `signoff serve --demo` keeps its development master key in when no
/// master key is configured (see docs/keys.md).
pub const DEV_MASTER_KEY_FILE: &str = "signoff-dev-master.key";

#[derive(Clone)]
pub struct MasterKeys(Vec<[u8; KEY_LEN]>);

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKeys({} keys, redacted)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("not a sealed value (expected the {PREFIX} format)")]
    Format,
    #[error("no configured master key opens this value")]
    WrongKey,
}

impl MasterKeys {
    /// Parse a list of master keys separated by commas, whitespace or lines
    /// (`#` starts a comment). Each is 32 random bytes in base64 (either
    /// alphabet, padded or not), e.g. the output of `openssl rand -base64 32`.
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for line in list.lines() {
            let line = line.split('#').next().unwrap_or("");
            for item in line.split([',', ' ', '\t']).filter(|s| !s.is_empty()) {
                keys.push(decode_key(item).with_context(|| {
                    format!("master key #{} is not 32 bytes of base64", keys.len() + 1)
                })?);
            }
        }
        if keys.is_empty() {
            bail!("the master key list is empty");
        }
        Ok(MasterKeys(keys))
    }

    pub fn read_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read master key file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("master key file {}", path.display()))
    }

    /// Encrypt `plaintext` under the first master key, bound to `context`
    /// (authenticated, not stored) so a sealed value copied into another row
    /// does not open there.
    pub fn seal(&self, rng: &dyn Random, plaintext: &[u8], context: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0[0],
            Some(&nonce),
            context,
            plaintext,
            &mut tag,
        )
        // AES-256-GCM with a 32-byte key and a 12-byte nonce cannot be
        // misconfigured; OpenSSL fails here only when out of memory.
        .expect("AES-256-GCM encryption");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypt a value made by [`MasterKeys::seal`] with any configured key.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Format)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Format)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Format);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        self.0
            .iter()
            .find_map(|key| {
                decrypt_aead(
                    Cipher::aes_256_gcm(),
                    key,
                    Some(nonce),
                    context,
                    ciphertext,
                    tag,
                )
                .ok()
            })
            .ok_or(SealError::WrongKey)
    }

    /// A key for `purpose` derived from each master key (HMAC-SHA256 of the
    /// purpose label), the first master key's first: for values every
    /// instance makes and checks without storing them (DPoP nonces). A new
    /// master key put first changes what is made; the old one, kept second,
    /// still checks what it made.
    pub fn derive(&self, purpose: &str) -> Vec<[u8; KEY_LEN]> {
        let label = format!("signoff/{purpose}/v1");
        self.0
            .iter()
            .map(|key| crate::secrets::hmac_sha256(key, label.as_bytes()))
            .collect()
    }

    /// A fresh random master key in the format [`MasterKeys::parse`] reads.
    pub fn generate(rng: &dyn Random) -> String {
        let mut key = [0u8; KEY_LEN];
        rng.fill(&mut key);
        STANDARD.encode(key)
    }

    /// The development master key of `--demo`: read from `path`, or created
    /// there (readable by the owner only) on first use, so that a restarted
    /// demo server can still open the keys it sealed.
    pub fn load_or_create_dev(path: &Path, rng: &dyn Random) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::read_file(path);
        }
        let key = Self::generate(rng);
        write_private_file(path, &format!("{key}\n"))
            .with_context(|| format!("cannot create {}", path.display()))?;
        Self::parse(&key)
    }
}

fn decode_key(item: &str) -> anyhow::Result<[u8; KEY_LEN]> {
    let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(item).ok())
        .context("not base64")?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{} bytes instead of {KEY_LEN}", b.len()))
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn keys(list: &[&str]) -> MasterKeys {
        MasterKeys::parse(&list.join(",")).unwrap()
    }

    #[test]
    fn sealed_value_opens_with_the_key_and_context_only() {
        let a = MasterKeys::generate(&OsRandom);
        let b = MasterKeys::generate(&OsRandom);
        let sealed = keys(&[&a]).seal(&OsRandom, b"private jwk", b"kid-1");
        assert!(!sealed.contains("private"));
        assert_eq!(keys(&[&a]).open(&sealed, b"kid-1").unwrap(), b"private jwk");
        assert_eq!(
            keys(&[&a]).open(&sealed, b"kid-2"),
            Err(SealError::WrongKey)
        );
        assert_eq!(
            keys(&[&b]).open(&sealed, b"kid-1"),
            Err(SealError::WrongKey)
        );
        assert_eq!(
            keys(&[&a]).open("{\"d\":\"x\"}", b"kid-1"),
            Err(SealError::Format)
        );
    }

    #[test]
    fn first_key_seals_and_every_key_opens() {
        let old = MasterKeys::generate(&OsRandom);
        let new = MasterKeys::generate(&OsRandom);
        let under_old = keys(&[&old]).seal(&OsRandom, b"x", b"c");
        let ring = keys(&[&new, &old]);
        assert_eq!(ring.open(&under_old, b"c").unwrap(), b"x");
        let under_ring = ring.seal(&OsRandom, b"y", b"c");
        assert_eq!(keys(&[&new]).open(&under_ring, b"c").unwrap(), b"y");
        assert!(keys(&[&old]).open(&under_ring, b"c").is_err());
    }

    #[test]
    fn master_key_list_syntax() {
        let a = MasterKeys::generate(&OsRandom);
        let b = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let parsed = MasterKeys::parse(&format!("# new first\n{a}\n\n{b} # old\n")).unwrap();
        assert_eq!(parsed.0.len(), 2);
        assert!(MasterKeys::parse("").is_err());
        assert!(MasterKeys::parse(&STANDARD.encode([1u8; 16])).is_err());
        assert!(MasterKeys::parse("not base64!").is_err());
    }
}
