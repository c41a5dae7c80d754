//! Stream management (SSF 1.0 §8.1): the configuration endpoint (create,
//! read, update, replace, delete), the status endpoint and the
//! verification endpoint. Handlers parse, ask `config`/`store`, answer.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{Need, receiver};
use super::config::{self, object, string};
use super::error::SsfError;
use super::{POLL, PUSH, set};
use crate::http::headers::no_store;
use crate::random::identifier;
use crate::state::AppState;
use crate::store::ssf_streams::{self, StreamRow};

/// Verification SETs queued on one stream at most (SSF 1.0 §8.1.4.2 lets
/// the transmitter refuse requests that come too often: 429).
const MAX_QUEUED: u64 = 100;
/// Longest verification `state` accepted.
const MAX_STATE: usize = 1024;
const STATUSES: [&str; 3] = ["enabled", "paused", "disabled"];

fn reply(result: Result<(StatusCode, Value), SsfError>) -> Response {
    match result {
        Ok((status, body)) => no_store((status, Json(body)).into_response()),
        Err(e) => e.into_response(),
    }
}

fn param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The stream `id` of `client_id`; another receiver's stream is as unknown
/// as a stream that does not exist (SSF 1.0 §8.1.1.2: 404).
pub async fn owned_stream(
    state: &AppState,
    client_id: &str,
    id: &str,
) -> Result<StreamRow, SsfError> {
    match ssf_streams::find(&state.db, id).await? {
        Some(row) if row.client_id == client_id => Ok(row),
        _ => Err(SsfError::NotFound),
    }
}

fn stream_id_of(map: &serde_json::Map<String, Value>) -> Result<&str, SsfError> {
    string(map, "stream_id")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SsfError::BadRequest("stream_id is required".into()))
}

/// SSF 1.0 §8.1.1.1: create a stream. It starts with every revocation a
/// live token could still match (the revocation contract's backfill).
pub async fn create(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    reply(create_stream(&state, query.as_deref(), &headers, &body).await)
}

