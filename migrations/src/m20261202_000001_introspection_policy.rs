//! RFC 7662 §4: which clients may introspect which tokens. A client always
//! may introspect its own; a resource server is registered with the
//! audiences whose tokens it may introspect (a JSON array, like
//! `clients.audiences`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    IntrospectAudiences,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Clients::Table)
                .add_column(
                    ColumnDef::new(Clients::IntrospectAudiences)
                        .text()
                        .not_null()
                        .default("[]"),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Clients::Table)
                .drop_column(Clients::IntrospectAudiences)
                .to_owned(),
        )
        .await
    }
}
