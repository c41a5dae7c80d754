//! The key lifecycle, one per algorithm: `next` (published, not signing) →
//! `current` (signs) → `retired` (published so its tokens verify) →
//! `removed`. Transitions into `current` and `retired` are instants stored on
//! the keys, so every instance switches at the same second without talking to
//! the others; the scheduler (every instance, every refresh interval) only
//! creates successors and removes keys whose tokens have all expired.
//!
//! What to do is a pure function of (keys, now) (`plan.rs`); doing it is one
//! transaction of compare-and-set updates, so two instances (or the CLI and a
//! server) acting at once cannot both succeed: the loser changes nothing and
//! leaves the work to the winner.

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, SqlErr};

use super::keystore::generate_key;
pub use super::plan::{KeyState, Schedule, Step, key_states, plan, plan_rotation};
use crate::jws::Algorithm;
use crate::random::Random;
use crate::seal::MasterKeys;
use crate::store::keys as key_rows;

/// Why a transaction gave up.
enum Failure {
    /// Another instance or process changed the keys first.
    Contended,
    Fatal(anyhow::Error),
}

impl From<DbErr> for Failure {
    fn from(e: DbErr) -> Self {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Failure::Contended,
            _ => Failure::Fatal(e.into()),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Fatal(e)
    }
}

/// What changed, for the log and the CLI.
#[derive(Debug, Clone)]
pub struct Change {
    pub alg: Algorithm,
    pub step: Step,
    /// The key a `Create*` step made.
    pub new_kid: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let alg = self.alg;
        let new = self.new_kid.as_deref().unwrap_or("?");
        match &self.step {
            Step::CreateCurrent { .. } => write!(f, "{alg}: key {new} created, signing now"),
            Step::CreateNext { activates_at, .. } => {
                write!(
                    f,
                    "{alg}: key {new} published as next, signs from {}",
                    at(*activates_at)
                )
            }
            Step::Activate { kid, to, .. } => write!(f, "{alg}: key {kid} signs from {}", at(*to)),
            Step::Retire { kid, to, .. } => match to {
                Some(t) => write!(f, "{alg}: key {kid} retires at {}", at(*t)),
                None => write!(f, "{alg}: key {kid} signs until a successor is scheduled"),
            },
            Step::Remove { kid } => write!(f, "{alg}: key {kid} removed from the JWKS"),
        }
    }
}

/// A Unix time in RFC 3339, for people.
pub fn at(t: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Result of `signoff keys rotate` for one algorithm.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub alg: Algorithm,
    /// The former `next` key, now current (or from `signs_from`).
    pub promoted: String,
    pub signs_from: i64,
    pub changes: Vec<Change>,
}

/// Result of `signoff keys revoke`.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub alg: Algorithm,
    pub was: KeyState,
    pub changes: Vec<Change>,
}

/// Everything the lifecycle needs besides the database and the time.
pub struct Lifecycle<'a> {
    pub master_keys: &'a MasterKeys,
    pub rng: &'a dyn Random,
    pub schedule: Schedule,
    pub enabled: &'a [Algorithm],
}

