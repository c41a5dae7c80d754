use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    Email,
    EmailVerified,
    Name,
    PasswordHash,
    Disabled,
    TokensValidAfter,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    SecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    Scopes,
    GrantTypes,
    FirstParty,
    RequirePkce,
    IdTokenSignedResponseAlg,
    AccessTokenFormat,
    BackchannelLogoutUri,
    BackchannelLogoutSessionRequired,
    FrontchannelLogoutUri,
    FrontchannelLogoutSessionRequired,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Alg,
    PrivateJwk,
    PublicJwk,
    CreatedAt,
    ActivatesAt,
    RetiresAt,
    RemovedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    CookieHash,
    UserId,
    AuthTime,
    Amr,
    CreatedAt,
    LastSeenAt,
    IdleExpiresAt,
    AbsoluteExpiresAt,
    EndedAt,
    UserAgent,
    Ip,
}

#[derive(DeriveIden)]
enum SessionClients {
    Table,
    SessionId,
    ClientId,
    FirstSeenAt,
}

#[derive(DeriveIden)]
enum Interactions {
    Table,
    Id,
    BrowserHash,
    CsrfToken,
    ClientId,
    Request,
    SessionId,
    LoginCompletedAt,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    UserId,
    ClientId,
    Scopes,
    GrantedAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    ClientId,
    UserId,
    SessionId,
    Scope,
    AuthTime,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    GrantId,
    ClientId,
    RedirectUri,
    Nonce,
    CodeChallenge,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    TokenHash,
    GrantId,
    ClientId,
    UserId,
    SessionId,
    Scope,
    IssuedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    GrantId,
    ClientId,
    UserId,
    Scope,
    IssuedAt,
    ExpiresAt,
    ConsumedAt,
    RevokedAt,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

fn instant(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn instant_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

fn flag(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

fn key(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .string_len(128)
        .not_null()
        .primary_key()
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, col: impl IntoIden) -> IndexCreateStatement {
    Index::create().name(name).table(table).col(col).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(key(Users::Id))
                .col(
                    ColumnDef::new(Users::Username)
                        .string_len(255)
                        .not_null()
                        .unique_key(),
                )
                .col(text_null(Users::Email))
                .col(flag(Users::EmailVerified))
                .col(text_null(Users::Name))
                .col(text(Users::PasswordHash))
                .col(flag(Users::Disabled))
                .col(instant(Users::TokensValidAfter))
                .col(instant(Users::CreatedAt))
                .col(instant(Users::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Clients::Table)
                .col(key(Clients::Id))
                .col(text_null(Clients::SecretHash))
                .col(text(Clients::RedirectUris))
                .col(text(Clients::PostLogoutRedirectUris))
                .col(text(Clients::Scopes))
                .col(text(Clients::GrantTypes))
                .col(flag(Clients::FirstParty))
                .col(flag(Clients::RequirePkce))
                .col(text(Clients::IdTokenSignedResponseAlg))
                .col(text(Clients::AccessTokenFormat))
                .col(text_null(Clients::BackchannelLogoutUri))
                .col(flag(Clients::BackchannelLogoutSessionRequired))
                .col(text_null(Clients::FrontchannelLogoutUri))
                .col(flag(Clients::FrontchannelLogoutSessionRequired))
                .col(instant(Clients::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SigningKeys::Table)
                .col(key(SigningKeys::Kid))
                .col(ColumnDef::new(SigningKeys::Alg).string_len(16).not_null())
                .col(text(SigningKeys::PrivateJwk))
                .col(text(SigningKeys::PublicJwk))
                .col(instant(SigningKeys::CreatedAt))
                .col(instant(SigningKeys::ActivatesAt))
                .col(instant_null(SigningKeys::RetiresAt))
                .col(instant_null(SigningKeys::RemovedAt))
                .to_owned(),
        )
        .await?;
        // Two instances rotating at once both try to insert the next key for
        // the same (alg, activates_at); the unique index lets only one win.
        m.create_index(
            Index::create()
                .name("signing_keys_alg_activates_at")
                .table(SigningKeys::Table)
                .col(SigningKeys::Alg)
                .col(SigningKeys::ActivatesAt)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(key(Sessions::Id))
                .col(
                    ColumnDef::new(Sessions::CookieHash)
                        .string_len(128)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Sessions::UserId).string_len(128).not_null())
                .col(instant(Sessions::AuthTime))
                .col(text(Sessions::Amr))
                .col(instant(Sessions::CreatedAt))
                .col(instant(Sessions::LastSeenAt))
                .col(instant(Sessions::IdleExpiresAt))
                .col(instant(Sessions::AbsoluteExpiresAt))
                .col(instant_null(Sessions::EndedAt))
                .col(text_null(Sessions::UserAgent))
                .col(text_null(Sessions::Ip))
                .to_owned(),
        )
        .await?;
        m.create_index(index("sessions_user_id", Sessions::Table, Sessions::UserId))
            .await?;

        m.create_table(
            Table::create()
                .table(SessionClients::Table)
                .col(
                    ColumnDef::new(SessionClients::SessionId)
                        .string_len(128)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SessionClients::ClientId)
                        .string_len(128)
                        .not_null(),
                )
                .col(instant(SessionClients::FirstSeenAt))
                .primary_key(
                    Index::create()
                        .col(SessionClients::SessionId)
                        .col(SessionClients::ClientId),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Interactions::Table)
                .col(key(Interactions::Id))
                .col(text(Interactions::BrowserHash))
                .col(text(Interactions::CsrfToken))
                .col(
                    ColumnDef::new(Interactions::ClientId)
                        .string_len(128)
                        .not_null(),
                )
                .col(text(Interactions::Request))
                .col(text_null(Interactions::SessionId))
                .col(instant_null(Interactions::LoginCompletedAt))
                .col(instant(Interactions::CreatedAt))
                .col(instant(Interactions::ExpiresAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Consents::Table)
                .col(ColumnDef::new(Consents::UserId).string_len(128).not_null())
                .col(
                    ColumnDef::new(Consents::ClientId)
                        .string_len(128)
                        .not_null(),
                )
                .col(text(Consents::Scopes))
                .col(instant(Consents::GrantedAt))
                .primary_key(
                    Index::create()
                        .col(Consents::UserId)
                        .col(Consents::ClientId),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Grants::Table)
                .col(key(Grants::Id))
                .col(ColumnDef::new(Grants::ClientId).string_len(128).not_null())
                .col(ColumnDef::new(Grants::UserId).string_len(128).null())
                .col(ColumnDef::new(Grants::SessionId).string_len(128).null())
                .col(text(Grants::Scope))
                .col(instant_null(Grants::AuthTime))
                .col(instant(Grants::CreatedAt))
                .col(instant_null(Grants::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("grants_user_id", Grants::Table, Grants::UserId))
            .await?;
        m.create_index(index("grants_session_id", Grants::Table, Grants::SessionId))
            .await?;

        m.create_table(
            Table::create()
                .table(AuthorizationCodes::Table)
                .col(key(AuthorizationCodes::CodeHash))
                .col(
                    ColumnDef::new(AuthorizationCodes::GrantId)
                        .string_len(128)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuthorizationCodes::ClientId)
                        .string_len(128)
                        .not_null(),
                )
                .col(text(AuthorizationCodes::RedirectUri))
                .col(text_null(AuthorizationCodes::Nonce))
                .col(text_null(AuthorizationCodes::CodeChallenge))
                .col(instant(AuthorizationCodes::CreatedAt))
                .col(instant(AuthorizationCodes::ExpiresAt))
                .col(instant_null(AuthorizationCodes::ConsumedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AccessTokens::Table)
                .col(key(AccessTokens::TokenHash))
                .col(ColumnDef::new(AccessTokens::GrantId).string_len(128).null())
                .col(
                    ColumnDef::new(AccessTokens::ClientId)
                        .string_len(128)
                        .not_null(),
                )
                .col(ColumnDef::new(AccessTokens::UserId).string_len(128).null())
                .col(
                    ColumnDef::new(AccessTokens::SessionId)
                        .string_len(128)
                        .null(),
                )
                .col(text(AccessTokens::Scope))
                .col(instant(AccessTokens::IssuedAt))
                .col(instant(AccessTokens::ExpiresAt))
                .col(instant_null(AccessTokens::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "access_tokens_grant_id",
            AccessTokens::Table,
            AccessTokens::GrantId,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(key(RefreshTokens::TokenHash))
                .col(
                    ColumnDef::new(RefreshTokens::GrantId)
                        .string_len(128)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RefreshTokens::ClientId)
                        .string_len(128)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RefreshTokens::UserId)
                        .string_len(128)
                        .not_null(),
                )
                .col(text(RefreshTokens::Scope))
                .col(instant(RefreshTokens::IssuedAt))
                .col(instant(RefreshTokens::ExpiresAt))
                .col(instant_null(RefreshTokens::ConsumedAt))
                .col(instant_null(RefreshTokens::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "refresh_tokens_grant_id",
            RefreshTokens::Table,
            RefreshTokens::GrantId,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RefreshTokens::Table.into_iden(),
            AccessTokens::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            Grants::Table.into_iden(),
            Consents::Table.into_iden(),
            Interactions::Table.into_iden(),
            SessionClients::Table.into_iden(),
            Sessions::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Clients::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
