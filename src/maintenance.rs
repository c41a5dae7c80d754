//! Background work of a running server: picking up keys rotated elsewhere and
//! pruning expired rows. Every instance runs it; each step is idempotent.

use std::time::Duration;

use crate::state::AppState;
use crate::store::interactions;

/// How often keys are re-read: a rotation done by the CLI or another
/// instance reaches this one within this time.
pub const KEY_REFRESH: Duration = Duration::from_secs(5);

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEY_REFRESH);
        let mut rounds: u64 = 0;
        loop {
            tick.tick().await;
            rounds += 1;
            if let Err(e) = state.keys.reload(&state.db).await {
                tracing::warn!(error = format!("{e:#}"), "reloading signing keys failed");
            }
            if rounds % 12 == 0 {
                match interactions::prune(&state.db, state.now()).await {
                    Ok(n) if n > 0 => tracing::debug!(pruned = n, "expired interactions removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning interactions failed"),
                }
                // Denylisted JWTs that have expired anyway need no entry.
                if let Err(e) = crate::store::revocations::prune(&state.db, state.now()).await {
                    tracing::warn!(error = %e, "pruning the jti denylist failed");
                }
            }
        }
    })
}
