//! Ending an SSO session: the one path every logout takes (RP-initiated,
//! the account page, the CLI, "log out everywhere", a disabled user, a new
//! password, another user signing in on the same browser, and expiry). In
//! one transaction it marks the session ended, records `session_ended`,
//! applies each client's `logout_revokes` policy to the grants made in it
//! (`grant_revoked` for each one revoked), and queues a Back-Channel Logout
//! notification for each participating client with a backchannel_logout_uri.

use sea_orm::DbErr;

use super::event::{EndReason, GrantReason, Kind};
use super::{Revoker, Transaction};
use crate::logout::EndedSession;
use crate::random::identifier;
use crate::scope::Scope;
use crate::store::clients::{self, Client, LogoutRevokes};
use crate::store::grants;
use crate::store::logout_outbox::{self, NewNotification};
use crate::store::revocation_log::NewEvent;
use crate::store::sessions;

/// Whether a grant made in an ending session outlives it, per the client's
/// policy: `nothing` keeps everything; `session_tokens` revokes, except
/// offline grants of a client that opted to keep them, and offline grants of
/// a session that merely ran out of time (OpenID Core §11: offline access is
/// for when the user is not logged in).
pub fn grant_survives(
    policy: LogoutRevokes,
    keep_offline_tokens: bool,
    grant_scope: &Scope,
    reason: EndReason,
) -> bool {
    match policy {
        LogoutRevokes::Nothing => true,
        LogoutRevokes::SessionTokens => {
            grant_scope.contains("offline_access") && (keep_offline_tokens || reason.is_expiry())
        }
    }
}

