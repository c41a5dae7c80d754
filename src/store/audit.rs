//! Table `audit_events`: the audit trail, appended by `crate::audit`, read
//! by `signoff audit list`, pruned by age.

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::audit_event;

pub use audit_event::Model as AuditRecord;

/// A row to append (`id` is assigned by the database).
#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent {
    pub time: i64,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub address: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

pub async fn append(db: &impl ConnectionTrait, e: NewAuditEvent) -> Result<(), DbErr> {
    audit_event::ActiveModel {
        id: NotSet,
        time: Set(e.time),
        actor: Set(e.actor),
        action: Set(e.action),
        subject: Set(e.subject),
        client_id: Set(e.client_id),
        address: Set(e.address),
        outcome: Set(e.outcome),
        detail: Set(e.detail),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Newest first: events since `since`, about one of `subjects` if given, at
/// most `limit`.
pub async fn list(
    db: &impl ConnectionTrait,
    subjects: Option<&[String]>,
    since: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditRecord>, DbErr> {
    let mut query = audit_event::Entity::find();
    if let Some(subjects) = subjects {
        query = query.filter(audit_event::Column::Subject.is_in(subjects.iter().cloned()));
    }
    if let Some(since) = since {
        query = query.filter(audit_event::Column::Time.gte(since));
    }
    query
        .order_by_desc(audit_event::Column::Time)
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Delete at most `limit` events older than `before`; returns how many went.
pub async fn prune(db: &impl ConnectionTrait, before: i64, limit: u64) -> Result<u64, DbErr> {
    let ids: Vec<i64> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Id)
        .filter(audit_event::Column::Time.lt(before))
        .order_by_asc(audit_event::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(audit_event::Entity::delete_many()
        .filter(audit_event::Column::Id.is_in(ids))
        .exec(db)
        .await?
        .rows_affected)
}
