//! Device codes (RFC 8628): stored when a device asks for authorization,
//! found by the hash of the `device_code` (the token endpoint) or of the
//! normalised `user_code` (the hosted /device page); both are bearer values,
//! so only their hashes are kept. A code is decided once (approved with a
//! grant, or denied) and redeemed once.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};

use super::entity::device_code;

pub use device_code::Model as DeviceCode;

/// Waiting for the user.
pub const PENDING: &str = "pending";
/// The user approved: `grant_id` names the grant.
pub const APPROVED: &str = "approved";
/// The user said no.
pub const DENIED: &str = "denied";

pub async fn insert(db: &impl ConnectionTrait, c: DeviceCode) -> Result<(), DbErr> {
    device_code::ActiveModel {
        device_code_hash: Set(c.device_code_hash),
        user_code_hash: Set(c.user_code_hash),
        client_id: Set(c.client_id),
        scope: Set(c.scope),
        created_at: Set(c.created_at),
        expires_at: Set(c.expires_at),
        interval: Set(c.interval),
        last_polled_at: Set(c.last_polled_at),
        status: Set(c.status),
        grant_id: Set(c.grant_id),
        consumed_at: Set(c.consumed_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The device code with this hash, whatever its state.
pub async fn find(
    db: &impl ConnectionTrait,
    device_code_hash: &str,
) -> Result<Option<DeviceCode>, DbErr> {
    device_code::Entity::find_by_id(device_code_hash.to_owned())
        .one(db)
        .await
}

/// The undecided, unexpired device code whose user code has one of these
/// hashes (one per master key).
pub async fn find_pending_by_user_code(
    db: &impl ConnectionTrait,
    user_code_hashes: &[String],
    now: i64,
) -> Result<Option<DeviceCode>, DbErr> {
    Ok(device_code::Entity::find()
        .filter(device_code::Column::UserCodeHash.is_in(user_code_hashes.iter().cloned()))
        .one(db)
        .await?
        .filter(|c| c.status == PENDING && c.expires_at > now))
}

/// Record the user's decision (`grant_id` when approved): true for exactly
/// one caller, and only while the code is pending and unexpired.
pub async fn decide(
    db: &impl ConnectionTrait,
    device_code_hash: &str,
    grant_id: Option<&str>,
    now: i64,
) -> Result<bool, DbErr> {
    let status = if grant_id.is_some() { APPROVED } else { DENIED };
    let res = device_code::Entity::update_many()
        .col_expr(device_code::Column::Status, Expr::value(status))
        .col_expr(
            device_code::Column::GrantId,
            Expr::value(grant_id.map(str::to_owned)),
        )
        .filter(device_code::Column::DeviceCodeHash.eq(device_code_hash))
        .filter(device_code::Column::Status.eq(PENDING))
        .filter(device_code::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Record a poll at `now`, with the polling interval from now on.
pub async fn record_poll(
    db: &impl ConnectionTrait,
    device_code_hash: &str,
    interval: i64,
    now: i64,
) -> Result<(), DbErr> {
    device_code::Entity::update_many()
        .col_expr(device_code::Column::LastPolledAt, Expr::value(now))
        .col_expr(device_code::Column::Interval, Expr::value(interval))
        .filter(device_code::Column::DeviceCodeHash.eq(device_code_hash))
        .exec(db)
        .await?;
    Ok(())
}

/// Redeem the decided code: true for exactly one caller, however many race
/// (RFC 8628 §3.5 with RFC 6749 §4.1.2: the code is single-use).
pub async fn consume(
    db: &impl ConnectionTrait,
    device_code_hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let res = device_code::Entity::update_many()
        .col_expr(device_code::Column::ConsumedAt, Expr::value(now))
        .filter(device_code::Column::DeviceCodeHash.eq(device_code_hash))
        .filter(device_code::Column::ConsumedAt.is_null())
        .filter(device_code::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Remove up to `batch` codes that expired before `now` (decided, used or
/// not), oldest first through the expiry index.
pub async fn prune(db: &impl ConnectionTrait, now: i64, batch: u64) -> Result<u64, DbErr> {
    let hashes: Vec<String> = device_code::Entity::find()
        .select_only()
        .column(device_code::Column::DeviceCodeHash)
        .filter(device_code::Column::ExpiresAt.lte(now))
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    if hashes.is_empty() {
        return Ok(0);
    }
    let res = device_code::Entity::delete_many()
        .filter(device_code::Column::DeviceCodeHash.is_in(hashes))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
