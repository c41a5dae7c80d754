//! End users who sign in on the hosted login page.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::user;

#[derive(Debug, Clone)]
pub struct User {
    /// The stable `sub` (OpenID Core §2): never reassigned, never the username.
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub password_hash: String,
    pub disabled: bool,
    /// The generation of the user's tokens and sessions: what was issued
    /// under an older one is void ("log out everywhere", disabling, a new
    /// password; see `tokens::liveness`).
    pub token_version: i64,
    pub updated_at: i64,
    /// E.164 telephone number (OpenID Core §5.1 `phone_number`).
    pub phone_number: Option<String>,
    /// Postal address as one formatted string (§5.1.1 `formatted`).
    pub address: Option<String>,
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        User {
            id: m.id,
            username: m.username,
            email: m.email,
            email_verified: m.email_verified,
            name: m.name,
            password_hash: m.password_hash,
            disabled: m.disabled,
            token_version: m.token_version,
            updated_at: m.updated_at,
            phone_number: m.phone_number,
            address: m.address,
        }
    }
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<User>, DbErr> {
    Ok(user::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(User::from))
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<User>, DbErr> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?
        .map(User::from))
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<User>, DbErr> {
    Ok(user::Entity::find()
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?
        .into_iter()
        .map(User::from)
        .collect())
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password_hash: &'a str,
    pub phone_number: Option<&'a str>,
    pub address: Option<&'a str>,
    pub now: i64,
}

pub async fn insert(db: &impl ConnectionTrait, u: NewUser<'_>) -> Result<(), DbErr> {
    user::ActiveModel {
        id: Set(u.id.into()),
        username: Set(u.username.into()),
        email: Set(u.email.map(Into::into)),
        // Addresses entered by an administrator are taken as verified.
        email_verified: Set(u.email.is_some()),
        name: Set(u.name.map(Into::into)),
        password_hash: Set(u.password_hash.into()),
        disabled: Set(false),
        token_version: Set(0),
        created_at: Set(u.now),
        updated_at: Set(u.now),
        phone_number: Set(u.phone_number.map(Into::into)),
        address: Set(u.address.map(Into::into)),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The user's token version after a change made in this transaction.
async fn version_of(db: &impl ConnectionTrait, id: &str) -> Result<Option<i64>, DbErr> {
    Ok(user::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(|u| u.token_version))
}

/// Start a new token generation for the user; returns it (`None`: no such
/// user). Only `crate::revocation` moves versions, recording why.
pub(crate) async fn bump_token_version(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<i64>, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(
            user::Column::TokenVersion,
            Expr::col(user::Column::TokenVersion).add(1),
        )
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    version_of(db, id).await
}

/// Disable an enabled user and start a new token generation, so that
/// enabling the user again never brings old tokens back. Returns the new
/// version; `None` when there is no such enabled user.
pub(crate) async fn disable(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<Option<i64>, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::Disabled, Expr::value(true))
        .col_expr(
            user::Column::TokenVersion,
            Expr::col(user::Column::TokenVersion).add(1),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Disabled.eq(false))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    version_of(db, id).await
}

/// Enable a disabled user; returns its (unchanged) version, `None` when
/// there is no such disabled user.
pub(crate) async fn enable(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<Option<i64>, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::Disabled, Expr::value(false))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Disabled.eq(true))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    version_of(db, id).await
}

/// Store a new password hash and start a new token generation (a changed
/// credential voids what the old one obtained). Returns the new version.
pub(crate) async fn set_password_hash(
    db: &impl ConnectionTrait,
    id: &str,
    password_hash: &str,
    now: i64,
) -> Result<Option<i64>, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(
            user::Column::TokenVersion,
            Expr::col(user::Column::TokenVersion).add(1),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    version_of(db, id).await
}

/// Users whose tokens are not all at generation 0 or who are disabled: what
/// the revocation view starts from. `(id, token_version, disabled)`.
pub async fn standings(db: &impl ConnectionTrait) -> Result<Vec<(String, i64, bool)>, DbErr> {
    user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::TokenVersion)
        .column(user::Column::Disabled)
        .filter(
            sea_orm::Condition::any()
                .add(user::Column::TokenVersion.gt(0))
                .add(user::Column::Disabled.eq(true)),
        )
        .into_tuple()
        .all(db)
        .await
}
