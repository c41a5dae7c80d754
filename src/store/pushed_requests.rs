//! Pushed authorization requests (RFC 9126): stored when a client pushes
//! them, found by the hash of their reference (the `request_uri` is a
//! bearer reference: only its hash is kept), and consumed once.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

use super::entity::pushed_request;

pub use pushed_request::Model as PushedRequest;

pub async fn insert(db: &impl ConnectionTrait, r: PushedRequest) -> Result<(), DbErr> {
    pushed_request::ActiveModel {
        reference_hash: Set(r.reference_hash),
        client_id: Set(r.client_id),
        params: Set(r.params),
        created_at: Set(r.created_at),
        expires_at: Set(r.expires_at),
        consumed_at: Set(r.consumed_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The pushed request with this reference hash, if it exists, is unused and
/// has not expired.
pub async fn find_live(
    db: &impl ConnectionTrait,
    reference_hash: &str,
    now: i64,
) -> Result<Option<PushedRequest>, DbErr> {
    Ok(
        pushed_request::Entity::find_by_id(reference_hash.to_owned())
            .one(db)
            .await?
            .filter(|r| r.consumed_at.is_none() && r.expires_at > now),
    )
}

/// Use the pushed request up: true for exactly one caller, however many
/// race (RFC 9126 §4: the request_uri is one-time use).
pub async fn consume(
    db: &impl ConnectionTrait,
    reference_hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let res = pushed_request::Entity::update_many()
        .col_expr(pushed_request::Column::ConsumedAt, Expr::value(now))
        .filter(pushed_request::Column::ReferenceHash.eq(reference_hash))
        .filter(pushed_request::Column::ConsumedAt.is_null())
        .filter(pushed_request::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Remove requests that expired before `now` (used or not).
pub async fn prune(db: &impl ConnectionTrait, now: i64, limit: u64) -> Result<u64, DbErr> {
    // Bounded: at most `limit` rows a statement, found through the index on
    // `expires_at`.
    let batch = sea_orm::sea_query::Query::select()
        .column(pushed_request::Column::ReferenceHash)
        .from(pushed_request::Entity)
        .and_where(pushed_request::Column::ExpiresAt.lte(now))
        .limit(limit)
        .to_owned();
    let res = pushed_request::Entity::delete_many()
        .filter(pushed_request::Column::ReferenceHash.in_subquery(batch))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
