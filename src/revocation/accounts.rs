//! Token versions of users and clients: "log out everywhere", disabling and
//! enabling, a new password, "revoke every token of this client", removing
//! a client. Each starts a new generation (enabling excepted, since
//! disabling did) and records it; for users, every session ends too, through
//! `end_session`, so relying parties are notified.

use sea_orm::{ConnectionTrait, DbErr};

use super::event::{EndReason, Initiator, Kind};
use super::{Revoker, Transaction};
use crate::logout::EndedSession;
use crate::store::revocation_log::{self, NewEvent};
use crate::store::{clients, consents, grants, users};

/// What a change to a user did.
#[derive(Debug, Clone)]
pub struct UserRevocation {
    /// The user's token version after the change.
    pub version: i64,
    pub ended: Vec<EndedSession>,
}

impl Transaction<'_> {
    async fn record_user(
        &mut self,
        kind: Kind,
        initiator: Initiator,
        user_id: &str,
        version: i64,
    ) -> Result<(), DbErr> {
        // Every token of the user, at any client.
        let retain_until = self.rev.retain_for_all(self.conn()).await?;
        self.record(
            kind,
            initiator,
            NewEvent {
                user_id: Some(user_id.to_owned()),
                version: Some(version),
                retain_until,
                ..NewEvent::default()
            },
        )
        .await
    }

    async fn record_client(
        &mut self,
        kind: Kind,
        client_id: &str,
        version: i64,
    ) -> Result<(), DbErr> {
        let client = clients::find(self.conn(), client_id).await?;
        let retain_until = self.rev.retain_for_client(client.as_ref());
        self.record(
            kind,
            Initiator::Admin,
            NewEvent {
                client_id: Some(client_id.to_owned()),
                version: Some(version),
                retain_until,
                ..NewEvent::default()
            },
        )
        .await
    }

    /// "Log out everywhere": every token, code and session of the user so
    /// far is void. `None`: no such user.
    pub async fn logout_everywhere(
        &mut self,
        user_id: &str,
        initiator: Initiator,
    ) -> Result<Option<UserRevocation>, DbErr> {
        let Some(version) = users::bump_token_version(self.conn(), user_id).await? else {
            return Ok(None);
        };
        self.record_user(Kind::UserTokensVoided, initiator, user_id, version)
            .await?;
        let ended = self
            .end_user_sessions(user_id, EndReason::LogoutEverywhere)
            .await?;
        Ok(Some(UserRevocation { version, ended }))
    }

    /// Disable the user: no sign-in, no token, every session ended. `None`:
    /// no such user, or disabled already.
    pub async fn disable_user(
        &mut self,
        user_id: &str,
        initiator: Initiator,
    ) -> Result<Option<UserRevocation>, DbErr> {
        let Some(version) = users::disable(self.conn(), user_id, self.rev.now).await? else {
            return Ok(None);
        };
        self.record_user(Kind::UserDisabled, initiator, user_id, version)
            .await?;
        let ended = self
            .end_user_sessions(user_id, EndReason::UserDisabled)
            .await?;
        Ok(Some(UserRevocation { version, ended }))
    }

    /// Enable a disabled user; what was issued before stays void. `None`: no
    /// such disabled user.
    pub async fn enable_user(
        &mut self,
        user_id: &str,
        initiator: Initiator,
    ) -> Result<Option<i64>, DbErr> {
        let Some(version) = users::enable(self.conn(), user_id, self.rev.now).await? else {
            return Ok(None);
        };
        self.record_user(Kind::UserEnabled, initiator, user_id, version)
            .await?;
        Ok(Some(version))
    }

    /// Store a new password hash: what the old password obtained dies, and
    /// every session ends. `None`: no such user.
    pub async fn set_password(
        &mut self,
        user_id: &str,
        password_hash: &str,
        initiator: Initiator,
    ) -> Result<Option<UserRevocation>, DbErr> {
        let Some(version) =
            users::set_password_hash(self.conn(), user_id, password_hash, self.rev.now).await?
        else {
            return Ok(None);
        };
        self.record_user(Kind::CredentialChanged, initiator, user_id, version)
            .await?;
        let ended = self
            .end_user_sessions(user_id, EndReason::PasswordChanged)
            .await?;
        Ok(Some(UserRevocation { version, ended }))
    }

    /// "Revoke every token of this client". Returns the new version; `None`:
    /// no such client.
    pub async fn void_client_tokens(&mut self, client_id: &str) -> Result<Option<i64>, DbErr> {
        let Some(version) = clients::bump_token_version(self.conn(), client_id).await? else {
            return Ok(None);
        };
        self.record_client(Kind::ClientTokensVoided, client_id, version)
            .await?;
        Ok(Some(version))
    }

    /// Disable a client: it authenticates nowhere and its tokens die.
    /// `None`: no such enabled client.
    pub async fn disable_client(&mut self, client_id: &str) -> Result<Option<i64>, DbErr> {
        let Some(version) = clients::disable(self.conn(), client_id).await? else {
            return Ok(None);
        };
        self.record_client(Kind::ClientDisabled, client_id, version)
            .await?;
        Ok(Some(version))
    }

    /// Enable a disabled client; its earlier tokens stay void. `None`: no
    /// such disabled client.
    pub async fn enable_client(&mut self, client_id: &str) -> Result<Option<i64>, DbErr> {
        let Some(version) = clients::enable(self.conn(), client_id).await? else {
            return Ok(None);
        };
        self.record_client(Kind::ClientEnabled, client_id, version)
            .await?;
        Ok(Some(version))
    }

    /// Remove a client. Its grants and token rows are marked revoked, and
    /// `client_removed` carries the generation after its last, at which a
    /// client registered later under the same id starts (RFC 6749 §10.4:
    /// tokens are bound to the client they were issued to). False: no such
    /// client.
    pub async fn remove_client(&mut self, client_id: &str) -> Result<bool, DbErr> {
        let Some(client) = clients::find(self.conn(), client_id).await? else {
            return Ok(false);
        };
        let retain_until = self.rev.retain_for_client(Some(&client));
        if !clients::remove(self.conn(), client_id).await? {
            return Ok(false);
        }
        grants::revoke_all_of_client(self.conn(), client_id, self.rev.now).await?;
        // OpenID Core §3.1.2.4: consent was given to this client; a client
        // registered later under the same id must ask again.
        consents::remove_all_of_client(self.conn(), client_id).await?;
        // Its Shared Signals streams go with it: a client registered later
        // under the same id must not read the removed one's feed.
        crate::store::ssf_streams::remove_all_of_client(self.conn(), client_id).await?;
        self.record(
            Kind::ClientRemoved,
            Initiator::Admin,
            NewEvent {
                client_id: Some(client_id.to_owned()),
                version: Some(client.token_version + 1),
                retain_until,
                ..NewEvent::default()
            },
        )
        .await?;
        Ok(true)
    }

    /// Record that this transaction changed the client's row (registered,
    /// updated, given a new secret): no token dies, but every instance drops
    /// its cached row of the client (`store::client_cache`). The event
    /// matches no token, so it is in force for no time past `now`.
    pub async fn client_changed(&mut self, client_id: &str) -> Result<(), DbErr> {
        self.record(
            Kind::ClientChanged,
            Initiator::Admin,
            NewEvent {
                client_id: Some(client_id.to_owned()),
                retain_until: self.rev.now,
                ..NewEvent::default()
            },
        )
        .await
    }
}

