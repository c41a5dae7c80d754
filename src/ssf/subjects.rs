//! Subjects of a stream (SSF 1.0 §8.1.3): the add and remove subject
//! endpoints, and the filter a stream's log events pass before they become
//! its SETs. A stream covers `default_subjects` (`[ssf]`, SSF 1.0 §7.1)
//! plus the subjects its receiver added, minus those it removed; the
//! filter is read at delivery time. Verification SETs (SSF 1.0 §8.1.4) are
//! queued apart and always delivered.
//!
//! Subject formats (RFC 9493 §3.2) Signoff can match:
//! - `iss_sub` with this issuer: the user `sub`;
//! - `email`: the users with that email, resolved when the subject is
//!   added or removed;
//! - `opaque`: any identifier a SET names (a user's `sub`, a session, a
//!   client).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::auth::{Need, receiver};
use super::config::{object, string};
use super::error::SsfError;
use super::streams::owned_stream;
use crate::config::DefaultSubjects;
use crate::revocation::Event;
use crate::state::AppState;
use crate::store::ssf_streams;

/// Longest identifier or email accepted in a subject.
const MAX_ID: usize = 256;
/// Users one `email` subject may name at most.
const MAX_EMAIL_USERS: u64 = 16;

/// Which log events a stream's receiver wants, by subject.
pub struct Filter {
    default: bool,
    subjects: HashMap<String, bool>,
}

impl Filter {
    /// The filter of stream `stream_id`.
    pub async fn load(state: &AppState, stream_id: &str) -> Result<Filter, SsfError> {
        Ok(Filter {
            default: state.config.ssf.default_subjects == DefaultSubjects::All,
            subjects: ssf_streams::subjects(&state.db, stream_id).await?,
        })
    }

    /// Whether the stream covers event `e`: a removed subject wins over an
    /// added one, either over the default. An event that names no user,
    /// session or client (a signing key revoked) concerns every token and
    /// every stream.
    pub fn covers(&self, e: &Event) -> bool {
        let mut keys = Vec::with_capacity(5);
        if let Some(u) = &e.user_id {
            keys.push(user_key(u));
            keys.push(id_key(u));
        }
        for id in [&e.session_id, &e.client_id].into_iter().flatten() {
            keys.push(id_key(id));
        }
        if keys.is_empty() {
            return true;
        }
        if self.subjects.is_empty() {
            return self.default;
        }
        let found: Vec<bool> = keys
            .iter()
            .filter_map(|k| self.subjects.get(k).copied())
            .collect();
        if found.contains(&false) {
            false
        } else if found.contains(&true) {
            true
        } else {
            self.default
        }
    }
}

fn user_key(sub: &str) -> String {
    format!("user:{sub}")
}

fn id_key(id: &str) -> String {
    format!("id:{id}")
}

fn bad(m: &'static str) -> SsfError {
    SsfError::BadRequest(m.into())
}

/// A bounded, non-empty string member of a subject.
fn member<'a>(subject: &'a Map<String, Value>, name: &str) -> Result<&'a str, SsfError> {
    string(subject, name)?
        .filter(|s| !s.is_empty() && s.len() <= MAX_ID)
        .ok_or_else(|| {
            SsfError::BadRequest(format!("subject.{name} is missing, empty or too long").into())
        })
}

/// The keys a subject identifier (RFC 9493 §3) stands for.
async fn keys_of(state: &AppState, subject: &Map<String, Value>) -> Result<Vec<String>, SsfError> {
    let format = string(subject, "format")?.ok_or_else(|| bad("subject.format is required"))?;
    match format {
        // RFC 9493 §3.2.4: issuer and subject.
        "iss_sub" => {
            if member(subject, "iss")? != state.config.issuer_str() {
                return Err(bad("an iss_sub subject must name this issuer"));
            }
            Ok(vec![user_key(member(subject, "sub")?)])
        }
        // RFC 9493 §3.2.6: an identifier only the parties understand.
        "opaque" => Ok(vec![id_key(member(subject, "id")?)]),
        // RFC 9493 §3.2.2: an email address.
        "email" => {
            let email = member(subject, "email")?;
            if !email.contains('@') {
                return Err(bad("subject.email is not an email address"));
            }
            let users = ssf_streams::users_with_email(&state.db, email, MAX_EMAIL_USERS).await?;
            Ok(users.iter().map(|u| user_key(u)).collect())
        }
        _ => Err(bad("subject.format must be iss_sub, email or opaque")),
    }
}

