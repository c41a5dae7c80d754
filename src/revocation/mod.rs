//! Revocation: the one module through which every token and every session
//! dies (docs/revocation.md). Each way of dying writes its event to the
//! revocation log in the same transaction as the change it records; each
//! instance's [`RevocationView`] applies the log, and the token checks ask
//! the view. Nothing else writes revocation state: the store functions that
//! change it are `pub(crate)` and called from here only.
//!
//! Two ways to call it:
//! - one function per action, in its own transaction ([`end_session`],
//!   [`logout_everywhere`], [`disable_user`], [`revoke_grant`], …);
//! - a [`Transaction`] for callers that must revoke in a transaction of their
//!   own (a replayed code is consumed and its grant revoked at once).
//!
//! Either way, the changes count on this instance when the call returns
//! (the view applies its own events), and on the others within the
//! configured consistency bound.

mod accounts;
mod event;
mod sessions;
mod tail;
mod tokens;
mod view;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

pub use accounts::{
    UserRevocation, disable_client, disable_user, enable_client, enable_user,
    initial_client_version, logout_everywhere, remove_client, set_password, void_client_tokens,
};
pub use event::{EndReason, Event, GrantReason, Initiator, Kind};
pub use sessions::{end_expired_sessions, end_session, end_user_sessions, grant_survives};
pub use tail::spawn as spawn_tail;
pub use tokens::{SingleToken, revoke_grant, revoke_key, revoke_token};
pub use view::RevocationView;

use crate::config::Config;
use crate::random::Random;
use crate::store::clients::Client;
use crate::store::revocation_log::{self, NewEvent};

/// Who writes revocations, and with what: the database, this instance's view
/// (`None` in the command line, whose changes the servers read from the
/// log), the instant and randomness of the change, and the lifetimes that
/// bound how long each event matters.
#[derive(Clone, Copy)]
pub struct Revoker<'a> {
    db: &'a DatabaseConnection,
    view: Option<&'a RevocationView>,
    rng: &'a dyn Random,
    now: i64,
    access_token_ttl: i64,
    clock_skew: i64,
}

impl<'a> Revoker<'a> {
    /// A revoker without a view: for processes that serve no token checks.
    pub fn new(db: &'a DatabaseConnection, config: &Config, rng: &'a dyn Random, now: i64) -> Self {
        Revoker {
            db,
            view: None,
            rng,
            now,
            access_token_ttl: config.tokens.access_token_ttl.as_secs() as i64,
            clock_skew: config.keys.clock_skew.as_secs() as i64,
        }
    }

    /// Apply what this revoker commits to `view` before returning.
    pub fn with_view(mut self, view: &'a RevocationView) -> Self {
        self.view = Some(view);
        self
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn rng(&self) -> &'a dyn Random {
        self.rng
    }

    pub fn db(&self) -> &'a DatabaseConnection {
        self.db
    }

    /// When an event about tokens of `client` stops mattering: the longest
    /// a JWT access token issued now can live, plus the clock skew tolerated
    /// between instances and resource servers.
    fn retain_for_client(&self, client: Option<&Client>) -> i64 {
        let ttl = client
            .and_then(|c| c.access_token_ttl)
            .unwrap_or(self.access_token_ttl);
        self.now + ttl + self.clock_skew
    }

    /// The same for tokens of any client.
    async fn retain_for_all(&self, db: &impl sea_orm::ConnectionTrait) -> Result<i64, DbErr> {
        let longest = crate::store::clients::longest_access_token_ttl(db)
            .await?
            .unwrap_or(0)
            .max(self.access_token_ttl);
        Ok(self.now + longest + self.clock_skew)
    }
}

/// Events deleted per statement when pruning.
const PRUNE_BATCH: u64 = 1000;
/// Statements per pruning round: a backlog is worked off over several
/// rounds rather than in one long burst.
const PRUNE_ROUNDS: usize = 20;

/// Delete events no token can match any more and that the feed no longer
/// replays: `retain_until` more than `retention` ago. Bounded batches;
/// returns how many went.
pub async fn prune_log(
    db: &DatabaseConnection,
    now: i64,
    retention: std::time::Duration,
) -> Result<u64, DbErr> {
    let before = now - retention.as_secs() as i64;
    let mut pruned = 0;
    for _ in 0..PRUNE_ROUNDS {
        let n = revocation_log::prune(db, before, PRUNE_BATCH).await?;
        pruned += n;
        if n < PRUNE_BATCH {
            break;
        }
    }
    Ok(pruned)
}

/// A database transaction that revokes: the events it writes are committed
/// with it, announced to the other instances (PostgreSQL `NOTIFY`), and
/// applied to this instance's view once committed. Dropped without
/// `commit`, it rolls back and nothing is applied.
pub struct Transaction<'a> {
    rev: Revoker<'a>,
    txn: Conn<'a>,
    written: Vec<Event>,
}