/// Run one action in its own transaction.
macro_rules! in_transaction {
    ($rev:expr, |$tx:ident| $action:expr) => {{
        let mut $tx = Transaction::begin(*$rev).await?;
        let outcome = $action.await?;
        $tx.commit().await?;
        Ok(outcome)
    }};
}

/// See [`Transaction::logout_everywhere`].
pub async fn logout_everywhere(
    rev: &Revoker<'_>,
    user_id: &str,
    initiator: Initiator,
) -> Result<Option<UserRevocation>, DbErr> {
    in_transaction!(rev, |tx| tx.logout_everywhere(user_id, initiator))
}

/// See [`Transaction::disable_user`].
pub async fn disable_user(
    rev: &Revoker<'_>,
    user_id: &str,
    initiator: Initiator,
) -> Result<Option<UserRevocation>, DbErr> {
    in_transaction!(rev, |tx| tx.disable_user(user_id, initiator))
}

/// See [`Transaction::enable_user`].
pub async fn enable_user(
    rev: &Revoker<'_>,
    user_id: &str,
    initiator: Initiator,
) -> Result<Option<i64>, DbErr> {
    in_transaction!(rev, |tx| tx.enable_user(user_id, initiator))
}

/// See [`Transaction::set_password`]; `password_hash` is an argon2id hash
/// (`secrets::hash_password`).
pub async fn set_password(
    rev: &Revoker<'_>,
    user_id: &str,
    password_hash: &str,
    initiator: Initiator,
) -> Result<Option<UserRevocation>, DbErr> {
    in_transaction!(rev, |tx| tx.set_password(user_id, password_hash, initiator))
}

/// See [`Transaction::void_client_tokens`].
pub async fn void_client_tokens(rev: &Revoker<'_>, client_id: &str) -> Result<Option<i64>, DbErr> {
    in_transaction!(rev, |tx| tx.void_client_tokens(client_id))
}

/// See [`Transaction::disable_client`].
pub async fn disable_client(rev: &Revoker<'_>, client_id: &str) -> Result<Option<i64>, DbErr> {
    in_transaction!(rev, |tx| tx.disable_client(client_id))
}

/// See [`Transaction::enable_client`].
pub async fn enable_client(rev: &Revoker<'_>, client_id: &str) -> Result<Option<i64>, DbErr> {
    in_transaction!(rev, |tx| tx.enable_client(client_id))
}

/// See [`Transaction::remove_client`].
pub async fn remove_client(rev: &Revoker<'_>, client_id: &str) -> Result<bool, DbErr> {
    in_transaction!(rev, |tx| tx.remove_client(client_id))
}

/// The token version a client registered now under `client_id` starts at:
/// past every generation a removed client of that id had, while any of its
/// tokens can still be alive (the log keeps the event that long).
pub async fn initial_client_version(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<i64, DbErr> {
    Ok(revocation_log::last_client_version(db, client_id)
        .await?
        .unwrap_or(0))
}
