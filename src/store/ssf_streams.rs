//! Tables `ssf_streams` and `ssf_pending`: the Shared Signals transmitter's
//! streams (`crate::ssf`). A stream's SETs are derived from the revocation
//! log; its `cursor` is the `seq` up to which everything is delivered (push)
//! or acknowledged (poll). Push streams are leased like the back-channel
//! outbox's rows (`claim`), so two instances never push one stream at once.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use std::collections::HashMap;

use sea_orm::sea_query::{Func, OnConflict};

use super::entity::{revocation_event, ssf_pending, ssf_stream, ssf_subject, user};

pub use ssf_pending::Model as PendingSet;
pub use ssf_stream::Model as StreamRow;

pub async fn insert(db: &impl ConnectionTrait, row: StreamRow) -> Result<(), DbErr> {
    ssf_stream::ActiveModel::from(row).insert(db).await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<StreamRow>, DbErr> {
    ssf_stream::Entity::find_by_id(id.to_owned()).one(db).await
}

/// A client's streams, oldest first.
pub async fn of_client(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<Vec<StreamRow>, DbErr> {
    ssf_stream::Entity::find()
        .filter(ssf_stream::Column::ClientId.eq(client_id))
        .order_by_asc(ssf_stream::Column::CreatedAt)
        .order_by_asc(ssf_stream::Column::Id)
        .all(db)
        .await
}

pub async fn count_of_client(db: &impl ConnectionTrait, client_id: &str) -> Result<u64, DbErr> {
    ssf_stream::Entity::find()
        .filter(ssf_stream::Column::ClientId.eq(client_id))
        .count(db)
        .await
}

/// Write the receiver-supplied configuration (SSF 1.0 §8.1.1.3/§8.1.1.4).
pub async fn save_config(db: &impl ConnectionTrait, row: &StreamRow) -> Result<(), DbErr> {
    ssf_stream::Entity::update_many()
        .col_expr(
            ssf_stream::Column::DeliveryMethod,
            Expr::value(row.delivery_method.clone()),
        )
        .col_expr(
            ssf_stream::Column::EndpointUrl,
            Expr::value(row.endpoint_url.clone()),
        )
        .col_expr(
            ssf_stream::Column::AuthorizationHeader,
            Expr::value(row.authorization_header.clone()),
        )
        .col_expr(
            ssf_stream::Column::EventsRequested,
            Expr::value(row.events_requested.clone()),
        )
        .col_expr(
            ssf_stream::Column::Description,
            Expr::value(row.description.clone()),
        )
        .col_expr(ssf_stream::Column::UpdatedAt, Expr::value(row.updated_at))
        .filter(ssf_stream::Column::Id.eq(row.id.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// SSF 1.0 §8.1.2.2. `cursor`: where delivery resumes (a stream enabled
/// after being disabled skips what happened meanwhile).
pub async fn set_status(
    db: &impl ConnectionTrait,
    id: &str,
    status: &str,
    reason: Option<&str>,
    cursor: Option<i64>,
    now: i64,
) -> Result<(), DbErr> {
    let mut update = ssf_stream::Entity::update_many()
        .col_expr(ssf_stream::Column::Status, Expr::value(status))
        .col_expr(
            ssf_stream::Column::StatusReason,
            Expr::value(reason.map(str::to_owned)),
        )
        .col_expr(ssf_stream::Column::UpdatedAt, Expr::value(now));
    if let Some(cursor) = cursor {
        update = update
            .col_expr(ssf_stream::Column::Cursor, Expr::value(cursor))
            .col_expr(ssf_stream::Column::Acked, Expr::value("[]"));
    }
    update
        .filter(ssf_stream::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    ssf_subject::Entity::delete_many()
        .filter(ssf_subject::Column::StreamId.eq(id))
        .exec(db)
        .await?;
    ssf_pending::Entity::delete_many()
        .filter(ssf_pending::Column::StreamId.eq(id))
        .exec(db)
        .await?;
    let res = ssf_stream::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Delete every stream of a removed client, with its queued verifications.
pub async fn remove_all_of_client(db: &impl ConnectionTrait, client_id: &str) -> Result<(), DbErr> {
    for row in of_client(db, client_id).await? {
        delete(db, &row.id).await?;
    }
    Ok(())
}

/// Move a stream's cursor and acknowledgement set, if nobody else moved
/// them since they were read (`from`). False when another request or
/// instance was first.
pub async fn advance(
    db: &impl ConnectionTrait,
    id: &str,
    from: (i64, &str),
    to: (i64, &str),
) -> Result<bool, DbErr> {
    let res = ssf_stream::Entity::update_many()
        .col_expr(ssf_stream::Column::Cursor, Expr::value(to.0))
        .col_expr(ssf_stream::Column::Acked, Expr::value(to.1))
        .filter(ssf_stream::Column::Id.eq(id))
        .filter(ssf_stream::Column::Cursor.eq(from.0))
        .filter(ssf_stream::Column::Acked.eq(from.1))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The `seq` before the oldest event still within its `retain_until`: a new
/// stream starts there, so it learns of every revocation a live token could
/// still match (the revocation contract's backfill).
pub async fn backfill_cursor(db: &impl ConnectionTrait, now: i64) -> Result<i64, DbErr> {
    let min: Option<Option<i64>> = revocation_event::Entity::find()
        .select_only()
        .column_as(Expr::col(revocation_event::Column::Seq).min(), "min")
        .filter(revocation_event::Column::RetainUntil.gt(now))
        .into_tuple()
        .one(db)
        .await?;
    match min.flatten() {
        Some(seq) => Ok(seq - 1),
        None => super::revocation_log::max_seq(db).await,
    }
}

/// Queue a SET that is not a log event (a verification event).
pub async fn add_pending(
    db: &impl ConnectionTrait,
    stream_id: &str,
    jti: &str,
    set: &str,
    now: i64,
) -> Result<(), DbErr> {
    ssf_pending::ActiveModel {
        id: NotSet,
        stream_id: Set(stream_id.into()),
        jti: Set(jti.into()),
        set_jwt: Set(set.into()),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn pending(
    db: &impl ConnectionTrait,
    stream_id: &str,
    limit: u64,
) -> Result<Vec<PendingSet>, DbErr> {
    ssf_pending::Entity::find()
        .filter(ssf_pending::Column::StreamId.eq(stream_id))
        .order_by_asc(ssf_pending::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn count_pending(db: &impl ConnectionTrait, stream_id: &str) -> Result<u64, DbErr> {
    ssf_pending::Entity::find()
        .filter(ssf_pending::Column::StreamId.eq(stream_id))
        .count(db)
        .await
}

pub async fn clear_pending(db: &impl ConnectionTrait, stream_id: &str) -> Result<(), DbErr> {
    ssf_pending::Entity::delete_many()
        .filter(ssf_pending::Column::StreamId.eq(stream_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn remove_pending(
    db: &impl ConnectionTrait,
    stream_id: &str,
    jtis: &[String],
) -> Result<(), DbErr> {
    if jtis.is_empty() {
        return Ok(());
    }
    ssf_pending::Entity::delete_many()
        .filter(ssf_pending::Column::StreamId.eq(stream_id))
        .filter(ssf_pending::Column::Jti.is_in(jtis.iter().cloned()))
        .exec(db)
        .await?;
    Ok(())
}

/// Push streams whose next attempt is due.
pub async fn due_push(
    db: &impl ConnectionTrait,
    method: &str,
    now: i64,
    limit: u64,
) -> Result<Vec<StreamRow>, DbErr> {
    ssf_stream::Entity::find()
        .filter(ssf_stream::Column::DeliveryMethod.eq(method))
        .filter(ssf_stream::Column::Status.eq("enabled"))
        .filter(ssf_stream::Column::NextAttemptAt.lte(now))
        .order_by_asc(ssf_stream::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
}

/// Take a push stream for one round: its next attempt moves `lease` seconds
/// ahead, so no other instance pushes it meanwhile, and an instance that
/// dies mid-round leaves it to the others once the lease has passed.
pub async fn claim(
    db: &impl ConnectionTrait,
    id: &str,
    seen_next: i64,
    now: i64,
    lease: i64,
) -> Result<bool, DbErr> {
    let res = ssf_stream::Entity::update_many()
        .col_expr(ssf_stream::Column::NextAttemptAt, Expr::value(now + lease))
        .filter(ssf_stream::Column::Id.eq(id))
        .filter(ssf_stream::Column::NextAttemptAt.eq(seen_next))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// End a push round: when to try next, and how the last attempt went.
pub async fn release(
    db: &impl ConnectionTrait,
    id: &str,
    next: i64,
    attempts: i32,
    error: Option<&str>,
) -> Result<(), DbErr> {
    ssf_stream::Entity::update_many()
        .col_expr(ssf_stream::Column::NextAttemptAt, Expr::value(next))
        .col_expr(ssf_stream::Column::Attempts, Expr::value(attempts))
        .col_expr(
            ssf_stream::Column::LastError,
            Expr::value(error.map(str::to_owned)),
        )
        .filter(ssf_stream::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A stream's subjects that differ from `default_subjects` (SSF 1.0
/// §8.1.3): normalised subject key → included. At most
/// `ssf.max_subjects_per_stream` rows exist per stream.
pub async fn subjects(
    db: &impl ConnectionTrait,
    stream_id: &str,
) -> Result<HashMap<String, bool>, DbErr> {
    let rows: Vec<(String, bool)> = ssf_subject::Entity::find()
        .select_only()
        .column(ssf_subject::Column::SubjectKey)
        .column(ssf_subject::Column::Included)
        .filter(ssf_subject::Column::StreamId.eq(stream_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

pub async fn count_subjects(db: &impl ConnectionTrait, stream_id: &str) -> Result<u64, DbErr> {
    ssf_subject::Entity::find()
        .filter(ssf_subject::Column::StreamId.eq(stream_id))
        .count(db)
        .await
}

/// How many of `keys` the stream already has a row for.
pub async fn count_subjects_among(
    db: &impl ConnectionTrait,
    stream_id: &str,
    keys: &[String],
) -> Result<u64, DbErr> {
    if keys.is_empty() {
        return Ok(0);
    }
    ssf_subject::Entity::find()
        .filter(ssf_subject::Column::StreamId.eq(stream_id))
        .filter(ssf_subject::Column::SubjectKey.is_in(keys.iter().cloned()))
        .count(db)
        .await
}

/// Record that subject `key` is `included` on the stream, or forget it
/// when that is what `default_subjects` says anyway.
pub async fn set_subject(
    db: &impl ConnectionTrait,
    stream_id: &str,
    key: &str,
    included: bool,
    default_included: bool,
    now: i64,
) -> Result<(), DbErr> {
    if included == default_included {
        ssf_subject::Entity::delete_many()
            .filter(ssf_subject::Column::StreamId.eq(stream_id))
            .filter(ssf_subject::Column::SubjectKey.eq(key))
            .exec(db)
            .await?;
        return Ok(());
    }
    ssf_subject::Entity::insert(ssf_subject::ActiveModel {
        id: NotSet,
        stream_id: Set(stream_id.into()),
        subject_key: Set(key.into()),
        included: Set(included),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            ssf_subject::Column::StreamId,
            ssf_subject::Column::SubjectKey,
        ])
        .update_column(ssf_subject::Column::Included)
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Ids of the users whose email is `email` (case-insensitive), at most
/// `limit`: an `email` subject (RFC 9493 §3.2.2) names them.
pub async fn users_with_email(
    db: &impl ConnectionTrait,
    email: &str,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(Expr::expr(Func::lower(Expr::col(user::Column::Email))).eq(email.to_lowercase()))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}
