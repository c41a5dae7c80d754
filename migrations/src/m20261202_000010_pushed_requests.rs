//! Pushed Authorization Requests (RFC 9126): the pushed requests, each
//! found by the hash of its `request_uri` reference and consumed once, and
//! the per-client `require_pushed_authorization_requests` (§6).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    RequirePushedAuthorizationRequests,
}

#[derive(DeriveIden)]
enum PushedRequests {
    Table,
    ReferenceHash,
    ClientId,
    Params,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Clients::Table)
                .add_column(
                    ColumnDef::new(Clients::RequirePushedAuthorizationRequests)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PushedRequests::Table)
                .col(
                    ColumnDef::new(PushedRequests::ReferenceHash)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(PushedRequests::ClientId)
                        .string_len(255)
                        .not_null(),
                )
                .col(ColumnDef::new(PushedRequests::Params).text().not_null())
                .col(
                    ColumnDef::new(PushedRequests::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PushedRequests::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(PushedRequests::ConsumedAt).big_integer())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_pushed_requests_expires_at")
                .table(PushedRequests::Table)
                .col(PushedRequests::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PushedRequests::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Clients::Table)
                .drop_column(Clients::RequirePushedAuthorizationRequests)
                .to_owned(),
        )
        .await
    }
}
