//! Everything a request handler needs, built once at start.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use sea_orm::DatabaseConnection;

use crate::clock::{Clock, SystemClock, UnixTime};
use crate::config::Config;
use crate::http::rate::AddressBudget;
use crate::keys::KeyStore;
use crate::random::{OsRandom, Random};
use crate::revocation::{RevocationView, Revoker};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    pub keys: KeyStore,
    pub client_secrets: VerifiedSecrets,
    /// What this instance knows of the revocation log (`crate::revocation`).
    pub revocations: RevocationView,
    /// Sign-ins one client address may start (`sessions.interactions_per_minute`).
    pub interaction_budget: AddressBudget,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Build the state over a migrated database, creating signing keys on
    /// first start. Refuses without a master key (`keys.master_key`).
    pub async fn new(
        config: Config,
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> anyhow::Result<Self> {
        let keys = crate::keys::start(&config, &db, rng.as_ref(), clock.now()).await?;
        let revocations =
            RevocationView::load(db.clone(), clock.clone(), &config.revocation).await?;
        let interaction_budget = AddressBudget::per_minute(
            config.sessions.interactions_per_minute,
            config.sessions.interaction_burst,
        );
        Ok(AppState(Arc::new(Inner {
            interaction_budget,
            config,
            db,
            clock,
            rng,
            keys,
            client_secrets: VerifiedSecrets::default(),
            revocations,
        })))
    }

    pub async fn production(config: Config, db: DatabaseConnection) -> anyhow::Result<Self> {
        Self::new(config, db, Arc::new(SystemClock), Arc::new(OsRandom)).await
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Revoke through `crate::revocation`, now, applying the change to this
    /// instance's view before returning.
    pub fn revoker(&self) -> Revoker<'_> {
        Revoker::new(&self.db, &self.config, self.rng.as_ref(), self.now())
            .with_view(&self.revocations)
    }
}

/// Remembers client secrets that already passed argon2 verification, so the
/// token endpoint pays for argon2 once per secret rather than per request.
/// Entries are keyed by the stored hash: a secret changed or a client removed
/// by any instance changes the stored hash (read fresh on every request), and
/// the old entry simply stops matching.
#[derive(Default)]
pub struct VerifiedSecrets {
    entries: Mutex<HashMap<(String, String), [u8; 32]>>,
}

const MAX_VERIFIED_SECRETS: usize = 10_000;

impl VerifiedSecrets {
    pub async fn verify(&self, stored_hash: &str, client_id: &str, presented: &str) -> bool {
        let digest = openssl::sha::sha256(presented.as_bytes());
        let key = (client_id.to_owned(), stored_hash.to_owned());
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = entries.get(&key) {
                return crate::secrets::constant_time_eq_bytes(known, &digest);
            }
        }
        if !crate::secrets::verify_password_blocking(presented, stored_hash).await {
            return false;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_VERIFIED_SECRETS {
            entries.clear();
        }
        entries.insert(key, digest);
        true
    }
}
