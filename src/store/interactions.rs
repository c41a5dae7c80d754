//! A pending authorization request while the user is on the login and consent
//! pages. Kept server-side so that every instance can continue it and nothing
//! in the browser can alter the validated request.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

use super::entity::interaction;

pub use interaction::Model as Interaction;

pub async fn insert(db: &impl ConnectionTrait, i: Interaction) -> Result<(), DbErr> {
    interaction::ActiveModel {
        id: Set(i.id),
        browser_hash: Set(i.browser_hash),
        csrf_token: Set(i.csrf_token),
        client_id: Set(i.client_id),
        request: Set(i.request),
        session_id: Set(i.session_id),
        login_completed_at: Set(i.login_completed_at),
        created_at: Set(i.created_at),
        expires_at: Set(i.expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The interaction, if it exists and has not expired.
pub async fn find_live(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<Option<Interaction>, DbErr> {
    Ok(interaction::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .filter(|i| i.expires_at > now))
}

pub async fn record_login(
    db: &impl ConnectionTrait,
    id: &str,
    session_id: &str,
    now: i64,
) -> Result<(), DbErr> {
    interaction::Entity::update_many()
        .col_expr(interaction::Column::SessionId, Expr::value(session_id))
        .col_expr(interaction::Column::LoginCompletedAt, Expr::value(now))
        .filter(interaction::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Finish an interaction exactly once: a second submission of the same form
/// (double click, replay) finds nothing to finish.
pub async fn take(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let res = interaction::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn prune(db: &impl ConnectionTrait, now: i64, limit: u64) -> Result<u64, DbErr> {
    // Bounded: at most `limit` rows a statement, found through the index on
    // `expires_at`.
    let batch = sea_orm::sea_query::Query::select()
        .column(interaction::Column::Id)
        .from(interaction::Entity)
        .and_where(interaction::Column::ExpiresAt.lte(now))
        .limit(limit)
        .to_owned();
    let res = interaction::Entity::delete_many()
        .filter(interaction::Column::Id.in_subquery(batch))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
