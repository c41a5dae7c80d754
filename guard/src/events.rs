//! What a verified Security Event Token (RFC 8417) means for the guard: the
//! SET mapping of the revocation contract (CAEP, RISC and Signoff's
//! `tokens-revoked` events), plus the SSF stream events.

use serde_json::{Map, Value};

use crate::revocation::Revocation;

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
pub const TOKENS_REVOKED: &str = "urn:signoff:secevent:tokens-revoked";
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
pub const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// The event types the receiver asks for (SSF 1.0 §8.1.1 `events_requested`).
pub const REQUESTED: &[&str] = &[
    SESSION_REVOKED,
    CREDENTIAL_CHANGE,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    TOKENS_REVOKED,
];

/// What one SET asks of the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Revoke(Revocation),
    /// SSF §8.1.4.1: the answer to a verification request.
    Verification {
        state: Option<String>,
    },
    /// SSF §8.1.5: the transmitter changed the stream's status.
    StreamUpdated {
        status: String,
    },
    /// A valid event with nothing for the guard to do (a credential change,
    /// whose version bump comes as `tokens-revoked`; a subject of another
    /// issuer; an event type not requested).
    Nothing(&'static str),
}

/// Facts the mapping needs besides the SET.
pub struct Context<'a> {
    pub issuer: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// Kept this long for events without `retain_until` (CAEP's
    /// session-revoked carries none): at least the longest access-token
    /// lifetime of the provider.
    pub default_retention: i64,
}

/// Map a verified SET's claims. `Err` is a malformed event (reported back
/// to the transmitter as `invalid_request`, RFC 8936 §2.4.4).
pub fn interpret(claims: &Map<String, Value>, cx: &Context<'_>) -> Result<Vec<Event>, String> {
    // RFC 8417 §2.2: `events` is required, one member per event type.
    let events = claims
        .get("events")
        .and_then(Value::as_object)
        .filter(|e| !e.is_empty())
        .ok_or("no events")?;
    events
        .iter()
        .map(|(event_type, body)| {
            let body = body.as_object().ok_or("an event is not a JSON object")?;
            // SSF 1.0 §3: the subject is the top-level `sub_id` (RFC 9493);
            // earlier drafts put it in the event as `subject`.
            let subject = claims.get("sub_id").or_else(|| body.get("subject"));
            one(event_type, body, subject, cx)
        })
        .collect()
}

fn one(
    event_type: &str,
    body: &Map<String, Value>,
    subject: Option<&Value>,
    cx: &Context<'_>,
) -> Result<Event, String> {
    let retain_until = || {
        body.get("retain_until")
            .and_then(Value::as_i64)
            .unwrap_or(cx.now + cx.default_retention)
    };
    match event_type {
        VERIFICATION => Ok(Event::Verification {
            state: body.get("state").and_then(Value::as_str).map(str::to_owned),
        }),
        STREAM_UPDATED => Ok(Event::StreamUpdated {
            status: text(body, "status")?.to_owned(),
        }),
        SESSION_REVOKED => {
            // The contract's sub_id: {"format":"complex","user":{iss_sub},
            // "session":{"format":"opaque","id":SID}}.
            let subject = subject.ok_or("session-revoked without a subject")?;
            if let Some(user) = subject.get("user")
                && user_of(user, cx.issuer)?.is_none()
            {
                return Ok(Event::Nothing("a session of another issuer"));
            }
            match subject.get("session") {
                Some(session) => Ok(Event::Revoke(Revocation::Session {
                    sid: opaque_id(session)?.to_owned(),
                    retain_until: retain_until(),
                })),
                None => Ok(Event::Nothing("session-revoked without a session")),
            }
        }
        CREDENTIAL_CHANGE => Ok(Event::Nothing(
            "credential change (versions come as tokens-revoked)",
        )),
        ACCOUNT_DISABLED | ACCOUNT_ENABLED => {
            let subject = subject.ok_or("account event without a subject")?;
            let Some(sub) = user_of(subject, cx.issuer)? else {
                return Ok(Event::Nothing("an account of another issuer"));
            };
            let sub = sub.to_owned();
            Ok(Event::Revoke(if event_type == ACCOUNT_DISABLED {
                Revocation::UserDisabled { sub }
            } else {
                Revocation::UserEnabled { sub }
            }))
        }
        TOKENS_REVOKED => tokens_revoked(body, subject, cx, retain_until()),
        _ => Ok(Event::Nothing("an event type the guard does not use")),
    }
}

