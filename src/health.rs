//! Probes for orchestrators and load balancers: `/healthz` says the process
//! answers; `/readyz` says this instance can serve protocol requests
//! correctly now (database reachable, schema current, signing keys loaded,
//! revocation view following the log). Neither reveals anything secret.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

/// The longest a readiness probe waits for the database.
const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// The view counts as following the log while it has read it within this
/// many poll intervals (and at least [`MIN_STALE_AFTER`]).
const STALE_POLLS: u32 = 20;
const MIN_STALE_AFTER: Duration = Duration::from_secs(5);

#[derive(Serialize)]
struct Probe {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Revocation events committed to the log and not applied here yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_lag: Option<i64>,
}

fn answer(status: StatusCode, probe: Probe) -> Response {
    let mut response = (status, Json(probe)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /healthz`: the process is up and serving HTTP (plain `ok`).
/// Touches nothing else, so a database outage does not get healthy
/// instances restarted.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when this instance can serve, else 503 with the first
/// reason it cannot.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match readiness(&state).await {
        Ok(lag) => answer(
            StatusCode::OK,
            Probe {
                status: "ready",
                reason: None,
                revocation_lag: Some(lag),
            },
        ),
        Err(reason) => {
            tracing::debug!(%reason, "not ready");
            let mut response = answer(
                StatusCode::SERVICE_UNAVAILABLE,
                Probe {
                    status: "unavailable",
                    reason: Some(reason),
                    revocation_lag: None,
                },
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::error::DB_RETRY_AFTER),
            );
            response
        }
    }
}

/// The revocation lag when ready, else why not.
async fn readiness(state: &AppState) -> Result<i64, String> {
    within("ping", state.db.ping()).await?;
    let pending = within("migrations", crate::store::pending_migrations(&state.db)).await?;
    if pending > 0 {
        return Err(format!("{pending} database migrations not applied"));
    }
    let now = state.now();
    for alg in state.config.keys.enabled_algorithms() {
        if state.keys.signer(alg, now).is_none() {
            return Err(format!("no {alg} signing key loaded"));
        }
    }
    let stale_after = (state.config.revocation.poll_interval * STALE_POLLS).max(MIN_STALE_AFTER);
    let since = state.revocations.since_synced();
    if since > stale_after {
        return Err(format!("revocation log not read for {}s", since.as_secs()));
    }
    within("revocation log", state.revocations.lag()).await
}

/// A database step, at most [`DB_TIMEOUT`].
async fn within<T>(
    what: &str,
    step: impl Future<Output = Result<T, sea_orm::DbErr>>,
) -> Result<T, String> {
    match tokio::time::timeout(DB_TIMEOUT, step).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if crate::store::is_unavailable(&e) => {
            Err(format!("database unreachable ({what})"))
        }
        Ok(Err(_)) => Err(format!("database error ({what})")),
        Err(_) => Err(format!(
            "database did not answer within {}s ({what})",
            DB_TIMEOUT.as_secs()
        )),
    }
}