impl Lifecycle<'_> {
    /// The scheduled work: bring every algorithm's keys to their planned
    /// state. Work another instance did first is skipped, not an error.
    pub async fn maintain(&self, db: &DatabaseConnection, now: i64) -> anyhow::Result<Vec<Change>> {
        let rows = key_rows::list_published(db).await?;
        let mut changes = Vec::new();
        for alg in Algorithm::ALL {
            let enabled = self.enabled.contains(&alg);
            if plan(&rows, alg, enabled, now, &self.schedule).is_empty() {
                continue;
            }
            // settle() reads before it writes: take SQLite's write lock first
            // (store::begin_write) so a concurrent writer makes us wait, not fail.
            let txn = crate::store::begin_write(db).await?;
            match self.settle(&txn, alg, now).await {
                Ok(done) => {
                    txn.commit().await?;
                    changes.extend(done);
                }
                Err(Failure::Contended) => {
                    txn.rollback().await?;
                    tracing::debug!(
                        alg = alg.as_str(),
                        "keys changed by another instance; its rotation stands"
                    );
                }
                Err(Failure::Fatal(e)) => {
                    txn.rollback().await?;
                    return Err(e);
                }
            }
        }
        Ok(changes)
    }

    /// Promote the `next` key of `alg` (now, or as soon as it has been
    /// published for the full lead) and publish a new `next`.
    pub async fn rotate(
        &self,
        db: &DatabaseConnection,
        alg: Algorithm,
        now: i64,
    ) -> anyhow::Result<Rotated> {
        if !self.enabled.contains(&alg) {
            bail!("{alg} is not enabled (keys.algorithms)");
        }
        let txn = crate::store::begin_write(db).await?;
        let result: Result<Rotated, Failure> = async {
            let mut changes = self.settle(&txn, alg, now).await?;
            let rows = key_rows::list_published(&txn).await?;
            let (steps, promoted, signs_from) = plan_rotation(&rows, alg, now, &self.schedule)
                .context("no current and next key to rotate")?;
            for step in steps {
                changes.push(self.apply(&txn, alg, step, now).await?);
            }
            changes.extend(self.settle(&txn, alg, now).await?);
            Ok(Rotated {
                alg,
                promoted,
                signs_from,
                changes,
            })
        }
        .await;
        finish(txn, result, alg).await
    }

    /// Remove `kid` now (compromise), in the caller's transaction. If it was
    /// signing, the `next` key signs from now and a new `next` is published.
    /// Only `crate::revocation::revoke_key` calls this, recording the
    /// revocation in the same transaction.
    pub async fn remove(
        &self,
        db: &impl ConnectionTrait,
        kid: &str,
        now: i64,
    ) -> anyhow::Result<Revoked> {
        let all = key_rows::list_all(db).await?;
        let states = key_states(&all, now);
        let Some((record, was)) = all.iter().zip(states).find(|(k, _)| k.kid == kid) else {
            bail!("no signing key {kid}");
        };
        if was == KeyState::Removed {
            bail!("signing key {kid} was already removed");
        }
        let alg = Algorithm::parse(&record.alg)
            .with_context(|| format!("key {kid} has an unknown algorithm {}", record.alg))?;
        let result: Result<Revoked, Failure> = async {
            if !key_rows::remove(db, kid, now).await? {
                return Err(Failure::Contended);
            }
            let mut changes = vec![Change {
                alg,
                step: Step::Remove {
                    kid: kid.to_owned(),
                },
                new_kid: None,
            }];
            changes.extend(self.settle(db, alg, now).await?);
            Ok(Revoked { alg, was, changes })
        }
        .await;
        result.map_err(|failure| failure.into_error(alg))
    }

    /// Apply the plan for `alg` until there is nothing left to do.
    async fn settle(
        &self,
        db: &impl ConnectionTrait,
        alg: Algorithm,
        now: i64,
    ) -> Result<Vec<Change>, Failure> {
        let enabled = self.enabled.contains(&alg);
        let mut changes = Vec::new();
        // Each round either finishes or moves the keys one state closer to
        // the plan; a handful of rounds always suffices.
        for _ in 0..6 {
            let rows = key_rows::list_published(db).await?;
            let steps = plan(&rows, alg, enabled, now, &self.schedule);
            if steps.is_empty() {
                return Ok(changes);
            }
            for step in steps {
                changes.push(self.apply(db, alg, step, now).await?);
            }
        }
        Err(Failure::Fatal(anyhow::anyhow!(
            "{alg} key schedule does not settle"
        )))
    }

    async fn apply(
        &self,
        db: &impl ConnectionTrait,
        alg: Algorithm,
        step: Step,
        now: i64,
    ) -> Result<Change, Failure> {
        let mut new_kid = None;
        let applied = match &step {
            Step::CreateCurrent { activates_at } => {
                new_kid = Some(self.insert(db, alg, now, *activates_at).await?);
                true
            }
            Step::CreateNext {
                current,
                current_retires_at,
                activates_at,
            } => {
                // The guard: only the one transaction that still sees the
                // current key without this successor's time may add it.
                key_rows::set_retires_at(db, current, *current_retires_at, Some(*activates_at))
                    .await?
                    && {
                        new_kid = Some(self.insert(db, alg, now, *activates_at).await?);
                        true
                    }
            }
            Step::Activate { kid, from, to } => {
                key_rows::set_activates_at(db, kid, *from, *to).await?
            }
            Step::Retire { kid, from, to } => key_rows::set_retires_at(db, kid, *from, *to).await?,
            Step::Remove { kid } => key_rows::remove(db, kid, now).await?,
        };
        if !applied {
            return Err(Failure::Contended);
        }
        Ok(Change { alg, step, new_kid })
    }

    async fn insert(
        &self,
        db: &impl ConnectionTrait,
        alg: Algorithm,
        now: i64,
        activates_at: i64,
    ) -> Result<String, Failure> {
        let record = generate_key(alg, self.master_keys, self.rng, now, activates_at)?;
        let kid = record.kid.clone();
        key_rows::insert(db, record).await?;
        Ok(kid)
    }
}

impl Failure {
    fn into_error(self, alg: Algorithm) -> anyhow::Error {
        match self {
            Failure::Contended => anyhow::anyhow!(
                "the {alg} keys were changed by another instance or process at the same time; nothing was changed here (run `signoff keys list` and try again)"
            ),
            Failure::Fatal(e) => e,
        }
    }
}

async fn finish<T>(
    txn: sea_orm::DatabaseTransaction,
    result: Result<T, Failure>,
    alg: Algorithm,
) -> anyhow::Result<T> {
    match result {
        Ok(v) => {
            txn.commit().await?;
            Ok(v)
        }
        Err(failure) => {
            txn.rollback().await?;
            Err(failure.into_error(alg))
        }
    }
}
