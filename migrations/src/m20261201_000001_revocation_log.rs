//! The revocation log and token versions (docs/revocation.md).
//!
//! - `revocation_events`: one row per way a token or session died, with a
//!   sequence number the database assigns, written in the transaction of the
//!   change it records.
//! - `users.token_version`, `clients.token_version`: generations bumped by
//!   "log out everywhere", "revoke every token of this client", disabling and
//!   removal. Grants, token rows and sessions record the generations they were
//!   issued under; they are void once those are older than the current ones.
//!
//! The timestamp watermarks (`tokens_valid_after`) and the `revoked_jtis`
//! table are replaced: their contents are carried over (below), then dropped.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RevocationEvents {
    Table,
    Seq,
    Kind,
    CreatedAt,
    UserId,
    SessionId,
    ClientId,
    GrantId,
    Jti,
    TokenHash,
    Kid,
    Version,
    Reason,
    Initiator,
    RetainUntil,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    TokenVersion,
    TokensValidAfter,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    TokenVersion,
    TokensValidAfter,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    UserVersion,
    ClientVersion,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    UserVersion,
    ClientVersion,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    UserVersion,
    ClientVersion,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    UserVersion,
    IdleExpiresAt,
}

#[derive(DeriveIden)]
enum RevokedJtis {
    Table,
    Jti,
    ExpiresAt,
}

fn version(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn id_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(128).null().to_owned()
}

async fn add_column(
    m: &SchemaManager<'_>,
    table: impl IntoIden,
    mut col: ColumnDef,
) -> Result<(), DbErr> {
    m.alter_table(Table::alter().table(table).add_column(&mut col).to_owned())
        .await
}

