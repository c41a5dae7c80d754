//! Prometheus metrics (`metrics` facade, rendered by
//! `metrics-exporter-prometheus`). Served on a listener of its own,
//! `metrics_bind`, off unless set: the counts are not secret, but an
//! endpoint on the public listener would be scraped by anyone by accident.
//!
//! Counters are recorded where things happen (one call each, below); the
//! gauges that describe state (argon2 slots, database pool, revocation lag)
//! are read when scraped.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets (seconds): argon2-bound requests take tens of ms.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The longest a scrape waits for the database (revocation lag).
const DB_TIMEOUT: Duration = Duration::from_secs(2);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the process-wide recorder (once). Until it is installed, every
/// recording below is a no-op.
pub fn install() -> anyhow::Result<&'static PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .install_recorder()?;
    Ok(HANDLE.get_or_init(|| handle))
}

/// The metrics listener's routes: `GET /metrics` only.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(state)
}

async fn render(State(state): State<AppState>) -> Response {
    let Some(handle) = HANDLE.get() else {
        return (StatusCode::NOT_FOUND, "metrics are not enabled").into_response();
    };
    let (busy, waiting) = state.passwords.load();
    gauge!("signoff_argon2_busy").set(busy as f64);
    gauge!("signoff_argon2_waiting").set(waiting as f64);
    if let Some((size, idle)) = crate::store::pool_usage(&state.db) {
        gauge!("signoff_db_pool_connections").set(size as f64);
        gauge!("signoff_db_pool_idle").set(idle as f64);
    }
    if let Ok(Ok(lag)) = tokio::time::timeout(DB_TIMEOUT, state.revocations.lag()).await {
        gauge!("signoff_revocation_lag_events").set(lag as f64);
    }
    gauge!("signoff_revocation_view_age_seconds")
        .set(state.revocations.since_synced().as_secs_f64());
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// One HTTP request answered (by matched route, never the raw path).
pub fn request(method: &str, route: &str, status: u16, took: Duration) {
    // Not installed: nothing would be recorded, so build no labels.
    if HANDLE.get().is_none() {
        return;
    }
    // HTTP allows any token as a method: an unknown one is "other", so a
    // client cannot create series without bound.
    let method = match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let (requests, duration) = request_handles(method, route, status);
    requests.increment(1);
    duration.record(took.as_secs_f64());
}

/// The handles of one (method, route, status) series, kept so a request
/// neither allocates its labels nor looks its series up in the recorder's
/// registry. Bounded: routes are the route table's patterns (or "-"),
/// methods the eight above, statuses three digits.
type RequestHandles = (Counter, Histogram);
type HandleMap = HashMap<Box<str>, HashMap<(&'static str, u16), RequestHandles>>;
static REQUEST_HANDLES: OnceLock<RwLock<HandleMap>> = OnceLock::new();

fn request_handles(method: &'static str, route: &str, status: u16) -> RequestHandles {
    let cache = REQUEST_HANDLES.get_or_init(RwLock::default);
    if let Some(found) = cache
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(route)
        .and_then(|by_status| by_status.get(&(method, status)))
    {
        return found.clone();
    }
    let route_label = route.to_owned();
    let handles = (
        counter!("signoff_http_requests_total", "method" => method,
            "route" => route_label.clone(), "status" => status.to_string()),
        histogram!("signoff_http_request_duration_seconds", "method" => method,
            "route" => route_label),
    );
    cache
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(route.into())
        .or_default()
        .insert((method, status), handles.clone());
    handles
}

/// A token endpoint success.
pub fn token_issued(grant: &'static str, format: &'static str) {
    counter!("signoff_tokens_issued_total", "grant_type" => grant, "format" => format).increment(1);
}

/// An introspection answer: `active` or `inactive`.
pub fn introspection(result: &'static str) {
    counter!("signoff_introspections_total", "result" => result).increment(1);
}

/// A revocation event committed (`kind`, and its reason when it has one).
pub fn revocation(kind: &'static str, reason: Option<&str>) {
    counter!("signoff_revocations_total", "kind" => kind,
        "reason" => reason.unwrap_or("").to_owned())
    .increment(1);
}

/// A back-channel logout attempt: `delivered`, `retry` or `failed`.
pub fn backchannel(outcome: &'static str) {
    counter!("signoff_backchannel_deliveries_total", "outcome" => outcome).increment(1);
}

/// A password check at sign-in (`success`, `failure`, `throttled`, `busy`).
pub fn sign_in(outcome: &'static str) {
    counter!("signoff_sign_ins_total", "outcome" => outcome).increment(1);
}

/// A connection closed on arrival (`per_client_cap`).
pub fn connection_refused(reason: &'static str) {
    counter!("signoff_connections_refused_total", "reason" => reason).increment(1);
}

/// A client authentication refused (`failure`, `throttled`).
pub fn client_auth_refused(outcome: &'static str) {
    counter!("signoff_client_auth_refused_total", "outcome" => outcome).increment(1);
}
