//! Signing keys. Private JWKs are stored as given by `keys::KeyStore`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use super::entity::signing_key;

pub use signing_key::Model as SigningKeyRecord;

/// Every key that has not been removed, oldest first.
pub async fn list_published(db: &impl ConnectionTrait) -> Result<Vec<SigningKeyRecord>, DbErr> {
    signing_key::Entity::find()
        .filter(signing_key::Column::RemovedAt.is_null())
        .order_by_asc(signing_key::Column::ActivatesAt)
        .all(db)
        .await
}

pub async fn list_all(db: &impl ConnectionTrait) -> Result<Vec<SigningKeyRecord>, DbErr> {
    signing_key::Entity::find()
        .order_by_asc(signing_key::Column::ActivatesAt)
        .all(db)
        .await
}

pub async fn insert(db: &impl ConnectionTrait, k: SigningKeyRecord) -> Result<(), DbErr> {
    signing_key::ActiveModel {
        kid: Set(k.kid),
        alg: Set(k.alg),
        private_jwk: Set(k.private_jwk),
        public_jwk: Set(k.public_jwk),
        created_at: Set(k.created_at),
        activates_at: Set(k.activates_at),
        retires_at: Set(k.retires_at),
        removed_at: Set(k.removed_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Stop signing with every key of `alg` that is active at `now`, except `keep`.
pub async fn retire_others(
    db: &impl ConnectionTrait,
    alg: &str,
    keep: &str,
    now: i64,
) -> Result<(), DbErr> {
    signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetiresAt, Expr::value(now))
        .filter(signing_key::Column::Alg.eq(alg))
        .filter(signing_key::Column::Kid.ne(keep))
        .filter(signing_key::Column::RetiresAt.is_null())
        .filter(signing_key::Column::ActivatesAt.lte(now))
        .exec(db)
        .await?;
    Ok(())
}