/// Carry the watermarks over as versions, in plain SQL both databases run.
/// A user or client that had a cut-off (a client's registration instant is
/// one too, and does not count) gets version 1; what it issued at or after
/// the cut-off records version 1 and stays valid, what it issued before
/// records 0 and is void. JWT access tokens already out carry no `ver`/`cver`
/// and count as version 0: those of a user or client with a cut-off die at
/// the upgrade, which errs on the safe side for tokens of minutes.
const CARRY_OVER_WATERMARKS: &[&str] = &[
    "UPDATE users SET token_version = 1 WHERE tokens_valid_after > 0",
    "UPDATE clients SET token_version = 1 WHERE tokens_valid_after > created_at",
    "UPDATE grants SET user_version = 1 WHERE created_at >= \
     (SELECT u.tokens_valid_after FROM users u WHERE u.id = grants.user_id AND u.token_version = 1)",
    "UPDATE grants SET client_version = 1 WHERE created_at >= \
     (SELECT c.tokens_valid_after FROM clients c WHERE c.id = grants.client_id AND c.token_version = 1)",
    "UPDATE access_tokens SET user_version = 1 WHERE issued_at >= \
     (SELECT u.tokens_valid_after FROM users u WHERE u.id = access_tokens.user_id AND u.token_version = 1)",
    "UPDATE access_tokens SET client_version = 1 WHERE issued_at >= \
     (SELECT c.tokens_valid_after FROM clients c WHERE c.id = access_tokens.client_id AND c.token_version = 1)",
    "UPDATE refresh_tokens SET user_version = 1 WHERE issued_at >= \
     (SELECT u.tokens_valid_after FROM users u WHERE u.id = refresh_tokens.user_id AND u.token_version = 1)",
    "UPDATE refresh_tokens SET client_version = 1 WHERE issued_at >= \
     (SELECT c.tokens_valid_after FROM clients c WHERE c.id = refresh_tokens.client_id AND c.token_version = 1)",
    "UPDATE sessions SET user_version = 1 WHERE created_at >= \
     (SELECT u.tokens_valid_after FROM users u WHERE u.id = sessions.user_id AND u.token_version = 1)",
    // Denylisted JWTs become `token_revoked` events kept until they expire.
    "INSERT INTO revocation_events (kind, created_at, jti, initiator, retain_until) \
     SELECT 'token_revoked', expires_at, jti, 'client', expires_at FROM revoked_jtis",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RevocationEvents::Table)
                .col(
                    ColumnDef::new(RevocationEvents::Seq)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(RevocationEvents::Kind)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RevocationEvents::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(id_null(RevocationEvents::UserId))
                .col(id_null(RevocationEvents::SessionId))
                .col(id_null(RevocationEvents::ClientId))
                .col(id_null(RevocationEvents::GrantId))
                .col(id_null(RevocationEvents::Jti))
                .col(id_null(RevocationEvents::TokenHash))
                .col(id_null(RevocationEvents::Kid))
                .col(
                    ColumnDef::new(RevocationEvents::Version)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(RevocationEvents::Reason)
                        .string_len(32)
                        .null(),
                )
                .col(
                    ColumnDef::new(RevocationEvents::Initiator)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RevocationEvents::RetainUntil)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // Start-up loads the events still in force; pruning deletes the rest.
        m.create_index(
            Index::create()
                .name("revocation_events_retain_until")
                .table(RevocationEvents::Table)
                .col(RevocationEvents::RetainUntil)
                .to_owned(),
        )
        .await?;

        // SQLite can add only one column per ALTER TABLE.
        add_column(m, Users::Table, version(Users::TokenVersion)).await?;
        add_column(m, Clients::Table, version(Clients::TokenVersion)).await?;
        add_column(m, Grants::Table, version(Grants::UserVersion)).await?;
        add_column(m, Grants::Table, version(Grants::ClientVersion)).await?;
        add_column(m, AccessTokens::Table, version(AccessTokens::UserVersion)).await?;
        add_column(m, AccessTokens::Table, version(AccessTokens::ClientVersion)).await?;
        add_column(m, RefreshTokens::Table, version(RefreshTokens::UserVersion)).await?;
        add_column(
            m,
            RefreshTokens::Table,
            version(RefreshTokens::ClientVersion),
        )
        .await?;
        add_column(m, Sessions::Table, version(Sessions::UserVersion)).await?;
        // The expiry sweep looks for sessions past their idle expiry (never
        // later than the absolute one).
        m.create_index(
            Index::create()
                .name("sessions_idle_expires_at")
                .table(Sessions::Table)
                .col(Sessions::IdleExpiresAt)
                .to_owned(),
        )
        .await?;

        let db = m.get_connection();
        for statement in CARRY_OVER_WATERMARKS {
            db.execute_unprepared(statement).await?;
        }
        m.drop_table(Table::drop().table(RevokedJtis::Table).to_owned())
            .await?;
        for (table, col) in [
            (
                Users::Table.into_iden(),
                Users::TokensValidAfter.into_iden(),
            ),
            (
                Clients::Table.into_iden(),
                Clients::TokensValidAfter.into_iden(),
            ),
        ] {
            m.alter_table(Table::alter().table(table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The watermarks come back at zero: what versions voided is not
        // voided by a watermark any more. Revoked JWTs are not restored.
        add_column(
            m,
            Users::Table,
            ColumnDef::new(Users::TokensValidAfter)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        )
        .await?;
        add_column(
            m,
            Clients::Table,
            ColumnDef::new(Clients::TokensValidAfter)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        )
        .await?;
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
        m.drop_index(Index::drop().name("sessions_idle_expires_at").to_owned())
            .await?;
        for (table, col) in [
            (Users::Table.into_iden(), Users::TokenVersion.into_iden()),
            (
                Clients::Table.into_iden(),
                Clients::TokenVersion.into_iden(),
            ),
            (Grants::Table.into_iden(), Grants::UserVersion.into_iden()),
            (Grants::Table.into_iden(), Grants::ClientVersion.into_iden()),
            (
                AccessTokens::Table.into_iden(),
                AccessTokens::UserVersion.into_iden(),
            ),
            (
                AccessTokens::Table.into_iden(),
                AccessTokens::ClientVersion.into_iden(),
            ),
            (
                RefreshTokens::Table.into_iden(),
                RefreshTokens::UserVersion.into_iden(),
            ),
            (
                RefreshTokens::Table.into_iden(),
                RefreshTokens::ClientVersion.into_iden(),
            ),
            (
                Sessions::Table.into_iden(),
                Sessions::UserVersion.into_iden(),
            ),
        ] {
            m.alter_table(Table::alter().table(table).drop_column(col).to_owned())
                .await?;
        }
        m.drop_table(Table::drop().table(RevocationEvents::Table).to_owned())
            .await
    }
}