/// The transaction a [`Transaction`] writes in: its own, or a group
/// commit's (`store::group_commit`), which its owner commits.
enum Conn<'a> {
    Own(DatabaseTransaction),
    Batch(&'a DatabaseTransaction),
}

/// Events a group-committed [`Transaction`] wrote: to be announced once the
/// batch committed ([`Written::after_commit`]), never before.
pub struct Written {
    events: Vec<Event>,
    view: Option<RevocationView>,
}

impl Written {
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// What the committer runs after the commit: log the events and apply
    /// them to this instance's view (the tail would apply them later
    /// anyway; this makes them count here before the caller is answered).
    pub fn after_commit(self) -> Option<crate::store::group_commit::AfterCommit> {
        if self.events.is_empty() {
            return None;
        }
        Some(Box::new(move || {
            committed(self.view.as_ref(), &self.events);
        }))
    }
}

impl<'a> Transaction<'a> {
    /// Every revoking transaction writes, so it takes the write lock first
    /// (`store::begin_write`).
    pub async fn begin(rev: Revoker<'a>) -> Result<Self, DbErr> {
        let txn = crate::store::begin_write(rev.db).await?;
        Ok(Self::adopt(rev, txn))
    }

    /// Revoke inside a transaction the caller already began (one that has
    /// written already, or was begun with `store::begin_write`).
    pub fn adopt(rev: Revoker<'a>, txn: DatabaseTransaction) -> Self {
        Transaction {
            rev,
            txn: Conn::Own(txn),
            written: Vec::new(),
        }
    }

    /// Revoke inside a group commit's transaction; end with
    /// [`Transaction::finish`], never `commit`.
    pub fn in_batch(rev: Revoker<'a>, txn: &'a DatabaseTransaction) -> Self {
        Transaction {
            rev,
            txn: Conn::Batch(txn),
            written: Vec::new(),
        }
    }

    /// The transaction, for the caller's own statements.
    pub fn conn(&self) -> &DatabaseTransaction {
        match &self.txn {
            Conn::Own(txn) => txn,
            Conn::Batch(txn) => txn,
        }
    }

    /// Write what commits with the events: their audit trail, and the
    /// notification of the other instances.
    async fn write_trail(&self) -> Result<(), DbErr> {
        if !self.written.is_empty() {
            for entry in self.written.iter().filter_map(crate::audit::of_revocation) {
                crate::audit::write(self.conn(), self.rev.now, entry).await?;
            }
            revocation_log::notify(self.conn()).await?;
        }
        Ok(())
    }

    /// Commit; returns the events written.
    pub async fn commit(self) -> Result<Vec<Event>, DbErr> {
        self.write_trail().await?;
        let Transaction { rev, txn, written } = self;
        match txn {
            Conn::Own(txn) => txn.commit().await?,
            Conn::Batch(_) => {
                return Err(DbErr::Custom(
                    "a group commit's transaction is committed by the committer".into(),
                ));
            }
        }
        committed(rev.view, &written);
        Ok(written)
    }

    /// End a group-committed transaction: the events' trail is written; the
    /// committer announces them after its commit ([`Written::after_commit`]).
    pub async fn finish(self) -> Result<Written, DbErr> {
        self.write_trail().await?;
        Ok(Written {
            view: self.rev.view.cloned(),
            events: self.written,
        })
    }

    /// Append an event; `kind`, `initiator` and `created_at` are filled in.
    async fn record(&mut self, kind: Kind, initiator: Initiator, e: NewEvent) -> Result<(), DbErr> {
        let record = revocation_log::append(
            self.conn(),
            NewEvent {
                kind: kind.as_str(),
                initiator: initiator.as_str(),
                created_at: self.rev.now,
                ..e
            },
        )
        .await?;
        match Event::from_record(record) {
            Some(e) => {
                self.written.push(e);
                Ok(())
            }
            None => Err(DbErr::Custom(
                "a revocation event was not stored as written".into(),
            )),
        }
    }
}

/// After the commit of `events`: metrics, the log line of each, and this
/// instance's view.
fn committed(view: Option<&RevocationView>, events: &[Event]) {
    for e in events {
        if !e.kind.is_revocation() {
            tracing::info!(
                seq = e.seq,
                kind = %e.kind,
                client_id = e.client_id.as_deref(),
                "client change recorded"
            );
            continue;
        }
        crate::metrics::revocation(e.kind.as_str(), e.reason.as_deref());
        tracing::info!(
            seq = e.seq,
            kind = %e.kind,
            reason = e.reason.as_deref(),
            initiator = e.initiator.as_str(),
            sub = e.user_id.as_deref(),
            sid = e.session_id.as_deref(),
            client_id = e.client_id.as_deref(),
            grant_id = e.grant_id.as_deref(),
            jti = e.jti.as_deref(),
            kid = e.kid.as_deref(),
            version = e.version,
            "revocation recorded"
        );
    }
    if let Some(view) = view {
        view.apply_committed(events);
    }
}
