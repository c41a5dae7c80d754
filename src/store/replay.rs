//! One-time identifiers shared by every instance: the `jti` of a DPoP proof
//! (RFC 9449 §11.1) or of a client assertion (RFC 7523 §3 item 7) is
//! accepted once. Only a hash of the identifier is stored; a row lives until
//! the identifier would be refused anyway (`expires_at`), then `prune`
//! removes it.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TryInsertResult,
};

use super::entity::replay_guard;

/// Record `id` in `namespace`; true the first time, false on a replay. The
/// insert is atomic (`ON CONFLICT DO NOTHING` on the primary key), so of two
/// concurrent uses on any instances exactly one gets true.
pub async fn first_use(
    db: &impl ConnectionTrait,
    namespace: &str,
    id: &str,
    expires_at: i64,
) -> Result<bool, DbErr> {
    let row = replay_guard::ActiveModel {
        namespace: Set(namespace.to_owned()),
        id_hash: Set(crate::secrets::token_hash(id)),
        expires_at: Set(expires_at),
    };
    let res = replay_guard::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                replay_guard::Column::Namespace,
                replay_guard::Column::IdHash,
            ])
            .do_nothing()
            .to_owned(),
        )
        .try_insert()
        .exec_without_returning(db)
        .await?;
    Ok(matches!(res, TryInsertResult::Inserted(n) if n == 1))
}

/// Delete at most `limit` identifiers that expired before `now`; returns how
/// many went. Callers repeat while a full batch was deleted, so no single
/// statement holds the write lock for long.
pub async fn prune(db: &impl ConnectionTrait, now: i64, limit: u64) -> Result<u64, DbErr> {
    let keys: Vec<(String, String)> = replay_guard::Entity::find()
        .select_only()
        .column(replay_guard::Column::Namespace)
        .column(replay_guard::Column::IdHash)
        .filter(replay_guard::Column::ExpiresAt.lt(now))
        .order_by_asc(replay_guard::Column::ExpiresAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if keys.is_empty() {
        return Ok(0);
    }
    let mut which = Condition::any();
    for (namespace, id_hash) in keys {
        which = which.add(
            Condition::all()
                .add(replay_guard::Column::Namespace.eq(namespace))
                .add(replay_guard::Column::IdHash.eq(id_hash)),
        );
    }
    Ok(replay_guard::Entity::delete_many()
        .filter(replay_guard::Column::ExpiresAt.lt(now))
        .filter(which)
        .exec(db)
        .await?
        .rows_affected)
}
