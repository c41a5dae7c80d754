//! The audit trail: who did what to whom, from where, and how it ended,
//! kept in the database (`audit_events`) for `audit.retention` and also
//! emitted as a `tracing` event with target `audit`.
//!
//! Written from three places: the password step of the sign-in pages
//! (success, failure, throttled), the revocation transaction (every revocation
//! event it commits: logouts by path, log out everywhere, token revocation,
//! disabling, new passwords, key revocation; written in the same
//! transaction), and the command line's other administrative actions
//! (clients added or changed, keys rotated). Consent is recorded by the
//! consent page.
//!
//! Never stored: a password, a secret, a token, or a username typed at
//! sign-in that names no user (it may be a password typed in the wrong field):
//! such attempts are recorded without a subject.

use std::net::IpAddr;

use sea_orm::ConnectionTrait;

use crate::revocation::{EndReason, Event, GrantReason, Kind};
use crate::store::audit::{self, NewAuditEvent};

/// Audit rows pruned per statement, and statements per round.
const PRUNE_BATCH: u64 = 1000;
const PRUNE_ROUNDS: usize = 20;

/// One audited action.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// `user`, `admin`, `client`, `policy`.
    pub actor: &'static str,
    pub action: &'static str,
    /// The user id (`sub`), client id or key id acted upon.
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub address: Option<IpAddr>,
    /// `success`, `failure`, `throttled`, `busy`, `granted`, `denied`.
    pub outcome: &'static str,
    pub detail: Option<String>,
}

/// Record `entry` at `now`. An audit row that cannot be written is logged,
/// and the action it describes stands.
pub async fn record(db: &impl ConnectionTrait, now: i64, entry: Entry) {
    if let Err(e) = write(db, now, entry).await {
        tracing::warn!(error = %e, "writing an audit event failed");
    }
}

/// Record `entry` at `now`, failing with the database's error (inside a
/// transaction whose change the row describes).
pub async fn write(
    db: &impl ConnectionTrait,
    now: i64,
    entry: Entry,
) -> Result<(), sea_orm::DbErr> {
    tracing::info!(target: "audit", actor = entry.actor, action = entry.action,
        subject = entry.subject.as_deref(), client_id = entry.client_id.as_deref(),
        address = entry.address.map(|a| a.to_string()), outcome = entry.outcome,
        detail = entry.detail.as_deref(), "audit");
    audit::append(
        db,
        NewAuditEvent {
            time: now,
            actor: entry.actor.into(),
            action: entry.action.into(),
            subject: entry.subject,
            client_id: entry.client_id,
            address: entry.address.map(|a| a.to_string()),
            outcome: entry.outcome.into(),
            detail: entry.detail,
        },
    )
    .await
}

/// The audit entry of a revocation event, or `None` for the ones that are
/// consequences of another audited one or of time (a session that ran out,
/// the grants a logout ends).
pub fn of_revocation(e: &Event) -> Option<Entry> {
    let reason = e.reason.clone();
    let expired = [EndReason::IdleTimeout, EndReason::AbsoluteTimeout]
        .iter()
        .any(|r| reason.as_deref() == Some(r.as_str()));
    // A client change is audited by the command that made it, with what it
    // did (`client_added`, `client_updated`, `client_secret_rotated`).
    if !e.kind.is_revocation() {
        return None;
    }
    if e.kind == Kind::SessionEnded && expired {
        return None;
    }
    if e.kind == Kind::GrantRevoked && reason.as_deref() == Some(GrantReason::SessionEnded.as_str())
    {
        return None;
    }
    let subject = match e.kind {
        Kind::KeyRevoked => e.kid.clone(),
        Kind::ClientTokensVoided
        | Kind::ClientDisabled
        | Kind::ClientEnabled
        | Kind::ClientRemoved => e.client_id.clone(),
        _ => e.user_id.clone().or_else(|| e.client_id.clone()),
    };
    Some(Entry {
        actor: e.initiator.as_str(),
        action: e.kind.as_str(),
        subject,
        client_id: e.client_id.clone(),
        address: None,
        outcome: "success",
        detail: reason,
    })
}

/// Delete audit events older than `retention`, in bounded batches.
pub async fn prune(
    db: &impl ConnectionTrait,
    now: i64,
    retention: std::time::Duration,
) -> Result<u64, sea_orm::DbErr> {
    let before = now - retention.as_secs() as i64;
    let mut pruned = 0;
    for _ in 0..PRUNE_ROUNDS {
        let n = audit::prune(db, before, PRUNE_BATCH).await?;
        pruned += n;
        if n < PRUNE_BATCH {
            break;
        }
    }
    Ok(pruned)
}
