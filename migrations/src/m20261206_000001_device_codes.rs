//! OAuth 2.0 Device Authorization Grant (RFC 8628): the device codes, each
//! found by the hash of its `device_code` (token endpoint) or of its
//! normalised `user_code` (the hosted /device page), and pruned by expiry.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceCodes {
    Table,
    DeviceCodeHash,
    UserCodeHash,
    ClientId,
    Scope,
    CreatedAt,
    ExpiresAt,
    Interval,
    LastPolledAt,
    Status,
    GrantId,
    ConsumedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DeviceCodes::Table)
                .col(
                    ColumnDef::new(DeviceCodes::DeviceCodeHash)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(DeviceCodes::UserCodeHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DeviceCodes::ClientId)
                        .string_len(255)
                        .not_null(),
                )
                .col(ColumnDef::new(DeviceCodes::Scope).text().not_null())
                .col(
                    ColumnDef::new(DeviceCodes::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DeviceCodes::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DeviceCodes::Interval)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(DeviceCodes::LastPolledAt).big_integer())
                .col(
                    ColumnDef::new(DeviceCodes::Status)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(DeviceCodes::GrantId).string_len(64))
                .col(ColumnDef::new(DeviceCodes::ConsumedAt).big_integer())
                .to_owned(),
        )
        .await?;
        // A user code names one live device code: a collision on insert is
        // retried with a new code.
        m.create_index(
            Index::create()
                .name("idx_device_codes_user_code_hash")
                .table(DeviceCodes::Table)
                .col(DeviceCodes::UserCodeHash)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_device_codes_expires_at")
                .table(DeviceCodes::Table)
                .col(DeviceCodes::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DeviceCodes::Table).to_owned())
            .await
    }
}
