//! Background work of a running server: the signing key schedule, picking up
//! keys rotated elsewhere, ending sessions that ran out of time, and pruning
//! expired rows. Every instance runs it; each step is idempotent.

use std::time::Duration;

use crate::keys::{Lifecycle, Schedule};
use crate::state::AppState;
use crate::store::interactions;

/// How often expired rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Sessions the expiry sweep ends per round (the rest wait for the next).
const SWEEP_BATCH: u64 = 200;
/// One-time identifiers deleted per statement, and statements per round: a
/// round removes at most 20 000 (more wait for the next round), and no
/// single statement holds the write lock for long.
const REPLAY_PRUNE_BATCH: u64 = 1000;
/// Expired device codes removed per prune round (RFC 8628: they live
/// minutes, so one round a minute keeps up with any realistic rate).
const DEVICE_CODE_PRUNE_BATCH: u64 = 1000;
const REPLAY_PRUNE_ROUNDS: usize = 20;

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Start-up already brought the keys up to date: first tick after one
        // period.
        let period = state.config.keys.refresh_interval;
        let mut key_tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        key_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune_tick =
            tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_EVERY, PRUNE_EVERY);
        let mut sweep_tick = tokio::time::interval(state.config.revocation.session_sweep_interval);
        sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = key_tick.tick() => {
                    if let Err(e) = refresh_keys(&state).await {
                        tracing::warn!(error = format!("{e:#}"), "signing key maintenance failed; retrying next round");
                    }
                    continue;
                }
                _ = sweep_tick.tick() => {
                    // Expired sessions end like any other: their relying
                    // parties get a back-channel logout token.
                    match crate::revocation::end_expired_sessions(&state.revoker(), SWEEP_BATCH).await {
                        Ok(n) if n > 0 => tracing::debug!(ended = n, "expired sessions ended"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "ending expired sessions failed"),
                    }
                    continue;
                }
                _ = prune_tick.tick() => {}
            }
            {
                state.throttle.prune();
                // The per-address budgets forget addresses whose budget is
                // full again, so their memory follows recent traffic only.
                state.interaction_budget.forget_idle();
                match interactions::prune(&state.db, state.now()).await {
                    Ok(n) if n > 0 => tracing::debug!(pruned = n, "expired interactions removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning interactions failed"),
                }
                match crate::store::pushed_requests::prune(&state.db, state.now()).await {
                    Ok(n) if n > 0 => {
                        tracing::debug!(pruned = n, "expired pushed requests removed")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning pushed requests failed"),
                }
                state.user_code_attempts.forget_idle();
                match crate::store::device_codes::prune(
                    &state.db,
                    state.now(),
                    DEVICE_CODE_PRUNE_BATCH,
                )
                .await
                {
                    Ok(n) if n > 0 => tracing::debug!(pruned = n, "expired device codes removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning device codes failed"),
                }
                let skew = state.config.keys.clock_skew.as_secs() as i64;
                let now = state.now();
                // Events keep their clock skew margin in `retain_until`.
                let retention = state.config.revocation.event_retention;
                match crate::revocation::prune_log(&state.db, now, retention).await {
                    Ok(n) if n > 0 => tracing::debug!(pruned = n, "revocation events removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning the revocation log failed"),
                }
                match crate::audit::prune(&state.db, now, state.config.audit.retention).await {
                    Ok(n) if n > 0 => tracing::debug!(pruned = n, "old audit events removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning audit events failed"),
                }
                // Ended sessions stay listed a week (account page, CLI).
                if let Err(e) =
                    crate::store::sessions::prune_ended(&state.db, now - 7 * 24 * 3600).await
                {
                    tracing::warn!(error = %e, "pruning ended sessions failed");
                }
                match prune_replay_guard(&state, now).await {
                    Ok(n) if n > 0 => {
                        tracing::debug!(pruned = n, "expired one-time identifiers removed")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning one-time identifiers failed"),
                }
                match crate::store::grants::prune_expired(&state.db, now - skew).await {
                    Ok(n) if n > 0 => {
                        tracing::debug!(pruned = n, "expired codes and tokens removed")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning expired codes and tokens failed"),
                }
            }
        }
    })
}

/// Remove one-time identifiers (`jti`s) past their expiry, in bounded
/// batches.
async fn prune_replay_guard(state: &AppState, now: i64) -> Result<u64, crate::store::StoreError> {
    let mut pruned = 0;
    for _ in 0..REPLAY_PRUNE_ROUNDS {
        let n = crate::store::replay::prune(&state.db, now, REPLAY_PRUNE_BATCH).await?;
        pruned += n;
        if n < REPLAY_PRUNE_BATCH {
            break;
        }
    }
    Ok(pruned)
}

/// One round of key maintenance, run by every instance every
/// `keys.refresh_interval`: create successors and remove expired keys as
/// scheduled (work another instance did first is skipped), then load the keys
/// as the database has them, whoever changed them.
pub async fn refresh_keys(state: &AppState) -> anyhow::Result<()> {
    let enabled = state.config.keys.enabled_algorithms();
    let lifecycle = Lifecycle {
        master_keys: state.keys.master_keys(),
        rng: state.rng.as_ref(),
        schedule: Schedule::load(&state.config, &state.db).await?,
        enabled: &enabled,
    };
    let changes = lifecycle.maintain(&state.db, state.now()).await;
    // Reload even when this instance's part failed: others may have done it.
    state.keys.reload(&state.db).await?;
    for change in changes? {
        tracing::info!(%change, "signing keys");
    }
    Ok(())
}
