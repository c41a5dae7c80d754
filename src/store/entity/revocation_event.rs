//! Table `revocation_events`: the revocation log (docs/revocation.md).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revocation_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub kind: String,
    pub created_at: i64,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub client_id: Option<String>,
    pub grant_id: Option<String>,
    pub jti: Option<String>,
    pub token_hash: Option<String>,
    pub kid: Option<String>,
    pub version: Option<i64>,
    pub reason: Option<String>,
    pub initiator: String,
    pub retain_until: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