impl Transaction<'_> {
    /// End session `sid`. `None` when it does not exist or had already ended
    /// (a second logout notifies nobody twice), and, for an expiry reason,
    /// when it has not run out of time (it was used meanwhile).
    pub async fn end_session(
        &mut self,
        sid: &str,
        reason: EndReason,
    ) -> Result<Option<EndedSession>, DbErr> {
        let now = self.rev.now;
        // The conditional UPDATE is the arbiter: of two concurrent ends only
        // one ends the session and queues notifications.
        let ended = if reason.is_expiry() {
            sessions::end_expired(self.conn(), sid, now).await?
        } else {
            sessions::end(self.conn(), sid, now).await?
        };
        if !ended {
            return Ok(None);
        }
        let Some(session) = sessions::find(self.conn(), sid).await? else {
            return Ok(None);
        };
        let mut participants = Vec::new();
        for client_id in sessions::clients(self.conn(), sid).await? {
            if let Some(client) = clients::find(self.conn(), &client_id).await? {
                participants.push(client);
            }
        }
        // JWTs carrying this `sid` were issued to the participants.
        let retain_until = participants
            .iter()
            .map(|c| self.rev.retain_for_client(Some(c)))
            .max()
            .unwrap_or_else(|| self.rev.retain_for_client(None));
        self.record(
            Kind::SessionEnded,
            reason.initiator(),
            NewEvent {
                user_id: Some(session.user_id.clone()),
                session_id: Some(sid.to_owned()),
                reason: Some(reason.as_str()),
                retain_until,
                ..NewEvent::default()
            },
        )
        .await?;
        for grant in grants::of_session(self.conn(), sid).await? {
            let client = match participants.iter().find(|c| c.id == grant.client_id) {
                Some(c) => Some(c.clone()),
                None => clients::find(self.conn(), &grant.client_id).await?,
            };
            // A grant of a client that no longer exists is revoked.
            let scope = Scope::from_stored(&grant.scope);
            let survives = client.as_ref().is_some_and(|c| {
                grant_survives(c.logout_revokes, c.keep_offline_tokens, &scope, reason)
            });
            if survives {
                grants::detach_from_session(self.conn(), &grant.id).await?;
            } else {
                self.revoke_grant_row(
                    &grant,
                    client.as_ref(),
                    GrantReason::SessionEnded,
                    reason.initiator(),
                )
                .await?;
            }
        }
        self.notify_participants(&participants, &session.user_id, sid, reason)
            .await?;
        Ok(Some(EndedSession {
            session,
            clients: participants,
        }))
    }

    /// Back-Channel Logout 1.0 §2.5: every RP that took part in the session
    /// and registered a backchannel_logout_uri is told.
    async fn notify_participants(
        &mut self,
        participants: &[Client],
        sub: &str,
        sid: &str,
        reason: EndReason,
    ) -> Result<(), DbErr> {
        for client in participants {
            let Some(uri) = client.backchannel_logout_uri.as_deref() else {
                continue;
            };
            logout_outbox::enqueue(
                self.conn(),
                NewNotification {
                    id: &identifier(self.rev.rng),
                    client_id: &client.id,
                    uri,
                    sub,
                    sid,
                    reason: reason.as_str(),
                    now: self.rev.now,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// End every session of a user that has not ended yet; returns those
    /// ended.
    pub async fn end_user_sessions(
        &mut self,
        user_id: &str,
        reason: EndReason,
    ) -> Result<Vec<EndedSession>, DbErr> {
        let mut ended = Vec::new();
        for s in sessions::not_ended(self.conn(), Some(user_id)).await? {
            if let Some(e) = self.end_session(&s.id, reason).await? {
                ended.push(e);
            }
        }
        Ok(ended)
    }
}

/// End session `sid` (see [`Transaction::end_session`]).
pub async fn end_session(
    rev: &Revoker<'_>,
    sid: &str,
    reason: EndReason,
) -> Result<Option<EndedSession>, DbErr> {
    let mut tx = Transaction::begin(*rev).await?;
    let ended = tx.end_session(sid, reason).await?;
    tx.commit().await?;
    Ok(ended)
}

/// End every session of a user (the account page's "sign out everywhere";
/// tokens outside those sessions are untouched, unlike
/// [`logout_everywhere`](super::logout_everywhere)).
pub async fn end_user_sessions(
    rev: &Revoker<'_>,
    user_id: &str,
    reason: EndReason,
) -> Result<Vec<EndedSession>, DbErr> {
    let mut tx = Transaction::begin(*rev).await?;
    let ended = tx.end_user_sessions(user_id, reason).await?;
    tx.commit().await?;
    Ok(ended)
}

/// The expiry sweep: end up to `limit` sessions whose idle or absolute
/// lifetime ran out, each through [`end_session`] (so their relying parties
/// get a logout token), each in its own transaction. Several instances may
/// sweep at once: each session ends once. Returns how many ended.
pub async fn end_expired_sessions(rev: &Revoker<'_>, limit: u64) -> Result<usize, DbErr> {
    let mut ended = 0;
    for s in sessions::expired(rev.db, rev.now, limit).await? {
        let reason = if s.absolute_expires_at <= rev.now {
            EndReason::AbsoluteTimeout
        } else {
            EndReason::IdleTimeout
        };
        if end_session(rev, &s.id, reason).await?.is_some() {
            ended += 1;
        }
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_policy_decides_which_grants_survive() {
        use LogoutRevokes::{Nothing, SessionTokens};
        let offline = Scope::from_stored("openid offline_access");
        let online = Scope::from_stored("openid profile");
        let logout = EndReason::RpInitiated;
        assert!(!grant_survives(SessionTokens, false, &offline, logout));
        assert!(grant_survives(SessionTokens, true, &offline, logout));
        assert!(!grant_survives(SessionTokens, true, &online, logout));
        assert!(grant_survives(Nothing, false, &online, logout));
        // Expiry keeps offline access, whatever the client chose for logout.
        assert!(grant_survives(
            SessionTokens,
            false,
            &offline,
            EndReason::IdleTimeout
        ));
        assert!(!grant_survives(
            SessionTokens,
            false,
            &online,
            EndReason::AbsoluteTimeout
        ));
    }
}
