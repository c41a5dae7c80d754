//! Table `ssf_subjects`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ssf_subjects")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub stream_id: String,
    pub subject_key: String,
    pub included: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
