//! `audit_events`: who did what to whom, from where, and how it ended
//! (sign-ins, consent, revocations, logouts, administration). Written by
//! `crate::audit`; read by `signoff audit list`; pruned after
//! `audit.retention`. Never holds a password, secret or token.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Time,
    Actor,
    Action,
    Subject,
    ClientId,
    Address,
    Outcome,
    Detail,
}

fn text_null(col: AuditEvents, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(
                    ColumnDef::new(AuditEvents::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(AuditEvents::Time).big_integer().not_null())
                .col(
                    ColumnDef::new(AuditEvents::Actor)
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditEvents::Action)
                        .string_len(64)
                        .not_null(),
                )
                .col(text_null(AuditEvents::Subject, 255))
                .col(text_null(AuditEvents::ClientId, 255))
                .col(text_null(AuditEvents::Address, 64))
                .col(
                    ColumnDef::new(AuditEvents::Outcome)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditEvents::Detail).text().null())
                .to_owned(),
        )
        .await?;
        // `audit list --since` and pruning read by time; `--user` by subject.
        m.create_index(
            Index::create()
                .name("audit_events_time")
                .table(AuditEvents::Table)
                .col(AuditEvents::Time)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_events_subject_time")
                .table(AuditEvents::Table)
                .col(AuditEvents::Subject)
                .col(AuditEvents::Time)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
