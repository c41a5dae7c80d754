//! The access log and request ids. Every request runs in a `request` span
//! carrying its id, method and matched route (never the raw URI: an
//! `/authorize` query holds `state`, `nonce` and `login_hint`, a `/logout`
//! query an `id_token_hint`); an authenticated client's id is recorded on the
//! span when known. One `access` event per request adds status and latency.
//!
//! `X-Request-Id`: a caller's (or a proxy's) id is kept when it is 1-64
//! characters of `[A-Za-z0-9._:-]`; otherwise one is generated. It is
//! echoed in the response, so an operator can find a user's request.

use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use siphasher::sip128::{Hasher128, SipHasher13};
use tracing::Instrument;

use crate::random::Random;

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

/// The access log's own state: where generated request ids come from.
#[derive(Clone)]
pub struct AccessLog(Arc<RequestIds>);

impl AccessLog {
    pub fn new(rng: &dyn Random) -> Self {
        let mut key = [0u8; 16];
        rng.fill(&mut key);
        Self(Arc::new(RequestIds {
            key,
            next: AtomicU64::new(0),
        }))
    }
}

/// Ids for requests that bring none: SipHash-1-3 (128-bit output) of a
/// per-process counter, keyed once from the injected RNG. Distinct for
/// every request of a process (a counter under one key), unguessable and
/// uncorrelated across processes without the key, and no system call per
/// request: OpenSSL's `RAND_bytes` calls `getpid` on every draw to notice a
/// fork, which cost more than the rest of a small request (docs/design.md,
/// "The HTTP stack's cost per request"). Request ids correlate log lines;
/// they are not secrets.
struct RequestIds {
    key: [u8; 16],
    next: AtomicU64,
}

impl RequestIds {
    fn generate(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut hasher = SipHasher13::new_with_key(&self.key);
        hasher.write_u64(n);
        let id = URL_SAFE_NO_PAD.encode(hasher.finish128().as_bytes());
        // base64url is always a valid header value.
        HeaderValue::try_from(id).unwrap_or(HeaderValue::from_static("-"))
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`) around every route.
pub async fn access_log(State(ids): State<AccessLog>, mut req: Request, next: Next) -> Response {
    // A kept id is the caller's header value itself (no copy).
    let id = match req.headers().get(&REQUEST_ID) {
        Some(given) if acceptable(given).is_some() => given.clone(),
        _ => ids.0.generate(),
    };
    // Routes are the table's patterns, or "-" for the not-found fallback.
    // `MatchedPath` is reference-counted: cloning it copies no string.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("-", MatchedPath::as_str);
    let method = req.method().clone();
    let client = ClientSlot::default();
    req.extensions_mut().insert(client.clone());
    // Both checked and built to ASCII above.
    let id_str = id.to_str().unwrap_or("-");
    let span = tracing::info_span!(
        "request",
        request_id = %id_str,
        method = %method,
        route = %route,
        client_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    crate::metrics::request(method.as_str(), route, status, took);
    // Flat fields (not nested in the span) for log collectors.
    tracing::info!(target: "access", request_id = %id_str, method = %method, route = %route,
        status, latency_ms = took.as_secs_f64() * 1000.0,
        client_id = client.0.get().map(String::as_str), "request");
    response.headers_mut().insert(REQUEST_ID, id);
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
