//! Everything a request handler needs, built once at start.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::clock::{Clock, SystemClock, UnixTime};
use crate::config::Config;
use crate::http::rate::AddressBudget;
use crate::keys::KeyStore;
use crate::oidc::client_keys::JwksCache;
use crate::random::{OsRandom, Random};
use crate::revocation::{RevocationView, Revoker};
use crate::secrets::{PasswordVerifier, VerifiedSecrets};
use crate::store::group_commit::GroupCommit;
use crate::throttle::Throttle;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    pub keys: KeyStore,
    pub client_secrets: VerifiedSecrets,
    /// Every argon2id verification goes through it (bounded concurrency).
    pub passwords: PasswordVerifier,
    pub throttle: Throttle,
    /// What this instance knows of the revocation log (`crate::revocation`).
    pub revocations: RevocationView,
    /// Sign-ins one client address may start (`sessions.interactions_per_minute`).
    pub interaction_budget: AddressBudget,
    /// The Shared Signals transmitter's wake-ups and long-poll bound.
    pub ssf: crate::ssf::Hub,
    /// JWK Sets fetched from `private_key_jwt` clients' `jwks_uri`s.
    pub client_jwks: JwksCache,
    /// User codes tried on /device, all addresses together (RFC 8628 §5.1).
    pub user_code_attempts: AddressBudget,
    /// Token writes of concurrent requests, committed together
    /// (`store::group_commit`).
    pub commits: GroupCommit,
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
        let passwords = PasswordVerifier::new(
            config.throttle.max_concurrent_hashes,
            config.throttle.hash_wait,
        );
        let throttle = Throttle::new(&config.throttle, clock.clone());
        let client_secrets = VerifiedSecrets::new(rng.as_ref());
        let interaction_budget = AddressBudget::per_minute(
            config.sessions.interactions_per_minute,
            config.sessions.interaction_burst,
        );
        let ssf = crate::ssf::Hub::new(&config.ssf);
        let per_minute = config.device.user_code_attempts_per_minute;
        let user_code_attempts = AddressBudget::per_minute(per_minute, per_minute);
        let commits = GroupCommit::spawn(db.clone());
        Ok(AppState(Arc::new(Inner {
            commits,
            interaction_budget,
            ssf,
            config,
            db,
            clock,
            rng,
            keys,
            client_secrets,
            passwords,
            throttle,
            revocations,
            client_jwks: JwksCache::new(),
            user_code_attempts,
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