async fn create_stream(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(StatusCode, Value), SsfError> {
    let client_id = receiver(state, headers, query, Need::Manage).await?;
    let map = object(body)?;
    let now = state.now();
    let mut row = StreamRow {
        id: identifier(state.rng.as_ref()),
        client_id: client_id.clone(),
        delivery_method: POLL.into(),
        endpoint_url: None,
        authorization_header: None,
        // Without events_requested, every supported event type.
        events_requested: json!(set::SUPPORTED).to_string(),
        description: None,
        status: "enabled".into(),
        status_reason: None,
        cursor: 0,
        acked: "[]".into(),
        attempts: 0,
        next_attempt_at: 0,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    config::apply(state, &mut row, &map, false)?;
    // SSF 1.0 §8.1.1.1: 409 when the receiver may not have another stream.
    if ssf_streams::count_of_client(&state.db, &client_id).await?
        >= state.config.ssf.max_streams_per_client
    {
        return Err(SsfError::Conflict(
            "this receiver has the most streams allowed (ssf.max_streams_per_client)".into(),
        ));
    }
    row.cursor = ssf_streams::backfill_cursor(&state.db, now).await?;
    ssf_streams::insert(&state.db, row.clone()).await?;
    tracing::info!(%client_id, stream_id = %row.id, method = %row.delivery_method, "stream created");
    if row.delivery_method == PUSH {
        state.ssf.push_now.notify_one();
    }
    Ok((StatusCode::CREATED, config::to_json(state, &row)))
}

/// SSF 1.0 §8.1.1.2: one stream by `stream_id`, or all of the receiver's.
pub async fn read(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    reply(read_streams(&state, query.as_deref(), &headers).await)
}

async fn read_streams(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<(StatusCode, Value), SsfError> {
    let client_id = receiver(state, headers, query, Need::Read).await?;
    match param(query, "stream_id") {
        Some(id) => {
            let row = owned_stream(state, &client_id, &id).await?;
            Ok((StatusCode::OK, config::to_json(state, &row)))
        }
        None => {
            let rows = ssf_streams::of_client(&state.db, &client_id).await?;
            let all: Vec<Value> = rows.iter().map(|r| config::to_json(state, r)).collect();
            Ok((StatusCode::OK, Value::Array(all)))
        }
    }
}

/// SSF 1.0 §8.1.1.3: PATCH changes the members sent.
pub async fn update(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    reply(change(&state, query.as_deref(), &headers, &body, false).await)
}

/// SSF 1.0 §8.1.1.4: PUT replaces every receiver-supplied member.
pub async fn replace(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    reply(change(&state, query.as_deref(), &headers, &body, true).await)
}

async fn change(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
    replace: bool,
) -> Result<(StatusCode, Value), SsfError> {
    let client_id = receiver(state, headers, query, Need::Manage).await?;
    let map = object(body)?;
    let mut row = owned_stream(state, &client_id, stream_id_of(&map)?).await?;
    config::apply(state, &mut row, &map, replace)?;
    row.updated_at = state.now();
    ssf_streams::save_config(&state.db, &row).await?;
    if row.delivery_method == PUSH {
        state.ssf.push_now.notify_one();
    }
    Ok((StatusCode::OK, config::to_json(state, &row)))
}

/// SSF 1.0 §8.1.1.5: delete a stream; its queued SETs go with it.
pub async fn delete(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let client_id = receiver(&state, &headers, query.as_deref(), Need::Manage).await?;
        let id = param(query.as_deref(), "stream_id")
            .ok_or_else(|| SsfError::BadRequest("stream_id is required".into()))?;
        let row = owned_stream(&state, &client_id, &id).await?;
        ssf_streams::delete(&state.db, &row.id).await?;
        tracing::info!(%client_id, stream_id = %row.id, "stream deleted");
        Ok::<_, SsfError>(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

fn status_json(row: &StreamRow) -> Value {
    let mut v = json!({ "stream_id": row.id, "status": row.status });
    if let Some(reason) = &row.status_reason {
        v["reason"] = json!(reason);
    }
    v
}

/// SSF 1.0 §8.1.2.1: a stream's status.
pub async fn status(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let client_id = receiver(&state, &headers, query.as_deref(), Need::Read).await?;
        let id = param(query.as_deref(), "stream_id")
            .ok_or_else(|| SsfError::BadRequest("stream_id is required".into()))?;
        let row = owned_stream(&state, &client_id, &id).await?;
        Ok((StatusCode::OK, status_json(&row)))
    }
    .await;
    reply(result)
}

/// SSF 1.0 §8.1.2.2: `enabled`, `paused` (events are held) or `disabled`
/// (events are dropped: the stream resumes at the log's end).
pub async fn set_status(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let client_id = receiver(&state, &headers, query.as_deref(), Need::Manage).await?;
        let map = object(&body)?;
        let mut row = owned_stream(&state, &client_id, stream_id_of(&map)?).await?;
        let status = string(&map, "status")?
            .filter(|s| STATUSES.contains(s))
            .ok_or_else(|| {
                SsfError::BadRequest("status must be enabled, paused or disabled".into())
            })?;
        let reason = string(&map, "reason")?.map(|r| r.chars().take(1000).collect::<String>());
        // Dropping events: whatever is queued now is never delivered.
        let skip = status == "disabled" || row.status == "disabled";
        let cursor = skip.then(|| state.revocations.applied());
        if status == "disabled" {
            ssf_streams::clear_pending(&state.db, &row.id).await?;
        }
        ssf_streams::set_status(
            &state.db,
            &row.id,
            status,
            reason.as_deref(),
            cursor,
            state.now(),
        )
        .await?;
        tracing::info!(%client_id, stream_id = %row.id, status, "stream status changed");
        row.status = status.to_owned();
        row.status_reason = reason;
        if status == "enabled" {
            state.ssf.push_now.notify_one();
        }
        Ok((StatusCode::OK, status_json(&row)))
    }
    .await;
    reply(result)
}

/// SSF 1.0 §8.1.4.2: the receiver asks for a verification event; it is
/// queued on the stream and delivered like any SET (204).
pub async fn verify(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let client_id = receiver(&state, &headers, query.as_deref(), Need::Manage).await?;
        let map = object(&body)?;
        let row = owned_stream(&state, &client_id, stream_id_of(&map)?).await?;
        let verify_state = string(&map, "state")?;
        if verify_state.is_some_and(|s| s.len() > MAX_STATE) {
            return Err(SsfError::BadRequest("state is too long".into()));
        }
        if ssf_streams::count_pending(&state.db, &row.id).await? >= MAX_QUEUED {
            return Err(SsfError::TooMany(
                "verification events are waiting to be delivered".into(),
            ));
        }
        let jti = format!("verify-{}", identifier(state.rng.as_ref()));
        let now = state.now();
        let draft = set::verification(&row.id, verify_state);
        let set = set::sign(&state, &row.client_id, &jti, None, now, &draft)?;
        ssf_streams::add_pending(&state.db, &row.id, &jti, &set, now).await?;
        state.ssf.queued.notify_waiters();
        state.ssf.push_now.notify_one();
        Ok(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}
