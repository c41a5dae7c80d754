//! The Back-Channel Logout outbox: one row per (ended session, client with a
//! backchannel_logout_uri), written in the transaction that ends the session
//! and delivered by `logout::backchannel`. Rows are claimed with a
//! conditional UPDATE, so several instances can run the worker at once.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::logout_outbox;

pub use logout_outbox::Model as Notification;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

pub struct NewNotification<'a> {
    /// Also the `jti` of every logout token sent for this row.
    pub id: &'a str,
    pub client_id: &'a str,
    pub uri: &'a str,
    pub sub: &'a str,
    pub sid: &'a str,
    pub reason: &'a str,
    pub now: i64,
}

pub async fn enqueue(db: &impl ConnectionTrait, n: NewNotification<'_>) -> Result<(), DbErr> {
    logout_outbox::ActiveModel {
        id: Set(n.id.into()),
        client_id: Set(n.client_id.into()),
        uri: Set(n.uri.into()),
        sub: Set(n.sub.into()),
        sid: Set(n.sid.into()),
        reason: Set(n.reason.into()),
        created_at: Set(n.now),
        status: Set(PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(n.now),
        last_attempt_at: Set(None),
        last_error: Set(None),
        delivered_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Pending rows whose next attempt is due, oldest first.
pub async fn due(
    db: &impl ConnectionTrait,
    now: i64,
    limit: u64,
) -> Result<Vec<Notification>, DbErr> {
    logout_outbox::Entity::find()
        .filter(logout_outbox::Column::Status.eq(PENDING))
        .filter(logout_outbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(logout_outbox::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
}

/// Take a due row for one attempt. The row's next attempt moves `lease`
/// seconds ahead, so no other worker takes it meanwhile, and a worker that
/// dies mid-delivery leaves it to be retried once the lease has passed.
/// Returns false when another worker was first.
pub async fn claim(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
    lease: i64,
) -> Result<bool, DbErr> {
    let res = logout_outbox::Entity::update_many()
        .col_expr(
            logout_outbox::Column::NextAttemptAt,
            Expr::value(now + lease),
        )
        .col_expr(
            logout_outbox::Column::Attempts,
            Expr::col(logout_outbox::Column::Attempts).add(1),
        )
        .col_expr(logout_outbox::Column::LastAttemptAt, Expr::value(now))
        .filter(logout_outbox::Column::Id.eq(id))
        .filter(logout_outbox::Column::Status.eq(PENDING))
        .filter(logout_outbox::Column::NextAttemptAt.lte(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn mark_delivered(db: &impl ConnectionTrait, id: &str, now: i64) -> Result<(), DbErr> {
    logout_outbox::Entity::update_many()
        .col_expr(logout_outbox::Column::Status, Expr::value(DELIVERED))
        .col_expr(logout_outbox::Column::DeliveredAt, Expr::value(now))
        .col_expr(
            logout_outbox::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(logout_outbox::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn schedule_retry(
    db: &impl ConnectionTrait,
    id: &str,
    at: i64,
    error: &str,
) -> Result<(), DbErr> {
    logout_outbox::Entity::update_many()
        .col_expr(logout_outbox::Column::NextAttemptAt, Expr::value(at))
        .col_expr(logout_outbox::Column::LastError, Expr::value(error))
        .filter(logout_outbox::Column::Id.eq(id))
        .filter(logout_outbox::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn mark_failed(db: &impl ConnectionTrait, id: &str, error: &str) -> Result<(), DbErr> {
    logout_outbox::Entity::update_many()
        .col_expr(logout_outbox::Column::Status, Expr::value(FAILED))
        .col_expr(logout_outbox::Column::LastError, Expr::value(error))
        .filter(logout_outbox::Column::Id.eq(id))
        // Never overwrite a delivery another worker recorded.
        .filter(logout_outbox::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    Ok(())
}

/// Newest first; `status` of `None` lists every row.
pub async fn list(
    db: &impl ConnectionTrait,
    status: Option<&str>,
    limit: u64,
) -> Result<Vec<Notification>, DbErr> {
    let mut query = logout_outbox::Entity::find();
    if let Some(status) = status {
        query = query.filter(logout_outbox::Column::Status.eq(status));
    }
    query
        .order_by_desc(logout_outbox::Column::CreatedAt)
        .order_by_asc(logout_outbox::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Notifications sent (or being sent) for a session.
pub async fn of_session(db: &impl ConnectionTrait, sid: &str) -> Result<Vec<Notification>, DbErr> {
    logout_outbox::Entity::find()
        .filter(logout_outbox::Column::Sid.eq(sid))
        .order_by_asc(logout_outbox::Column::ClientId)
        .all(db)
        .await
}

/// Forget delivered rows older than `before`; failed rows stay until an
/// operator has seen them.
pub async fn prune_delivered(db: &impl ConnectionTrait, before: i64) -> Result<u64, DbErr> {
    let res = logout_outbox::Entity::delete_many()
        .filter(logout_outbox::Column::Status.eq(DELIVERED))
        .filter(logout_outbox::Column::DeliveredAt.lt(before))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Forget at most `limit` failed rows created before `before`: kept for an
/// operator to see (`signoff` CLI, audit) until the retention has passed.
pub async fn prune_failed(
    db: &impl ConnectionTrait,
    before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let batch = sea_orm::sea_query::Query::select()
        .column(logout_outbox::Column::Id)
        .from(logout_outbox::Entity)
        .and_where(logout_outbox::Column::Status.eq(FAILED))
        .and_where(logout_outbox::Column::CreatedAt.lt(before))
        .limit(limit)
        .to_owned();
    let res = logout_outbox::Entity::delete_many()
        .filter(logout_outbox::Column::Id.in_subquery(batch))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
