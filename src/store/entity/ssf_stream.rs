//! Table `ssf_streams`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ssf_streams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    pub delivery_method: String,
    pub endpoint_url: Option<String>,
    pub authorization_header: Option<String>,
    pub events_requested: String,
    pub description: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub cursor: i64,
    pub acked: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
