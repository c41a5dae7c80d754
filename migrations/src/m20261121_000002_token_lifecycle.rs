use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Audiences,
    AccessTokenTtl,
    RefreshTokenIdleTtl,
    RefreshTokenAbsoluteTtl,
    TokensValidAfter,
    Disabled,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    SuccessorHash,
    SuccessorSealed,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    Audience,
    AuthTime,
}

#[derive(DeriveIden)]
enum RevokedJtis {
    Table,
    Jti,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite can add only one column per ALTER TABLE.
        let client_columns = [
            ColumnDef::new(Clients::Audiences)
                .text()
                .not_null()
                .default("[]")
                .to_owned(),
            ColumnDef::new(Clients::AccessTokenTtl)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Clients::RefreshTokenIdleTtl)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Clients::RefreshTokenAbsoluteTtl)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Clients::TokensValidAfter)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Clients::Disabled)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ];
        for mut col in client_columns {
            m.alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        // Rotation grace period: the consumed token remembers its successor,
        // sealed with a key only the holder of the consumed token can derive.
        for mut col in [
            ColumnDef::new(RefreshTokens::SuccessorHash)
                .string_len(128)
                .null()
                .to_owned(),
            ColumnDef::new(RefreshTokens::SuccessorSealed)
                .text()
                .null()
                .to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        for mut col in [
            ColumnDef::new(AccessTokens::Audience)
                .text()
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new(AccessTokens::AuthTime)
                .big_integer()
                .null()
                .to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(AccessTokens::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        // RFC 7009 for self-contained tokens: the `jti` of a revoked JWT
        // access token, kept until the token would have expired anyway.
        m.create_table(
            Table::create()
                .table(RevokedJtis::Table)
                .col(
                    ColumnDef::new(RevokedJtis::Jti)
                        .string_len(128)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(RevokedJtis::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("revoked_jtis_expires_at")
                .table(RevokedJtis::Table)
                .col(RevokedJtis::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RevokedJtis::Table).to_owned())
            .await?;
        for col in [AccessTokens::Audience, AccessTokens::AuthTime] {
            m.alter_table(
                Table::alter()
                    .table(AccessTokens::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for col in [RefreshTokens::SuccessorHash, RefreshTokens::SuccessorSealed] {
            m.alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for col in [
            Clients::Audiences,
            Clients::AccessTokenTtl,
            Clients::RefreshTokenIdleTtl,
            Clients::RefreshTokenAbsoluteTtl,
            Clients::TokensValidAfter,
            Clients::Disabled,
        ] {
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
