//! Ending an SSO session: the one path every logout takes (RP-initiated, the
//! account page, the CLI, "log out everywhere", a different user signing in
//! on the same browser). In one transaction it marks the session ended,
//! applies each client's `logout_revokes` policy to the grants made in it,
//! and queues a Back-Channel Logout notification for each participating
//! client that registered a backchannel_logout_uri.

use sea_orm::{ConnectionTrait, DbErr, TransactionSession, TransactionTrait};

use crate::logout::EndedSession;
use crate::random::{Random, identifier};
use crate::scope::Scope;
use crate::store::clients::{self, Client, LogoutRevokes};
use crate::store::grants::{self, Grant};
use crate::store::logout_outbox::{self, NewNotification};
use crate::store::sessions;

/// Why a session ended (logged, and kept with each notification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// RP-Initiated Logout at the end_session_endpoint.
    RpInitiated,
    /// The user, on the account page.
    Account,
    /// An administrator (`signoff session revoke`).
    Admin,
    /// `signoff user logout-everywhere`.
    LogoutEverywhere,
    /// Another user signed in on the same browser.
    Replaced,
}

impl EndReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            EndReason::RpInitiated => "rp_initiated",
            EndReason::Account => "account",
            EndReason::Admin => "admin",
            EndReason::LogoutEverywhere => "logout_everywhere",
            EndReason::Replaced => "replaced",
        }
    }
}

/// Whether a grant made in an ending session outlives it, per the client's
/// policy: `nothing` keeps everything; `session_tokens` revokes, except
/// offline grants of a client that opted to keep them.
pub fn grant_survives(
    policy: LogoutRevokes,
    keep_offline_tokens: bool,
    grant_scope: &Scope,
) -> bool {
    match policy {
        LogoutRevokes::Nothing => true,
        LogoutRevokes::SessionTokens => {
            keep_offline_tokens && grant_scope.contains("offline_access")
        }
    }
}

/// End session `sid`. Returns `None` when it does not exist or had already
/// ended (a second logout notifies nobody twice).
pub async fn end_session<C>(
    db: &C,
    rng: &dyn Random,
    sid: &str,
    reason: EndReason,
    now: i64,
) -> Result<Option<EndedSession>, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    // The conditional UPDATE is the arbiter: of two concurrent logouts only
    // one ends the session and queues notifications.
    if !sessions::end(&txn, sid, now).await? {
        return Ok(None);
    }
    let Some(session) = sessions::find(&txn, sid).await? else {
        return Ok(None);
    };
    let mut participants = Vec::new();
    for client_id in sessions::clients(&txn, sid).await? {
        if let Some(client) = clients::find(&txn, &client_id).await? {
            participants.push(client);
        }
    }
    for grant in grants::of_session(&txn, sid).await? {
        apply_policy(&txn, &participants, &grant, now).await?;
    }
    for client in &participants {
        // Back-Channel Logout 1.0 §2.5: every RP that took part in the
        // session and registered a backchannel_logout_uri is told.
        let Some(uri) = client.backchannel_logout_uri.as_deref() else {
            continue;
        };
        logout_outbox::enqueue(
            &txn,
            NewNotification {
                id: &identifier(rng),
                client_id: &client.id,
                uri,
                sub: &session.user_id,
                sid,
                reason: reason.as_str(),
                now,
            },
        )
        .await?;
    }
    txn.commit().await?;
    let client_ids: Vec<&str> = participants.iter().map(|c| c.id.as_str()).collect();
    tracing::info!(
        sid,
        sub = %session.user_id,
        reason = reason.as_str(),
        clients = ?client_ids,
        "session ended"
    );
    Ok(Some(EndedSession {
        session,
        clients: participants,
    }))
}

async fn apply_policy(
    txn: &impl ConnectionTrait,
    participants: &[Client],
    grant: &Grant,
    now: i64,
) -> Result<(), DbErr> {
    let client = participants.iter().find(|c| c.id == grant.client_id);
    let client = match client {
        Some(c) => Some(c.clone()),
        None => clients::find(txn, &grant.client_id).await?,
    };
    // A grant of a client that no longer exists is revoked.
    let scope = Scope::from_stored(&grant.scope);
    let survives =
        client.is_some_and(|c| grant_survives(c.logout_revokes, c.keep_offline_tokens, &scope));
    if survives {
        grants::detach_from_session(txn, &grant.id).await
    } else {
        grants::revoke_grant(txn, &grant.id, now).await
    }
}

/// End every session of a user that has not ended yet; returns those ended.
pub async fn end_all_of_user<C>(
    db: &C,
    rng: &dyn Random,
    user_id: &str,
    reason: EndReason,
    now: i64,
) -> Result<Vec<EndedSession>, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let mut ended = Vec::new();
    for s in sessions::not_ended(db, Some(user_id)).await? {
        if let Some(e) = end_session(db, rng, &s.id, reason, now).await? {
            ended.push(e);
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
        assert!(!grant_survives(SessionTokens, false, &offline));
        assert!(grant_survives(SessionTokens, true, &offline));
        assert!(!grant_survives(
            SessionTokens,
            true,
            &Scope::from_stored("openid profile")
        ));
        assert!(grant_survives(
            Nothing,
            false,
            &Scope::from_stored("openid")
        ));
    }
}
