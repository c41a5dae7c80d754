//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Core §9):
//! a client registered with its public keys, either as a JWK Set (JSON
//! text) or as the https URL it publishes them at.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Jwks,
    JwksUri,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite can add only one column per ALTER TABLE.
        for column in [Clients::Jwks, Clients::JwksUri] {
            m.alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(ColumnDef::new(column).text().null())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Clients::JwksUri, Clients::Jwks] {
            m.alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
