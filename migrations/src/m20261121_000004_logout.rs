//! Logout: the per-client policy for tokens of an ended session, and the
//! outbox of Back-Channel Logout notifications (written in the transaction
//! that ends a session, delivered by a worker that survives restarts).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    LogoutRevokes,
    KeepOfflineTokens,
}

#[derive(DeriveIden)]
enum LogoutOutbox {
    Table,
    Id,
    ClientId,
    Uri,
    Sub,
    Sid,
    Reason,
    CreatedAt,
    Status,
    Attempts,
    NextAttemptAt,
    LastAttemptAt,
    LastError,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite can add only one column per ALTER TABLE.
        for mut col in [
            ColumnDef::new(Clients::LogoutRevokes)
                .string_len(32)
                .not_null()
                .default("session_tokens")
                .to_owned(),
            ColumnDef::new(Clients::KeepOfflineTokens)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(LogoutOutbox::Table)
                .col(
                    ColumnDef::new(LogoutOutbox::Id)
                        .string_len(128)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(LogoutOutbox::ClientId)
                        .string_len(128)
                        .not_null(),
                )
                .col(ColumnDef::new(LogoutOutbox::Uri).text().not_null())
                .col(ColumnDef::new(LogoutOutbox::Sub).string_len(128).not_null())
                .col(ColumnDef::new(LogoutOutbox::Sid).string_len(128).not_null())
                .col(
                    ColumnDef::new(LogoutOutbox::Reason)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(LogoutOutbox::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                // pending | delivered | failed
                .col(
                    ColumnDef::new(LogoutOutbox::Status)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(LogoutOutbox::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(LogoutOutbox::NextAttemptAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(LogoutOutbox::LastAttemptAt)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(LogoutOutbox::LastError).text().null())
                .col(
                    ColumnDef::new(LogoutOutbox::DeliveredAt)
                        .big_integer()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        // The worker's query: pending rows that are due.
        m.create_index(
            Index::create()
                .name("logout_outbox_status_next_attempt_at")
                .table(LogoutOutbox::Table)
                .col(LogoutOutbox::Status)
                .col(LogoutOutbox::NextAttemptAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LogoutOutbox::Table).to_owned())
            .await?;
        for col in [Clients::LogoutRevokes, Clients::KeepOfflineTokens] {
            m.alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
