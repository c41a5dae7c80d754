//! The `jti` denylist for JWT access tokens revoked before they expire
//! (RFC 7009 §2 applied to self-contained tokens).

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entity::revoked_jti;

pub async fn revoke(db: &impl ConnectionTrait, jti: &str, expires_at: i64) -> Result<(), DbErr> {
    revoked_jti::Entity::insert(revoked_jti::ActiveModel {
        jti: Set(jti.into()),
        expires_at: Set(expires_at),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn is_revoked(db: &impl ConnectionTrait, jti: &str) -> Result<bool, DbErr> {
    Ok(revoked_jti::Entity::find_by_id(jti.to_owned())
        .one(db)
        .await?
        .is_some())
}

/// Entries for tokens that have expired anyway are no longer needed.
pub async fn prune(db: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    Ok(revoked_jti::Entity::delete_many()
        .filter(revoked_jti::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}
