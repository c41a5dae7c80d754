//! Signing keys: the unique (alg, activates_at) index covers published keys
//! only. It stops two instances from scheduling two keys for the same
//! instant, but a revoked key must not block its successor from taking over
//! at that same second.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Alg,
    ActivatesAt,
    RemovedAt,
}

const OLD_INDEX: &str = "signing_keys_alg_activates_at";
const NEW_INDEX: &str = "signing_keys_published_alg_activates_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(OLD_INDEX)
                .table(SigningKeys::Table)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(NEW_INDEX)
                .table(SigningKeys::Table)
                .col(SigningKeys::Alg)
                .col(SigningKeys::ActivatesAt)
                .unique()
                .and_where(Expr::col(SigningKeys::RemovedAt).is_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(NEW_INDEX)
                .table(SigningKeys::Table)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(OLD_INDEX)
                .table(SigningKeys::Table)
                .col(SigningKeys::Alg)
                .col(SigningKeys::ActivatesAt)
                .unique()
                .to_owned(),
        )
        .await
    }
}