/// Signoff's `urn:signoff:secevent:tokens-revoked` (docs/ssf.md): the body
/// names exactly what died.
fn tokens_revoked(
    body: &Map<String, Value>,
    subject: Option<&Value>,
    cx: &Context<'_>,
    retain_until: i64,
) -> Result<Event, String> {
    let version = || {
        body.get("version")
            .and_then(Value::as_i64)
            .ok_or("no version")
    };
    let revocation = match text(body, "scope")? {
        "user" => {
            let subject = subject.ok_or("a user scope without a subject")?;
            let Some(sub) = user_of(subject, cx.issuer)? else {
                return Ok(Event::Nothing("a user of another issuer"));
            };
            Revocation::UserVersion {
                sub: sub.to_owned(),
                version: version()?,
                retain_until,
            }
        }
        "client" => Revocation::ClientVersion {
            client_id: text(body, "client_id")?.to_owned(),
            version: version()?,
            retain_until,
        },
        // docs/ssf.md: disabling (or removing) a client starts a new token
        // generation `version`, and a disabled client obtains no token, so
        // "every token below `version`" is exactly "every token of the
        // disabled client" — and stays right once it is enabled again, for
        // which the transmitter sends nothing. Without `version`, every
        // token of the client until `retain_until`.
        "client_disabled" | "client_removed" => match body.get("version") {
            Some(v) => Revocation::ClientVersion {
                client_id: text(body, "client_id")?.to_owned(),
                version: v.as_i64().ok_or("version is not an integer")?,
                retain_until,
            },
            None => Revocation::ClientDisabled {
                client_id: text(body, "client_id")?.to_owned(),
                retain_until,
            },
        },
        "grant" => Revocation::Grant {
            gid: text(body, "grant_id")?.to_owned(),
            retain_until,
        },
        "token" => Revocation::Token {
            jti: text(body, "jti")?.to_owned(),
            retain_until,
        },
        // docs/ssf.md: an opaque access token, by its SHA-256 (base64url).
        "token_hash" => Revocation::TokenHash {
            hash: text(body, "token_hash")?.to_owned(),
            retain_until,
        },
        "key" => Revocation::Key {
            kid: text(body, "kid")?.to_owned(),
            retain_until,
        },
        other => return Err(format!("unknown tokens-revoked scope {other}")),
    };
    Ok(Event::Revoke(revocation))
}

fn text<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("no {name}"))
}

/// RFC 9493 §3.2.4 `iss_sub`: the user's `sub` if `iss` is ours, `None` for
/// another issuer's subject.
fn user_of<'a>(subject: &'a Value, issuer: &str) -> Result<Option<&'a str>, String> {
    // A complex subject names the user in its `user` member (SSF 1.0 §3.2).
    let subject = match subject.get("format").and_then(Value::as_str) {
        Some("complex") => subject
            .get("user")
            .ok_or("a complex subject without a user")?,
        _ => subject,
    };
    if subject.get("format").and_then(Value::as_str) != Some("iss_sub") {
        return Err("the user is not an iss_sub subject".into());
    }
    let iss = subject
        .get("iss")
        .and_then(Value::as_str)
        .ok_or("iss_sub without iss")?;
    let sub = subject
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("iss_sub without sub")?;
    Ok((iss == issuer).then_some(sub))
}

