//! Remembered consent: which scopes a user has already granted a client.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entity::consent;
use super::{list_from_json, list_to_json};
use crate::scope::Scope;

pub async fn granted_scopes(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
) -> Result<Scope, DbErr> {
    Ok(
        consent::Entity::find_by_id((user_id.to_owned(), client_id.to_owned()))
            .one(db)
            .await?
            .map(|m| Scope::from_stored_list(&list_from_json(&m.scopes)))
            .unwrap_or_default(),
    )
}

/// Record that the user granted `scopes`, adding to what was granted before.
pub async fn grant(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    scopes: &Scope,
    now: i64,
) -> Result<(), DbErr> {
    let all = granted_scopes(db, user_id, client_id).await?.union(scopes);
    consent::Entity::insert(consent::ActiveModel {
        user_id: Set(user_id.into()),
        client_id: Set(client_id.into()),
        scopes: Set(list_to_json(all.tokens())),
        granted_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([consent::Column::UserId, consent::Column::ClientId])
            .update_columns([consent::Column::Scopes, consent::Column::GrantedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Forget every consent given to a client (it is being removed).
pub(crate) async fn remove_all_of_client(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<u64, DbErr> {
    let result = consent::Entity::delete_many()
        .filter(consent::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
