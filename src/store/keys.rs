//! Table `signing_keys`: one row per key pair, its private JWK sealed (see
//! `crate::seal`). Every change of a key's schedule is a compare-and-set on
//! the value the caller saw, so two instances rotating at once cannot both
//! win: the loser's update matches no row.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder,
};

use super::entity::signing_key;

pub use signing_key::Model as SigningKeyRecord;

/// Every key that has not been removed, oldest first.
pub async fn list_published(db: &impl ConnectionTrait) -> Result<Vec<SigningKeyRecord>, DbErr> {
    signing_key::Entity::find()
        .filter(signing_key::Column::RemovedAt.is_null())
        .order_by_asc(signing_key::Column::ActivatesAt)
        .order_by_asc(signing_key::Column::Kid)
        .all(db)
        .await
}

/// Every key ever made, removed ones included, oldest first.
pub async fn list_all(db: &impl ConnectionTrait) -> Result<Vec<SigningKeyRecord>, DbErr> {
    signing_key::Entity::find()
        .order_by_asc(signing_key::Column::ActivatesAt)
        .order_by_asc(signing_key::Column::Kid)
        .all(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, kid: &str) -> Result<Option<SigningKeyRecord>, DbErr> {
    signing_key::Entity::find_by_id(kid.to_owned())
        .one(db)
        .await
}

/// Store a new key. The unique index on (alg, activates_at) of published
/// keys rejects a second key scheduled for the same instant.
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

fn published(kid: &str) -> Condition {
    Condition::all()
        .add(signing_key::Column::Kid.eq(kid))
        .add(signing_key::Column::RemovedAt.is_null())
}

/// Move the activation of `kid` from `from` to `to`; false if it was not
/// `from` any more.
pub async fn set_activates_at(
    db: &impl ConnectionTrait,
    kid: &str,
    from: i64,
    to: i64,
) -> Result<bool, DbErr> {
    let result = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::ActivatesAt, Expr::value(to))
        .filter(published(kid))
        .filter(signing_key::Column::ActivatesAt.eq(from))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Change the retirement of `kid` from `from` to `to`; false if it was not
/// `from` any more.
pub async fn set_retires_at(
    db: &impl ConnectionTrait,
    kid: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<bool, DbErr> {
    let was = match from {
        Some(t) => signing_key::Column::RetiresAt.eq(t),
        None => signing_key::Column::RetiresAt.is_null(),
    };
    let result = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetiresAt, Expr::value(to))
        .filter(published(kid))
        .filter(was)
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Take `kid` out of the JWKS for good; false if it already was.
pub async fn remove(db: &impl ConnectionTrait, kid: &str, now: i64) -> Result<bool, DbErr> {
    let result = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RemovedAt, Expr::value(now))
        .filter(published(kid))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The longest per-client access token lifetime, in seconds: a retired key
/// must stay published until the JWT access tokens it signed for such a
/// client have expired too.
pub async fn longest_client_access_token_ttl(
    db: &impl ConnectionTrait,
) -> Result<Option<i64>, DbErr> {
    use sea_orm::QuerySelect;
    let longest: Option<Option<i64>> = super::entity::client::Entity::find()
        .select_only()
        .column_as(
            super::entity::client::Column::AccessTokenTtl.max(),
            "longest",
        )
        .into_tuple()
        .one(db)
        .await?;
    Ok(longest.flatten())
}
