//! One-time identifiers: a `jti` (of a DPoP proof, of a client assertion)
//! seen once is refused the next time, on every instance. Rows are kept
//! until the identifier could no longer be accepted anyway (`expires_at`),
//! then pruned.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReplayGuard {
    Table,
    Namespace,
    IdHash,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ReplayGuard::Table)
                .col(ColumnDef::new(ReplayGuard::Namespace).text().not_null())
                .col(ColumnDef::new(ReplayGuard::IdHash).text().not_null())
                .col(
                    ColumnDef::new(ReplayGuard::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(ReplayGuard::Namespace)
                        .col(ReplayGuard::IdHash),
                )
                .to_owned(),
        )
        .await?;
        // Pruning deletes the rows past their expiry.
        m.create_index(
            Index::create()
                .name("replay_guard_expires_at")
                .table(ReplayGuard::Table)
                .col(ReplayGuard::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReplayGuard::Table).to_owned())
            .await
    }
}