/// SSF 1.0 §8.1.3.2 (add: 200) and §8.1.3.3 (remove: 204).
async fn change(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
    included: bool,
) -> Result<(), SsfError> {
    let client_id = receiver(state, headers, query, Need::Manage).await?;
    let map = object(body)?;
    let stream_id = string(&map, "stream_id")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("stream_id is required"))?;
    let subject = match map.get("subject") {
        Some(Value::Object(subject)) => subject,
        _ => return Err(bad("subject must be a subject identifier object")),
    };
    // SSF 1.0 §8.1.3.2: `verified` is optional and boolean.
    if map.get("verified").is_some_and(|v| !v.is_boolean()) {
        return Err(bad("verified must be a boolean"));
    }
    let row = owned_stream(state, &client_id, stream_id).await?;
    let keys = keys_of(state, subject).await?;
    let default = state.config.ssf.default_subjects == DefaultSubjects::All;
    // Only keys without a row yet add one: adding a subject again is free.
    let new = keys.len() as u64
        - ssf_streams::count_subjects_among(&state.db, &row.id, &keys)
            .await?
            .min(keys.len() as u64);
    if included != default
        && new > 0
        && ssf_streams::count_subjects(&state.db, &row.id).await? + new
            > state.config.ssf.max_subjects_per_stream
    {
        return Err(bad(
            "the stream has the most subjects allowed (ssf.max_subjects_per_stream)",
        ));
    }
    let now = state.now();
    for key in &keys {
        ssf_streams::set_subject(&state.db, &row.id, key, included, default, now).await?;
    }
    tracing::info!(%client_id, stream_id = %row.id, included, subjects = keys.len(), "stream subjects changed");
    Ok(())
}

/// SSF 1.0 §8.1.3.2: add a subject to a stream.
pub async fn add(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match change(&state, query.as_deref(), &headers, &body, true).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// SSF 1.0 §8.1.3.3: remove a subject from a stream.
pub async fn remove(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match change(&state, query.as_deref(), &headers, &body, false).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::{Initiator, Kind};

    fn event(user: Option<&str>, session: Option<&str>) -> Event {
        Event {
            seq: 1,
            kind: Kind::SessionEnded,
            created_at: 0,
            user_id: user.map(Into::into),
            session_id: session.map(Into::into),
            client_id: None,
            grant_id: None,
            jti: None,
            token_hash: None,
            kid: None,
            version: None,
            reason: None,
            initiator: Initiator::User,
            retain_until: 0,
        }
    }

    fn filter(default: bool, subjects: &[(&str, bool)]) -> Filter {
        Filter {
            default,
            subjects: subjects
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
        }
    }

    #[test]
    fn with_none_by_default_only_added_users_are_covered() {
        let f = filter(false, &[("user:alice", true)]);
        assert!(f.covers(&event(Some("alice"), Some("s1"))));
        assert!(!f.covers(&event(Some("bob"), Some("s2"))));
    }

    #[test]
    fn with_all_by_default_a_removed_subject_is_not_covered_even_if_added_otherwise() {
        let f = filter(true, &[("user:alice", true), ("id:s1", false)]);
        assert!(!f.covers(&event(Some("alice"), Some("s1"))));
        assert!(f.covers(&event(Some("alice"), Some("s2"))));
        assert!(f.covers(&event(Some("bob"), None)));
    }

    #[test]
    fn an_event_about_no_user_session_or_client_reaches_every_stream() {
        assert!(filter(false, &[("user:alice", true)]).covers(&event(None, None)));
        assert!(filter(false, &[]).covers(&event(None, None)));
    }
}
