//! Revoking what a client holds: a grant with every token issued under it,
//! one access token, and every token a signing key signed.

use sea_orm::DbErr;

use super::event::{GrantReason, Initiator, Kind};
use super::{Revoker, Transaction};
use crate::keys::Lifecycle;
use crate::keys::rotation::Revoked;
use crate::store::clients::{self, Client};
use crate::store::grants::{self, AccessTokenRecord, Grant};
use crate::store::revocation_log::NewEvent;

/// One access token to revoke (RFC 7009).
#[derive(Debug, Clone, Copy)]
pub enum SingleToken<'a> {
    /// A JWT access token cannot be recalled: its `jti` is listed until the
    /// token's own expiry.
    Jwt {
        jti: &'a str,
        client_id: &'a str,
        /// The user, for a token issued to one (it has a grant).
        user_id: Option<&'a str>,
        expires_at: i64,
    },
    /// An opaque access token, by its hash: its row is marked revoked.
    Opaque { token_hash: &'a str },
}

impl Transaction<'_> {
    /// Revoke grant `grant_id` and everything issued under it. False when it
    /// is unknown or was revoked already (nothing is recorded twice).
    pub async fn revoke_grant(
        &mut self,
        grant_id: &str,
        reason: GrantReason,
        initiator: Initiator,
    ) -> Result<bool, DbErr> {
        let Some(grant) = grants::find_grant(self.conn(), grant_id).await? else {
            return Ok(false);
        };
        let client = clients::find(self.conn(), &grant.client_id).await?;
        self.revoke_grant_row(&grant, client.as_ref(), reason, initiator)
            .await
    }

    pub(super) async fn revoke_grant_row(
        &mut self,
        grant: &Grant,
        client: Option<&Client>,
        reason: GrantReason,
        initiator: Initiator,
    ) -> Result<bool, DbErr> {
        if !grants::revoke_grant(self.conn(), &grant.id, self.rev.now).await? {
            return Ok(false);
        }
        self.record(
            Kind::GrantRevoked,
            initiator,
            NewEvent {
                grant_id: Some(grant.id.clone()),
                client_id: Some(grant.client_id.clone()),
                user_id: grant.user_id.clone(),
                reason: Some(reason.as_str()),
                // JWTs naming the grant (`gid`) were issued to its client.
                retain_until: self.rev.retain_for_client(client),
                ..NewEvent::default()
            },
        )
        .await?;
        Ok(true)
    }

    /// Revoke one access token on behalf of its client. False when there is
    /// nothing (more) to revoke.
    pub async fn revoke_token(&mut self, token: SingleToken<'_>) -> Result<bool, DbErr> {
        let skew = self.rev.clock_skew;
        let event = match token {
            SingleToken::Jwt {
                jti,
                client_id,
                user_id,
                expires_at,
            } => {
                if expires_at <= self.rev.now || self.rev.view.is_some_and(|v| v.jti_revoked(jti)) {
                    return Ok(false);
                }
                NewEvent {
                    jti: Some(jti.to_owned()),
                    client_id: Some(client_id.to_owned()),
                    user_id: user_id.map(str::to_owned),
                    retain_until: expires_at + skew,
                    ..NewEvent::default()
                }
            }
            SingleToken::Opaque { token_hash } => {
                let Some(row) = grants::find_access_token(self.conn(), token_hash).await? else {
                    return Ok(false);
                };
                return self.revoke_access_row(&row).await;
            }
        };
        self.record(Kind::TokenRevoked, Initiator::Client, event)
            .await?;
        Ok(true)
    }

    /// Revoke the opaque access token whose row the caller has read: its
    /// client, user and expiry never change, and the conditional UPDATE
    /// decides whether there is still something to revoke (one read fewer
    /// on `/revoke`).
    pub async fn revoke_access_row(&mut self, row: &AccessTokenRecord) -> Result<bool, DbErr> {
        self.revoke_access(
            &row.token_hash,
            &row.client_id,
            row.user_id.as_deref(),
            row.expires_at,
        )
        .await
    }

    /// [`revoke_access_row`](Self::revoke_access_row) from the columns it needs.
    pub async fn revoke_access(
        &mut self,
        token_hash: &str,
        client_id: &str,
        user_id: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, DbErr> {
        if !grants::revoke_access_token(self.conn(), token_hash, self.rev.now).await? {
            return Ok(false);
        }
        let event = NewEvent {
            token_hash: Some(token_hash.to_owned()),
            client_id: Some(client_id.to_owned()),
            user_id: user_id.map(str::to_owned),
            retain_until: expires_at + self.rev.clock_skew,
            ..NewEvent::default()
        };
        self.record(Kind::TokenRevoked, Initiator::Client, event)
            .await?;
        Ok(true)
    }
}

/// Revoke grant `grant_id` (see [`Transaction::revoke_grant`]).
pub async fn revoke_grant(
    rev: &Revoker<'_>,
    grant_id: &str,
    reason: GrantReason,
    initiator: Initiator,
) -> Result<bool, DbErr> {
    let mut tx = Transaction::begin(*rev).await?;
    let revoked = tx.revoke_grant(grant_id, reason, initiator).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Revoke one access token (see [`Transaction::revoke_token`]).
pub async fn revoke_token(rev: &Revoker<'_>, token: SingleToken<'_>) -> Result<bool, DbErr> {
    let mut tx = Transaction::begin(*rev).await?;
    let revoked = tx.revoke_token(token).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Remove signing key `kid` at once (compromise): it leaves the JWKS, and if
/// it was signing, its successor signs from now (`keys::Lifecycle`); every
/// token it signed dies (`key_revoked`). Errors when the key is unknown,
/// already removed, or changed by someone else at the same time.
pub async fn revoke_key(
    rev: &Revoker<'_>,
    lifecycle: &Lifecycle<'_>,
    kid: &str,
) -> anyhow::Result<Revoked> {
    let mut tx = Transaction::begin(*rev).await?;
    let revoked = lifecycle.remove(tx.conn(), kid, rev.now).await?;
    let retain_until = rev.retain_for_all(tx.conn()).await?;
    tx.record(
        Kind::KeyRevoked,
        Initiator::Admin,
        NewEvent {
            kid: Some(kid.to_owned()),
            retain_until,
            ..NewEvent::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(revoked)
}
