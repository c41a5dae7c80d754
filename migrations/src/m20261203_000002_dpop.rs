//! DPoP (RFC 9449): the key a token is bound to, and the per-client switch
//! that makes DPoP mandatory.
//!
//! - `access_tokens.jkt`, `refresh_tokens.jkt`: the RFC 7638 thumbprint of
//!   the key (`cnf.jkt`, RFC 9449 §6.1); NULL for an unbound token.
//! - `clients.dpop_bound_access_tokens`: RFC 9449 §5.2 client metadata; a
//!   token request without a proof is refused.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    Jkt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Jkt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    DpopBoundAccessTokens,
}

async fn add_column(
    m: &SchemaManager<'_>,
    table: impl IntoIden,
    mut col: ColumnDef,
) -> Result<(), DbErr> {
    m.alter_table(Table::alter().table(table).add_column(&mut col).to_owned())
        .await
}

async fn drop_column(
    m: &SchemaManager<'_>,
    table: impl IntoIden,
    col: impl IntoIden,
) -> Result<(), DbErr> {
    m.alter_table(Table::alter().table(table).drop_column(col).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite can add only one column per ALTER TABLE.
        add_column(
            m,
            AccessTokens::Table,
            ColumnDef::new(AccessTokens::Jkt)
                .string_len(64)
                .null()
                .to_owned(),
        )
        .await?;
        add_column(
            m,
            RefreshTokens::Table,
            ColumnDef::new(RefreshTokens::Jkt)
                .string_len(64)
                .null()
                .to_owned(),
        )
        .await?;
        add_column(
            m,
            Clients::Table,
            ColumnDef::new(Clients::DpopBoundAccessTokens)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_column(m, Clients::Table, Clients::DpopBoundAccessTokens).await?;
        drop_column(m, RefreshTokens::Table, RefreshTokens::Jkt).await?;
        drop_column(m, AccessTokens::Table, AccessTokens::Jkt).await
    }
}
