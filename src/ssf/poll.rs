//! Poll-based delivery (RFC 8936) with long polling: the receiver POSTs
//! acknowledgements and errors for what it got, and is answered with the
//! SETs not yet acknowledged. With `returnImmediately: false` and nothing
//! to send, the request is held until the revocation view applies a new
//! event (or a verification SET is queued here), or `ssf.long_poll_timeout`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::POLL;
use super::auth::{Need, receiver_and_scope};
use super::error::SsfError;
use super::feed;
use super::streams::owned_stream;
use crate::http::headers::no_store;
use crate::state::AppState;

/// Most acknowledgements and errors one request may carry.
const MAX_ACKS: usize = 10_000;
/// Longest `jti` accepted in `ack` / `setErrs`.
const MAX_JTI: usize = 256;

/// RFC 8936 §2.4 request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PollRequest {
    max_events: Option<u64>,
    return_immediately: Option<bool>,
    ack: Vec<String>,
    set_errs: BTreeMap<String, SetErr>,
}

/// RFC 8936 §2.4.4 / RFC 8935 §2.3: an error the receiver reports.
#[derive(Debug, Deserialize)]
struct SetErr {
    err: String,
    #[serde(default)]
    description: Option<String>,
}

pub async fn poll(
    State(state): State<AppState>,
    Path(stream_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, &stream_id, query.as_deref(), &headers, &body).await {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => e.into_response(),
    }
}

fn parse(body: &Bytes) -> Result<PollRequest, SsfError> {
    // RFC 8936 §2.4: an empty body is a poll with every default.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PollRequest::default());
    }
    let req: PollRequest = serde_json::from_slice(body)
        .map_err(|e| SsfError::BadRequest(format!("malformed poll request: {e}").into()))?;
    if req.ack.len() + req.set_errs.len() > MAX_ACKS {
        return Err(SsfError::BadRequest("too many acknowledgements".into()));
    }
    if req
        .ack
        .iter()
        .chain(req.set_errs.keys())
        .any(|j| j.is_empty() || j.len() > MAX_JTI)
    {
        return Err(SsfError::BadRequest("a jti is empty or too long".into()));
    }
    Ok(req)
}

/// `setErrs` entries logged one by one per poll; the rest are counted.
const LOGGED_SET_ERRS: usize = 10;

async fn handle(
    state: &AppState,
    stream_id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, SsfError> {
    let (client_id, manage) = receiver_and_scope(state, headers, query, Need::Read).await?;
    let req = parse(body)?;
    // Acknowledging moves the stream on for every reader of it: a change,
    // so it needs the scope that changes streams (`ssf.read` only reads).
    let acknowledges = !req.ack.is_empty() || !req.set_errs.is_empty();
    if acknowledges && !manage {
        return Err(SsfError::Forbidden(
            "acknowledging (ack, setErrs) needs scope ssf.manage".into(),
        ));
    }
    let row = owned_stream(state, &client_id, stream_id).await?;
    if row.delivery_method != POLL {
        // RFC 8936 §2: only poll streams have a poll endpoint.
        return Err(SsfError::NotFound);
    }
    // A few lines per poll, each cut short: the receiver writes these.
    for (jti, e) in req.set_errs.iter().take(LOGGED_SET_ERRS) {
        let clip = |t: &str| t.chars().take(200).collect::<String>();
        tracing::warn!(stream_id, jti = %clip(jti), err = %clip(&e.err),
            description = %clip(e.description.as_deref().unwrap_or("")), "receiver refused a SET");
    }
    if req.set_errs.len() > LOGGED_SET_ERRS {
        tracing::warn!(
            stream_id,
            count = req.set_errs.len(),
            "receiver refused more SETs"
        );
    }
    // RFC 8936 §2.4.4: a SET reported as an error is not sent again either.
    let done: Vec<String> = req.ack.iter().chain(req.set_errs.keys()).cloned().collect();
    feed::acknowledge(state, &row.id, &done).await?;
    let max = req
        .max_events
        .unwrap_or(state.config.ssf.max_events)
        .min(state.config.ssf.max_events) as usize;
    // RFC 8936 §2.4.2: `maxEvents: 0` only acknowledges.
    if max == 0 {
        return Ok(json!({ "sets": {} }));
    }
    // SSF 1.0 §8.1.2: a paused stream holds its events; a disabled one
    // drops them. Neither delivers.
    if row.status != "enabled" {
        return Ok(json!({ "sets": {}, "moreAvailable": false }));
    }
    // RFC 8936 §2.4: returnImmediately defaults to false (long polling).
    let wait = !req.return_immediately.unwrap_or(false);
    let (sets, more) = collect(state, stream_id, &client_id, max, wait).await?;
    let mut map = Map::new();
    for s in sets {
        map.insert(s.jti, Value::String(s.set));
    }
    Ok(json!({ "sets": map, "moreAvailable": more }))
}

/// The next SETs; if none and `wait`, hold until there may be some.
async fn collect(
    state: &AppState,
    stream_id: &str,
    client_id: &str,
    max: usize,
    wait: bool,
) -> Result<(Vec<feed::Outgoing>, bool), SsfError> {
    // Subscribe before reading, so an event applied in between wakes us.
    let mut applied = state.revocations.subscribe();
    let row = owned_stream(state, client_id, stream_id).await?;
    let found = feed::next(state, &row, max).await?;
    if !found.0.is_empty() || !wait {
        return Ok(found);
    }
    // Bounded: with every slot taken, answer at once (the receiver polls
    // again).
    let Ok(_permit) = state.ssf.long_polls.clone().try_acquire_owned() else {
        return Ok(found);
    };
    // One receiver cannot take every slot: beyond its share, 429.
    let Some(_slot) = state
        .ssf
        .client_slot(client_id, state.config.ssf.max_long_polls_per_client)
    else {
        return Err(SsfError::TooMany(
            "this receiver holds the most long polls allowed (ssf.max_long_polls_per_client)"
                .into(),
        ));
    };
    let hold = state
        .config
        .ssf
        .effective_long_poll(state.config.http.request_timeout);
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        let queued = state.ssf.queued.notified();
        tokio::select! {
            changed = applied.changed() => {
                if changed.is_err() {
                    return Ok(found);
                }
            }
            _ = queued => {}
            _ = tokio::time::sleep_until(deadline) => return Ok((Vec::new(), false)),
        }
        let row = owned_stream(state, client_id, stream_id).await?;
        if row.status != "enabled" {
            return Ok((Vec::new(), false));
        }
        let found = feed::next(state, &row, max).await?;
        if !found.0.is_empty() {
            return Ok(found);
        }
        // Nothing for this stream (another stream's event): keep waiting,
        // but not past the deadline.
        if tokio::time::Instant::now() + Duration::from_millis(1) >= deadline {
            return Ok(found);
        }
    }
}
