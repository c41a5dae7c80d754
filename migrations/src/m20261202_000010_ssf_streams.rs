//! OpenID Shared Signals Framework 1.0: the transmitter's streams. A
//! stream's SETs are derived from the revocation log; `cursor` is the `seq`
//! up to which every event is delivered (push) or acknowledged (poll).
//! `ssf_pending` holds the few SETs that are not log events (verification,
//! SSF 1.0 §8.1.4) until they are delivered or acknowledged.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SsfStreams {
    Table,
    Id,
    ClientId,
    DeliveryMethod,
    EndpointUrl,
    AuthorizationHeader,
    EventsRequested,
    Description,
    Status,
    StatusReason,
    Cursor,
    Acked,
    Attempts,
    NextAttemptAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SsfPending {
    Table,
    Id,
    StreamId,
    Jti,
    SetJwt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SsfStreams::Table)
                .col(
                    ColumnDef::new(SsfStreams::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(SsfStreams::ClientId).string().not_null())
                .col(
                    ColumnDef::new(SsfStreams::DeliveryMethod)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(SsfStreams::EndpointUrl).text().null())
                // Sealed with the master key (AES-256-GCM), never plain.
                .col(
                    ColumnDef::new(SsfStreams::AuthorizationHeader)
                        .text()
                        .null(),
                )
                .col(
                    ColumnDef::new(SsfStreams::EventsRequested)
                        .text()
                        .not_null()
                        .default("[]"),
                )
                .col(ColumnDef::new(SsfStreams::Description).text().null())
                .col(ColumnDef::new(SsfStreams::Status).string().not_null())
                .col(ColumnDef::new(SsfStreams::StatusReason).text().null())
                .col(ColumnDef::new(SsfStreams::Cursor).big_integer().not_null())
                .col(
                    ColumnDef::new(SsfStreams::Acked)
                        .text()
                        .not_null()
                        .default("[]"),
                )
                .col(
                    ColumnDef::new(SsfStreams::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(SsfStreams::NextAttemptAt)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(ColumnDef::new(SsfStreams::LastError).text().null())
                .col(
                    ColumnDef::new(SsfStreams::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SsfStreams::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ssf_streams_client")
                .table(SsfStreams::Table)
                .col(SsfStreams::ClientId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SsfPending::Table)
                .col(
                    ColumnDef::new(SsfPending::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(SsfPending::StreamId).string().not_null())
                .col(ColumnDef::new(SsfPending::Jti).string().not_null())
                .col(ColumnDef::new(SsfPending::SetJwt).text().not_null())
                .col(
                    ColumnDef::new(SsfPending::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ssf_pending_stream")
                .table(SsfPending::Table)
                .col(SsfPending::StreamId)
                .col(SsfPending::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SsfPending::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(SsfStreams::Table).to_owned())
            .await
    }
}
