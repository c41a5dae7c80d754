//! Table `revocation_events`: the append-only revocation log. Rows are
//! written by `crate::revocation` in the transaction of the change they
//! record; the database assigns `seq`. Readers are the revocation view of
//! every instance (tailing by `seq`) and the Shared Signals feed.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::revocation_event;

pub use revocation_event::Model as EventRecord;

/// The PostgreSQL channel a writing transaction notifies on commit.
pub const CHANNEL: &str = "signoff_revocations";

/// An event to append (`seq` is assigned by the database).
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub kind: &'static str,
    pub created_at: i64,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub client_id: Option<String>,
    pub grant_id: Option<String>,
    pub jti: Option<String>,
    pub token_hash: Option<String>,
    pub kid: Option<String>,
    pub version: Option<i64>,
    pub reason: Option<&'static str>,
    pub initiator: &'static str,
    pub retain_until: i64,
}

pub(crate) async fn append(db: &impl ConnectionTrait, e: NewEvent) -> Result<EventRecord, DbErr> {
    revocation_event::ActiveModel {
        seq: NotSet,
        kind: Set(e.kind.into()),
        created_at: Set(e.created_at),
        user_id: Set(e.user_id),
        session_id: Set(e.session_id),
        client_id: Set(e.client_id),
        grant_id: Set(e.grant_id),
        jti: Set(e.jti),
        token_hash: Set(e.token_hash),
        kid: Set(e.kid),
        version: Set(e.version),
        reason: Set(e.reason.map(Into::into)),
        initiator: Set(e.initiator.into()),
        retain_until: Set(e.retain_until),
    }
    .insert(db)
    .await
}

/// PostgreSQL: tell every listening instance, once this transaction commits
/// (NOTIFY is transactional), that the log has grown. SQLite has no
/// notifications; its readers poll `max_seq`.
pub(crate) async fn notify(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(&format!("NOTIFY {CHANNEL}")).await?;
    }
    Ok(())
}

/// The highest `seq` committed so far (0 for an empty log): one read of the
/// primary key index.
pub async fn max_seq(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = revocation_event::Entity::find()
        .select_only()
        .column_as(Expr::col(revocation_event::Column::Seq).max(), "max")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Events with `seq` greater than `after`, oldest first, at most `limit`.
pub async fn after(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<EventRecord>, DbErr> {
    revocation_event::Entity::find()
        .filter(revocation_event::Column::Seq.gt(after))
        .order_by_asc(revocation_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The events among `seqs` that exist (are committed) now.
pub async fn by_seqs(db: &impl ConnectionTrait, seqs: &[i64]) -> Result<Vec<EventRecord>, DbErr> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    revocation_event::Entity::find()
        .filter(revocation_event::Column::Seq.is_in(seqs.iter().copied()))
        .order_by_asc(revocation_event::Column::Seq)
        .all(db)
        .await
}

/// The committed sequence numbers in `(low, high]`.
pub async fn seqs_between(
    db: &impl ConnectionTrait,
    low: i64,
    high: i64,
) -> Result<Vec<i64>, DbErr> {
    revocation_event::Entity::find()
        .select_only()
        .column(revocation_event::Column::Seq)
        .filter(revocation_event::Column::Seq.gt(low))
        .filter(revocation_event::Column::Seq.lte(high))
        .order_by_asc(revocation_event::Column::Seq)
        .into_tuple()
        .all(db)
        .await
}

/// Events up to `up_to` that still matter at `now` (a live token could
/// match them), oldest first.
pub async fn in_force(
    db: &impl ConnectionTrait,
    now: i64,
    up_to: i64,
) -> Result<Vec<EventRecord>, DbErr> {
    revocation_event::Entity::find()
        .filter(revocation_event::Column::RetainUntil.gt(now))
        .filter(revocation_event::Column::Seq.lte(up_to))
        .order_by_asc(revocation_event::Column::Seq)
        .all(db)
        .await
}

/// The newest token version the log records for `client_id` (a removed
/// client's last generation), if an event about it is still kept.
pub async fn last_client_version(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<Option<i64>, DbErr> {
    let max: Option<Option<i64>> = revocation_event::Entity::find()
        .select_only()
        .column_as(Expr::col(revocation_event::Column::Version).max(), "max")
        .filter(revocation_event::Column::ClientId.eq(client_id))
        .filter(revocation_event::Column::Kind.starts_with("client_"))
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten())
}

/// Delete at most `limit` events whose `retain_until` is before `before`;
/// returns how many went. Callers repeat while a full batch was deleted, so
/// no single statement holds the write lock for long.
pub async fn prune(db: &impl ConnectionTrait, before: i64, limit: u64) -> Result<u64, DbErr> {
    let seqs: Vec<i64> = revocation_event::Entity::find()
        .select_only()
        .column(revocation_event::Column::Seq)
        .filter(revocation_event::Column::RetainUntil.lt(before))
        .order_by_asc(revocation_event::Column::Seq)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if seqs.is_empty() {
        return Ok(0);
    }
    Ok(revocation_event::Entity::delete_many()
        .filter(revocation_event::Column::Seq.is_in(seqs))
        .exec(db)
        .await?
        .rows_affected)
}

/// PostgreSQL `LISTEN signoff_revocations` on a connection of its own.
pub struct Listener(sea_orm::sqlx::postgres::PgListener);

impl Listener {
    /// `None` for a SQLite URL (nothing to listen to).
    pub async fn connect(url: &str) -> Result<Option<Self>, DbErr> {
        if !url.starts_with("postgres") {
            return Ok(None);
        }
        let err = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("LISTEN {CHANNEL}: {e}"));
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect(url)
            .await
            .map_err(err)?;
        listener.listen(CHANNEL).await.map_err(err)?;
        Ok(Some(Listener(listener)))
    }

    /// Wait for a notification, or for the connection to drop (then the
    /// notifications sent meanwhile are lost, so the caller reads the log
    /// either way; the next call reconnects).
    pub async fn wait(&mut self) -> Result<(), DbErr> {
        self.0
            .try_recv()
            .await
            .map(|_| ())
            .map_err(|e| DbErr::Custom(format!("LISTEN {CHANNEL}: {e}")))
    }
}
