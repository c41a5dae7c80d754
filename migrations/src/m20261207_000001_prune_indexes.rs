//! Indexes that make pruning cheap: every growing table is pruned in bounded
//! batches by a time column (`src/maintenance.rs`), and each batch finds its
//! rows through one of these instead of scanning the table. (Codes and tokens
//! have theirs on `expires_at` since m20261121_000005.)

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    GrantId,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    EndedAt,
}

#[derive(DeriveIden)]
enum Interactions {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LogoutOutbox {
    Table,
    Status,
    CreatedAt,
}

/// (index name, table, columns)
fn indexes() -> Vec<(&'static str, DynIden, Vec<DynIden>)> {
    vec![
        // A grant is pruned once nothing is issued under it any more: the
        // NOT EXISTS probe on codes needs this one (tokens have theirs).
        (
            "authorization_codes_grant_id",
            AuthorizationCodes::Table.into_iden(),
            vec![AuthorizationCodes::GrantId.into_iden()],
        ),
        (
            "grants_created_at",
            Grants::Table.into_iden(),
            vec![Grants::CreatedAt.into_iden()],
        ),
        (
            "sessions_ended_at",
            Sessions::Table.into_iden(),
            vec![Sessions::EndedAt.into_iden()],
        ),
        (
            "interactions_expires_at",
            Interactions::Table.into_iden(),
            vec![Interactions::ExpiresAt.into_iden()],
        ),
        (
            "logout_outbox_status_created_at",
            LogoutOutbox::Table.into_iden(),
            vec![
                LogoutOutbox::Status.into_iden(),
                LogoutOutbox::CreatedAt.into_iden(),
            ],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in indexes() {
            let mut index = Index::create();
            index.name(name).table(table);
            for col in cols {
                index.col(col);
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in indexes() {
            m.drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
