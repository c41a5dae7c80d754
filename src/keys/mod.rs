//! Signing keys: the algorithms we sign with, key generation, the lifecycle
//! (next → current → retired → removed, see docs/keys.md), sealing at rest,
//! and the in-memory key store every token signer and verifier goes through.

mod keystore;
mod plan;
pub mod rotation;
pub mod seal;

use anyhow::bail;
use sea_orm::DatabaseConnection;

pub use keystore::{
    JwksDocument, KeyStore, Scheduled, SigningKey, generate_key, newest_signer, select_signer,
};
pub use rotation::{KeyState, Lifecycle, Schedule};
pub use seal::MasterKeys;

use crate::config::{Config, KeyConfig};
use crate::random::Random;

/// The master keys from `[keys] master_key` / `master_key_file`
/// (`SIGNOFF_MASTER_KEY` / `SIGNOFF_MASTER_KEY_FILE`).
pub fn master_keys(config: &KeyConfig) -> anyhow::Result<MasterKeys> {
    if let Some(list) = &config.master_key {
        return MasterKeys::parse(list.expose())
            .map_err(|e| anyhow::anyhow!("keys.master_key: {e:#}"));
    }
    if let Some(path) = &config.master_key_file {
        return MasterKeys::read_file(path);
    }
    bail!(
        "no master key to encrypt signing keys at rest: set SIGNOFF_MASTER_KEY \
         (32 random bytes in base64; `signoff keys generate-master-key` prints one) \
         or SIGNOFF_MASTER_KEY_FILE, or try Signoff out with `signoff serve --demo`"
    )
}

/// Bring the keys to their planned state and load them: every enabled
/// algorithm has a key that signs now and a published successor.
pub async fn start(
    config: &Config,
    db: &DatabaseConnection,
    rng: &dyn Random,
    now: i64,
) -> anyhow::Result<KeyStore> {
    let master_keys = master_keys(&config.keys)?;
    let enabled = config.keys.enabled_algorithms();
    let lifecycle = Lifecycle {
        master_keys: &master_keys,
        rng,
        schedule: Schedule::load(config, db).await?,
        enabled: &enabled,
    };
    for change in lifecycle.maintain(db, now).await? {
        tracing::info!(%change, "signing keys");
    }
    let store = KeyStore::load(db, master_keys).await?;
    for alg in enabled {
        match store.signer(alg, now) {
            Some(k) if k.can_sign() => {}
            Some(k) => bail!(
                "the current {alg} signing key {} cannot be decrypted with the configured master \
                 keys; list the master key it was sealed with after the new one (docs/keys.md)",
                k.kid
            ),
            None => bail!("no {alg} signing key is active"),
        }
    }
    Ok(store)
}

/// JWS algorithms Signoff signs with. RS256 is always available (OpenID Core
/// §15.1 makes it mandatory to implement); ES256 and EdDSA are per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Es256,
    EdDsa,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// OpenID Core §3.1.3.6 `at_hash`: the left half of the hash of the
    /// token's ASCII octets, with the hash of the JWS algorithm (SHA-512 for
    /// Ed25519, as the OpenID Foundation's errata settle for EdDSA).
    pub fn half_hash(&self, value: &str) -> String {
        use base64::Engine;
        let digest: Vec<u8> = match self {
            Algorithm::Rs256 | Algorithm::Es256 => openssl::sha::sha256(value.as_bytes()).to_vec(),
            Algorithm::EdDsa => openssl::sha::sha512(value.as_bytes()).to_vec(),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
