//! Signing keys: key generation, the lifecycle (next → current → retired →
//! removed, see docs/keys.md), and the in-memory key store every token signer
//! and verifier goes through. The algorithms are `crate::jws`; sealing at
//! rest is `crate::seal`.

mod keystore;
mod plan;
pub mod rotation;

use anyhow::bail;
use sea_orm::DatabaseConnection;

pub use keystore::{
    JwksDocument, KeyStore, Scheduled, SigningKey, generate_key, newest_signer, select_signer,
};
pub use rotation::{KeyState, Lifecycle, Schedule};

use crate::config::{Config, KeyConfig};
use crate::random::Random;
use crate::seal::MasterKeys;

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