/// RFC 9493 §3.2.6 `opaque`.
fn opaque_id(subject: &Value) -> Result<&str, String> {
    if subject.get("format").and_then(Value::as_str) != Some("opaque") {
        return Err("not an opaque subject".into());
    }
    subject
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "opaque subject without id".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://op.example";

    fn cx() -> Context<'static> {
        Context {
            issuer: ISS,
            now: 1000,
            default_retention: 600,
        }
    }

    fn set(event_type: &str, sub_id: Value, body: Value) -> Map<String, Value> {
        json!({ "iss": ISS, "jti": "x", "iat": 1, "sub_id": sub_id, "events": { event_type: body } })
            .as_object()
            .unwrap()
            .clone()
    }

    fn user(sub: &str) -> Value {
        json!({ "format": "iss_sub", "iss": ISS, "sub": sub })
    }

    #[test]
    fn contract_events_map_to_revocations() {
        let client = json!({ "format": "opaque", "id": "app" });
        let cases: Vec<(Map<String, Value>, Event)> = vec![
            (
                set(
                    SESSION_REVOKED,
                    json!({ "format": "complex", "user": user("u1"), "session": { "format": "opaque", "id": "sid1" } }),
                    json!({ "event_timestamp": 999, "initiating_entity": "user" }),
                ),
                Event::Revoke(Revocation::Session {
                    sid: "sid1".into(),
                    retain_until: 1600,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    user("u1"),
                    json!({ "scope": "user", "version": 3, "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::UserVersion {
                    sub: "u1".into(),
                    version: 3,
                    retain_until: 5000,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    client.clone(),
                    json!({ "scope": "client", "client_id": "app", "version": 2, "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::ClientVersion {
                    client_id: "app".into(),
                    version: 2,
                    retain_until: 5000,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    client.clone(),
                    json!({ "scope": "client_removed", "client_id": "app", "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::ClientDisabled {
                    client_id: "app".into(),
                    retain_until: 5000,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    client.clone(),
                    json!({ "scope": "client_disabled", "client_id": "app", "version": 4, "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::ClientVersion {
                    client_id: "app".into(),
                    version: 4,
                    retain_until: 5000,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    client.clone(),
                    json!({ "scope": "token_hash", "token_hash": "aGFzaA", "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::TokenHash {
                    hash: "aGFzaA".into(),
                    retain_until: 5000,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    client,
                    json!({ "scope": "client_disabled", "client_id": "app", "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::ClientDisabled {
                    client_id: "app".into(),
                    retain_until: 5000,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    user("u1"),
                    json!({ "scope": "grant", "grant_id": "g", "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::Grant {
                    gid: "g".into(),
                    retain_until: 5000,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    user("u1"),
                    json!({ "scope": "token", "jti": "j", "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::Token {
                    jti: "j".into(),
                    retain_until: 5000,
                }),
            ),
            (
                set(
                    TOKENS_REVOKED,
                    json!({ "format": "opaque", "id": "k" }),
                    json!({ "scope": "key", "kid": "k", "retain_until": 5000 }),
                ),
                Event::Revoke(Revocation::Key {
                    kid: "k".into(),
                    retain_until: 5000,
                }),
            ),
            (
                set(ACCOUNT_DISABLED, user("u1"), json!({})),
                Event::Revoke(Revocation::UserDisabled { sub: "u1".into() }),
            ),
            (
                set(ACCOUNT_ENABLED, user("u1"), json!({})),
                Event::Revoke(Revocation::UserEnabled { sub: "u1".into() }),
            ),
            (
                set(
                    VERIFICATION,
                    json!({ "format": "opaque", "id": "stream" }),
                    json!({ "state": "abc" }),
                ),
                Event::Verification {
                    state: Some("abc".into()),
                },
            ),
            (
                set(
                    STREAM_UPDATED,
                    json!({ "format": "opaque", "id": "stream" }),
                    json!({ "status": "paused" }),
                ),
                Event::StreamUpdated {
                    status: "paused".into(),
                },
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(
                interpret(&claims, &cx()).unwrap(),
                vec![expected.clone()],
                "{expected:?}"
            );
        }
    }

    #[test]
    fn other_issuers_and_unknown_events_change_nothing() {
        let foreign = json!({ "format": "iss_sub", "iss": "https://elsewhere", "sub": "u1" });
        for claims in [
            set(ACCOUNT_DISABLED, foreign.clone(), json!({})),
            set(ACCOUNT_ENABLED, foreign.clone(), json!({})),
            // RFC 9493 §3.2.4 inside SSF 1.0 §3.2's complex subject: the
            // session of another issuer's user is not ours to revoke.
            set(
                SESSION_REVOKED,
                json!({ "format": "complex", "user": foreign.clone(), "session": { "format": "opaque", "id": "sid1" } }),
                json!({ "retain_until": 5000 }),
            ),
            // The legacy in-event `subject` (no top-level sub_id).
            json!({ "iss": ISS, "jti": "x", "iat": 1, "events": { ACCOUNT_DISABLED: { "subject": foreign.clone() } } })
                .as_object()
                .unwrap()
                .clone(),
            set(
                TOKENS_REVOKED,
                foreign,
                json!({ "scope": "user", "version": 1 }),
            ),
            set(
                CREDENTIAL_CHANGE,
                user("u1"),
                json!({ "credential_type": "password" }),
            ),
            set("urn:example:other", user("u1"), json!({})),
        ] {
            let events = interpret(&claims, &cx()).unwrap();
            assert!(matches!(events[..], [Event::Nothing(_)]), "{events:?}");
        }
    }

    #[test]
    fn malformed_events_are_errors() {
        for claims in [
            json!({ "iss": ISS, "events": {} })
                .as_object()
                .unwrap()
                .clone(),
            set(TOKENS_REVOKED, user("u1"), json!({ "scope": "user" })),
            set(TOKENS_REVOKED, user("u1"), json!({ "scope": "galaxy" })),
            set(TOKENS_REVOKED, user("u1"), json!({ "scope": "token" })),
            set(
                ACCOUNT_DISABLED,
                json!({ "format": "email", "email": "a@b" }),
                json!({}),
            ),
            set(
                SESSION_REVOKED,
                json!({ "format": "complex", "user": user("u1"), "session": { "format": "opaque" } }),
                json!({}),
            ),
        ] {
            assert!(interpret(&claims, &cx()).is_err(), "{claims:?}");
        }
    }
}
