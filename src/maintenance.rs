//! Background work of a running server: the signing key schedule, picking up
//! keys rotated elsewhere, ending sessions that ran out of time, and pruning
//! expired rows. Every instance runs it; each step is idempotent.

use std::time::Duration;

use crate::keys::{Lifecycle, Schedule};
use crate::state::AppState;
use sea_orm::DbErr;

use crate::store::{grants, interactions, logout_outbox, pushed_requests, replay, sessions};

/// How often expired rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Sessions the expiry sweep ends per round (the rest wait for the next).
const SWEEP_BATCH: u64 = 200;
/// Rows deleted per statement, and statements per table and round: a round
/// removes at most 20 000 rows of a table (more wait for the next round), and
/// no single statement holds the write lock for long.
const BATCH: u64 = 1000;
const ROUNDS: usize = 20;
/// Ended sessions stay listed a week (account page, CLI).
const ENDED_SESSIONS_KEPT: i64 = 7 * 24 * 3600;
/// A grant is created with its code in one transaction; the margin only
/// keeps the prune away from rows of requests in flight.
const EMPTY_GRANT_GRACE: i64 = 3600;
/// Failed back-channel logout deliveries stay for an operator to see for 30
/// days.
const FAILED_DELIVERIES_KEPT: i64 = 30 * 24 * 3600;

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
        // Where the empty-grant prune goes on next round.
        let mut grants_after = None;
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
            state.throttle.prune();
            // The per-address budgets forget addresses whose budget is
            // full again, so their memory follows recent traffic only.
            state.interaction_budget.forget_idle();
            state.user_code_attempts.forget_idle();
            prune_round(&state, state.now(), &mut grants_after).await;
        }
    })
}

/// Delete what no request can use any more, from every table that grows
/// (docs/design.md, "Pruning"): each in bounded batches through an index.
/// Failures are logged and retried next round. Empty grants are looked for
/// from the first grant on.
pub async fn prune_tables(state: &AppState, now: i64) {
    prune_round(state, now, &mut None).await
}

/// [`prune_tables`], looking for empty grants after `grants_after` and
/// leaving there where the next round goes on.
async fn prune_round(state: &AppState, now: i64, grants_after: &mut Option<String>) {
    let db = &state.db;
    let skew = state.config.keys.clock_skew.as_secs() as i64;
    // Events keep their clock skew margin in `retain_until`.
    let retention = state.config.revocation.event_retention;
    report(
        "expired interactions",
        batches(|| interactions::prune(db, now, BATCH)).await,
    );
    report(
        "expired device codes",
        batches(|| crate::store::device_codes::prune(db, now, BATCH)).await,
    );
    report(
        "expired pushed requests",
        batches(|| pushed_requests::prune(db, now, BATCH)).await,
    );
    report(
        "revocation events past retention",
        crate::revocation::prune_log(db, now, retention).await,
    );
    report(
        "audit events past retention",
        crate::audit::prune(db, now, state.config.audit.retention).await,
    );
    // Ended sessions stay listed a week (account page, CLI).
    report(
        "ended sessions",
        batches(|| sessions::prune_ended(db, now - ENDED_SESSIONS_KEPT)).await,
    );
    report(
        "expired one-time identifiers",
        batches(|| replay::prune(db, now, BATCH)).await,
    );
    report(
        "expired codes and tokens",
        batches(|| grants::prune_expired(db, now - skew)).await,
    );
    // After the tokens: a grant goes once nothing is left under it.
    report(
        "empty grants",
        empty_grants(db, now - skew - EMPTY_GRANT_GRACE, grants_after).await,
    );
    report(
        "failed back-channel deliveries past retention",
        batches(|| logout_outbox::prune_failed(db, now - FAILED_DELIVERIES_KEPT, BATCH)).await,
    );
}

/// Repeat one bounded prune step until it finds nothing or [`ROUNDS`] ran
/// (a backlog is worked off over several rounds, not in one burst).
async fn batches<F, Fut>(mut step: F) -> Result<u64, DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, DbErr>>,
{
    let mut pruned = 0;
    for _ in 0..ROUNDS {
        let n = step().await?;
        pruned += n;
        if n == 0 {
            break;
        }
    }
    Ok(pruned)
}

/// Look for empty grants in at most [`ROUNDS`] windows of
/// `grants::PRUNE_WINDOW` grants from `after` on, which is left where the
/// next round goes on (`None` once the last grant was examined). A live
/// grant is never deleted, so a pass over all of them takes
/// grants / (ROUNDS × window) rounds: bounded work per round, whatever the
/// table's size.
async fn empty_grants(
    db: &sea_orm::DatabaseConnection,
    before: i64,
    after: &mut Option<String>,
) -> Result<u64, DbErr> {
    let mut pruned = 0;
    for _ in 0..ROUNDS {
        let (n, next) = grants::prune_empty(db, before, after.as_deref()).await?;
        pruned += n;
        *after = next;
        if after.is_none() {
            break;
        }
    }
    Ok(pruned)
}

fn report(what: &str, result: Result<u64, DbErr>) {
    match result {
        Ok(n) if n > 0 => tracing::debug!(pruned = n, what, "pruned"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, what, "pruning failed; retrying next round"),
    }
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
