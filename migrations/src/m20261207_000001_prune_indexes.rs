//! Indexes that make pruning cheap: every growing table is pruned in bounded
//! batches by a time column (`src/maintenance.rs`), and each batch finds its
//! rows through one of these instead of scanning the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    ExpiresAt,
    GrantId,
}

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
        (
            "authorization_codes_expires_at",
            AuthorizationCodes::Table.into_iden(),
            vec![AuthorizationCodes::ExpiresAt.into_iden()],
        ),
        // A grant is pruned once nothing is issued under it any more: the
        // NOT EXISTS probe on codes needs this one (tokens have theirs).
        (
            "authorization_codes_grant_id",
            AuthorizationCodes::Table.into_iden(),
            vec![AuthorizationCodes::GrantId.into_iden()],
        ),
        (
            "access_tokens_expires_at",
            AccessTokens::Table.into_iden(),
            vec![AccessTokens::ExpiresAt.into_iden()],
        ),
        (
            "refresh_tokens_expires_at",
            RefreshTokens::Table.into_iden(),
            vec![RefreshTokens::ExpiresAt.into_iden()],
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
