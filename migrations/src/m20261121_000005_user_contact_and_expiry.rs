use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    PhoneNumber,
    Address,
}

/// OpenID Core §5.4: the `phone` and `address` scopes release
/// `phone_number` and `address`; users can now carry them. Also indexes the
/// expiry of codes and tokens, which maintenance prunes every minute.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite can add only one column per ALTER TABLE.
        for mut col in [
            ColumnDef::new(Users::PhoneNumber).text().null().to_owned(),
            ColumnDef::new(Users::Address).text().null().to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        let expiry_indexes = [
            (
                "access_tokens_expires_at",
                AccessTokens::Table.into_iden(),
                AccessTokens::ExpiresAt.into_iden(),
            ),
            (
                "refresh_tokens_expires_at",
                RefreshTokens::Table.into_iden(),
                RefreshTokens::ExpiresAt.into_iden(),
            ),
            (
                "authorization_codes_expires_at",
                AuthorizationCodes::Table.into_iden(),
                AuthorizationCodes::ExpiresAt.into_iden(),
            ),
        ];
        for (name, table, col) in expiry_indexes {
            m.create_index(Index::create().name(name).table(table).col(col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "access_tokens_expires_at",
            "refresh_tokens_expires_at",
            "authorization_codes_expires_at",
        ] {
            m.drop_index(Index::drop().name(name).to_owned()).await?;
        }
        for col in [Users::PhoneNumber, Users::Address] {
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
