//! Session and logout administration behind the command line
//! (`signoff session …`, `signoff logout-deliveries list`). Ending a session
//! here takes the same path as every other logout, so relying parties are
//! notified by the running servers' delivery workers.

use anyhow::bail;
use sea_orm::ConnectionTrait;

use crate::revocation::{self, EndReason, Revoker};
use crate::store::logout_outbox::{self, DELIVERED, FAILED, PENDING};
use crate::store::{sessions, users};

fn instant(t: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// `signoff session list [--user NAME]`: sessions that still count.
pub async fn list_sessions(
    db: &impl ConnectionTrait,
    username: Option<&str>,
    now: i64,
    json: bool,
) -> anyhow::Result<()> {
    let user_id = match username {
        None => None,
        Some(name) => match users::find_by_username(db, name).await? {
            Some(u) => Some(u.id),
            None => bail!("no user {name}"),
        },
    };
    let mut listed = Vec::new();
    for s in sessions::not_ended(db, user_id.as_deref()).await? {
        if !s.is_active(now) {
            continue;
        }
        let username = users::find(db, &s.user_id)
            .await?
            .map(|u| u.username)
            .unwrap_or_else(|| "-".into());
        let apps = sessions::clients(db, &s.id).await?;
        if json {
            listed.push(serde_json::json!({
                "sid": s.id,
                "username": username,
                "last_seen": instant(s.last_seen_at),
                "ip": s.ip,
                "clients": apps,
                "user_agent": s.user_agent,
            }));
            continue;
        }
        println!(
            "{}\t{}\tlast_seen={}\tip={}\tapps={}\tdevice={}",
            s.id,
            username,
            instant(s.last_seen_at),
            s.ip.as_deref().unwrap_or("-"),
            if apps.is_empty() {
                "-".into()
            } else {
                apps.join(",")
            },
            s.user_agent.as_deref().unwrap_or("-"),
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
    }
    Ok(())
}

/// `signoff session revoke SID`.
pub async fn revoke_session(rev: &Revoker<'_>, sid: &str) -> anyhow::Result<()> {
    match revocation::end_session(rev, sid, EndReason::Admin).await? {
        Some(ended) => {
            let notified = ended
                .clients
                .iter()
                .filter(|c| c.backchannel_logout_uri.is_some())
                .count();
            println!(
                "session {sid} ended; {notified} relying part{} queued for back-channel logout",
                if notified == 1 { "y" } else { "ies" }
            );
            Ok(())
        }
        None => bail!("no session {sid}, or it has already ended"),
    }
}

/// `signoff logout-deliveries list [--status S]`.
pub async fn list_deliveries(
    db: &impl ConnectionTrait,
    status: Option<&str>,
    limit: u64,
    json: bool,
) -> anyhow::Result<()> {
    if let Some(s) = status
        && ![PENDING, DELIVERED, FAILED].contains(&s)
    {
        bail!("status must be {PENDING}, {DELIVERED} or {FAILED}");
    }
    let all = logout_outbox::list(db, status, limit).await?;
    if json {
        let listed: Vec<serde_json::Value> = all
            .iter()
            .map(|n| {
                serde_json::json!({
                    "jti": n.id,
                    "status": n.status,
                    "reason": n.reason,
                    "client_id": n.client_id,
                    "sid": n.sid,
                    "attempts": n.attempts,
                    "created": instant(n.created_at),
                    "delivered": n.delivered_at.map(instant),
                    "next_attempt": instant(n.next_attempt_at),
                    "last_error": n.last_error,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    for n in all {
        println!(
            "{}\t{}\t{}\tclient={}\tsid={}\tattempts={}\tcreated={}\t{}\t{}",
            n.id,
            n.status,
            n.reason,
            n.client_id,
            n.sid,
            n.attempts,
            instant(n.created_at),
            match (n.status.as_str(), n.delivered_at) {
                (DELIVERED, Some(t)) => format!("delivered={}", instant(t)),
                (PENDING, _) => format!("next_attempt={}", instant(n.next_attempt_at)),
                _ => "-".into(),
            },
            n.last_error
                .as_deref()
                .map(|e| format!("error={e}"))
                .unwrap_or_default(),
        );
    }
    Ok(())
}
