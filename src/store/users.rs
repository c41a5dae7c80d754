//! End users who sign in on the hosted login page.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
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
    /// Tokens and sessions issued before this instant are void ("log out
    /// everywhere").
    pub tokens_valid_after: i64,
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
            tokens_valid_after: m.tokens_valid_after,
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
        tokens_valid_after: Set(0),
        created_at: Set(u.now),
        updated_at: Set(u.now),
        phone_number: Set(u.phone_number.map(Into::into)),
        address: Set(u.address.map(Into::into)),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn set_disabled(
    db: &impl ConnectionTrait,
    username: &str,
    disabled: bool,
    now: i64,
) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::Disabled, Expr::value(disabled))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Username.eq(username))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Username.eq(username))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn void_tokens_before(
    db: &impl ConnectionTrait,
    id: &str,
    after: i64,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::TokensValidAfter, Expr::value(after))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
