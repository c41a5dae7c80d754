//! What a stream has to deliver, and what its receiver has acknowledged.
//! A stream's SETs are derived from the revocation log (`set::drafts`)
//! after its `cursor`, plus its queued verification SETs; nothing is
//! written in the revocation's transaction but the log itself. The view's
//! `events_after` never returns an event a lower, still missing `seq`
//! could precede, so a cursor never skips an event committed late.

use std::collections::BTreeSet;

use super::error::SsfError;
use super::set::{self, Draft};
use super::subjects::Filter;
use crate::revocation::Event;
use crate::state::AppState;
use crate::store::ssf_streams::{self, StreamRow};

/// Log events read per query.
const BATCH: u64 = 500;
/// Batches one call reads at most (bounded work per request).
const SCAN: usize = 8;
/// Acknowledgements above the cursor remembered at most, in SETs per
/// `ssf.max_events`: a receiver that acknowledges far out of order gets
/// the forgotten ones again.
const ACK_WINDOW: u64 = 4;

/// A signed SET ready to go.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub jti: String,
    pub set: String,
}

/// The event types this stream delivers (SSF 1.0 §8.1.1
/// `events_delivered`): those requested that Signoff supports.
pub fn delivered(row: &StreamRow) -> Vec<&'static str> {
    let requested: Vec<String> = serde_json::from_str(&row.events_requested).unwrap_or_default();
    set::SUPPORTED
        .iter()
        .copied()
        .filter(|t| requested.iter().any(|r| r == t))
        .collect()
}

/// The SETs of `e` on this stream: `(jti, draft)`, in order. None when
/// the stream does not cover the event's subject (SSF 1.0 §8.1.3).
fn stream_sets(
    state: &AppState,
    row: &StreamRow,
    wanted: &[&str],
    filter: &Filter,
    e: &Event,
) -> Vec<(String, Draft)> {
    if !filter.covers(e) {
        return Vec::new();
    }
    set::drafts(state.config.issuer_str(), e)
        .into_iter()
        .enumerate()
        .filter(|(_, d)| wanted.contains(&d.event_type))
        .map(|(i, d)| (set::jti(&row.id, e.seq, i), d))
        .collect()
}

fn acked_of(row: &StreamRow) -> BTreeSet<String> {
    serde_json::from_str(&row.acked).unwrap_or_default()
}

/// Up to `max` SETs not yet acknowledged, oldest first (queued ones
/// before log ones), and whether more are waiting.
pub async fn next(
    state: &AppState,
    row: &StreamRow,
    max: usize,
) -> Result<(Vec<Outgoing>, bool), SsfError> {
    let mut out = Vec::new();
    if max == 0 {
        return Ok((out, false));
    }
    for p in ssf_streams::pending(&state.db, &row.id, max as u64 + 1).await? {
        if out.len() == max {
            return Ok((out, true));
        }
        out.push(Outgoing {
            jti: p.jti,
            set: p.set_jwt,
        });
    }
    let wanted = delivered(row);
    let filter = Filter::load(state, &row.id).await?;
    let acked = acked_of(row);
    let mut after = row.cursor;
    for _ in 0..SCAN {
        let events = state.revocations.events_after(after, BATCH).await?;
        for e in &events {
            for (jti, draft) in stream_sets(state, row, &wanted, &filter, e) {
                if acked.contains(&jti) {
                    continue;
                }
                if out.len() == max {
                    return Ok((out, true));
                }
                let set = set::sign(
                    state,
                    &row.client_id,
                    &jti,
                    Some(e.seq),
                    e.created_at,
                    &draft,
                )?;
                out.push(Outgoing { jti, set });
            }
        }
        match events.last() {
            Some(last) if events.len() as u64 == BATCH => after = last.seq,
            _ => return Ok((out, false)),
        }
    }
    // Read as much as one request may: there may be more.
    Ok((out, true))
}

/// Record acknowledged (or, RFC 8936 §2.4.4, refused) SETs: queued ones are
/// dropped; log ones move the cursor past every event whose SETs are all
/// acknowledged.
pub async fn acknowledge(
    state: &AppState,
    stream_id: &str,
    jtis: &[String],
) -> Result<(), SsfError> {
    if jtis.is_empty() {
        return Ok(());
    }
    // A race with another poll of the same stream: read again and retry.
    for _ in 0..3 {
        let Some(row) = ssf_streams::find(&state.db, stream_id).await? else {
            return Ok(());
        };
        let queued: Vec<String> = jtis
            .iter()
            .filter(|j| set::parse_jti(&row.id, j).is_none())
            .cloned()
            .collect();
        ssf_streams::remove_pending(&state.db, &row.id, &queued).await?;
        let applied = state.revocations.applied();
        let mut acked = acked_of(&row);
        for jti in jtis {
            // Only SETs that can have been delivered: after the cursor, up to
            // what this instance has applied.
            if let Some((seq, _)) = set::parse_jti(&row.id, jti)
                && seq > row.cursor
                && seq <= applied
            {
                acked.insert(jti.clone());
            }
        }
        let cursor = compact(state, &row, &mut acked).await?;
        let window = (state.config.ssf.max_events * ACK_WINDOW) as usize;
        while acked.len() > window {
            acked.pop_last();
        }
        let acked = serde_json::to_string(&acked).unwrap_or_else(|_| "[]".into());
        if (cursor, acked.as_str()) == (row.cursor, row.acked.as_str()) {
            return Ok(());
        }
        if ssf_streams::advance(
            &state.db,
            &row.id,
            (row.cursor, &row.acked),
            (cursor, &acked),
        )
        .await?
        {
            return Ok(());
        }
    }
    Ok(())
}

/// Move the cursor over every event whose SETs on this stream are all in
/// `acked` (removing them from it); events with no SET for this stream are
/// passed over only on the way to an acknowledged one.
async fn compact(
    state: &AppState,
    row: &StreamRow,
    acked: &mut BTreeSet<String>,
) -> Result<i64, SsfError> {
    let wanted = delivered(row);
    let mut cursor = row.cursor;
    let mut after = row.cursor;
    if acked.is_empty() {
        return Ok(cursor);
    }
    let filter = Filter::load(state, &row.id).await?;
    for _ in 0..SCAN {
        let events = state.revocations.events_after(after, BATCH).await?;
        for e in &events {
            let jtis: Vec<String> = stream_sets(state, row, &wanted, &filter, e)
                .into_iter()
                .map(|(j, _)| j)
                .collect();
            if !jtis.iter().all(|j| acked.contains(j)) {
                return Ok(cursor);
            }
            if !jtis.is_empty() {
                cursor = e.seq;
                for j in &jtis {
                    acked.remove(j);
                }
                if acked.is_empty() {
                    return Ok(cursor);
                }
            }
        }
        match events.last() {
            Some(last) if events.len() as u64 == BATCH => after = last.seq,
            _ => return Ok(cursor),
        }
    }
    Ok(cursor)
}
