//! The access log and request ids. Every request runs in a `request` span
//! carrying its id, method and matched route (never the raw URI: an
//! `/authorize` query holds `state`, `nonce` and `login_hint`, a `/logout`
//! query an `id_token_hint`); an authenticated client's id is recorded on the
//! span when known. One `access` event per request adds status and latency.
//!
//! `X-Request-Id`: a caller's (or a proxy's) id is kept when it is 1-64
//! characters of `[A-Za-z0-9._:-]`; otherwise one is generated. It is
//! echoed in the response, so an operator can find a user's request.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::random::identifier;
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_ID_LEN: usize = 64;

fn acceptable(id: &HeaderValue) -> Option<&str> {
    let id = id.to_str().ok()?;
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then_some(id)
}

/// Middleware (`axum::middleware::from_fn_with_state`) around every route.
pub async fn access_log(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(acceptable)
        .map(str::to_owned)
        .unwrap_or_else(|| identifier(state.rng.as_ref()));
    // Routes are the table's patterns, or "-" for the not-found fallback.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("-", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let client = ClientSlot::default();
    req.extensions_mut().insert(client.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        client_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    crate::metrics::request(method.as_str(), &route, status, started.elapsed());
    // Flat fields (not nested in the span) for log collectors.
    tracing::info!(target: "access", request_id = %id, method = %method, route = %route,
        status, latency_ms, client_id = client.0.get().map(String::as_str), "request");
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Where a handler leaves the id of the client that authenticated on this
/// request, for the access log line.
#[derive(Clone, Default)]
pub struct ClientSlot(Arc<OnceLock<String>>);

/// Record the authenticated client on the current request's span and its
/// access log line.
pub fn record_client(slot: Option<&ClientSlot>, client_id: &str) {
    tracing::Span::current().record("client_id", client_id);
    if let Some(slot) = slot {
        let _ = slot.0.set(client_id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_request_ids_are_kept() {
        for ok in ["abc", "0f8e-12:ab.c_d", &"a".repeat(64)] {
            assert!(
                acceptable(&HeaderValue::from_str(ok).unwrap()).is_some(),
                "{ok}"
            );
        }
        for bad in ["", "a b", "a\"b", "x=1&state=s", &"a".repeat(65)] {
            assert!(
                acceptable(&HeaderValue::from_str(bad).unwrap()).is_none(),
                "{bad}"
            );
        }
    }
}
