//! The Security Event Tokens a log event becomes (RFC 8417): explicitly
//! typed `secevent+jwt`, `iss`, `aud` (the stream's receiver), `iat`, `jti`,
//! `txn` (the log `seq`), the subject in `sub_id` (RFC 9493, SSF 1.0 §3)
//! and exactly one event; never `sub` or `exp` (RFC 8417 §2.2 / SSF 1.0
//! §4.1.7). The mapping is deterministic, so a SET delivered again carries
//! the same `jti` and claims (docs/ssf.md has the table).

use serde_json::{Map, Value, json};

use crate::jws::Algorithm;
use crate::revocation::{Event, Initiator, Kind};
use crate::state::AppState;

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
/// Signoff's own event type for token-level revocations CAEP has no event
/// for (docs/ssf.md).
pub const TOKENS_REVOKED: &str = "urn:signoff:secevent:tokens-revoked";
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// Event types a stream can ask for (`events_supported`, SSF 1.0 §8.1.1).
pub const SUPPORTED: &[&str] = &[
    SESSION_REVOKED,
    CREDENTIAL_CHANGE,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    TOKENS_REVOKED,
];

/// RFC 8417 §2.3: explicit typing.
pub const TYP: &str = "secevent+jwt";

/// One SET of a log event, before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub event_type: &'static str,
    pub sub_id: Value,
    pub body: Value,
}

/// The `jti` of the `index`th SET of log event `seq` on a stream.
pub fn jti(stream_id: &str, seq: i64, index: usize) -> String {
    format!("{stream_id}.{seq}.{index}")
}

/// `(seq, index)` of a log SET's `jti` on this stream.
pub fn parse_jti(stream_id: &str, jti: &str) -> Option<(i64, usize)> {
    let rest = jti.strip_prefix(stream_id)?.strip_prefix('.')?;
    let (seq, index) = rest.split_once('.')?;
    Some((seq.parse().ok()?, index.parse().ok()?))
}

/// RFC 9493 §3.2.4 `iss_sub`.
fn user(issuer: &str, user_id: &str) -> Value {
    json!({ "format": "iss_sub", "iss": issuer, "sub": user_id })
}

/// RFC 9493 §3.2.6 `opaque`.
fn opaque(id: &str) -> Value {
    json!({ "format": "opaque", "id": id })
}

/// CAEP 1.0 §2 `initiating_entity`: admin, user, policy or system.
fn initiating_entity(i: Initiator) -> &'static str {
    match i {
        Initiator::User => "user",
        Initiator::Admin => "admin",
        Initiator::Policy => "policy",
        // A client revoking its own tokens is neither the user nor an admin.
        Initiator::System | Initiator::Client => "system",
    }
}

/// The common CAEP members (CAEP 1.0 §2), plus `retain_until`: after it no
/// live token can match (docs/ssf.md).
fn caep(e: &Event) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("event_timestamp".into(), json!(e.created_at));
    body.insert(
        "initiating_entity".into(),
        json!(initiating_entity(e.initiator)),
    );
    if let Some(reason) = &e.reason {
        body.insert("reason_admin".into(), json!({ "en": reason }));
    }
    body.insert("retain_until".into(), json!(e.retain_until));
    body
}

/// `tokens-revoked` with `scope` and the named members.
fn tokens_revoked(e: &Event, scope: &str, members: &[(&str, Value)]) -> Value {
    let mut body = caep(e);
    body.insert("scope".into(), json!(scope));
    for (name, value) in members {
        body.insert((*name).into(), value.clone());
    }
    Value::Object(body)
}

/// The SETs one log event becomes, in order (index = position), before the
/// stream's `events_requested` filter. Empty when it says nothing a
/// resource server could use.
pub fn drafts(issuer: &str, e: &Event) -> Vec<Draft> {
    let user_of = || e.user_id.as_deref().map(|u| user(issuer, u));
    let client_of = || e.client_id.as_deref().map(opaque);
    let version = || json!(e.version.unwrap_or(0));
    let mut out = Vec::new();
    let mut push = |event_type, sub_id: Option<Value>, body: Value| {
        if let Some(sub_id) = sub_id {
            out.push(Draft {
                event_type,
                sub_id,
                body,
            });
        }
    };
    match e.kind {
        // CAEP 1.0 §3.1 session-revoked; the subject is complex (SSF 1.0
        // §3.3): the user and the session.
        Kind::SessionEnded => {
            let sub_id = match (&e.user_id, &e.session_id) {
                (Some(u), Some(s)) => Some(json!({
                    "format": "complex",
                    "user": user(issuer, u),
                    "session": opaque(s),
                })),
                (None, Some(s)) => Some(json!({ "format": "complex", "session": opaque(s) })),
                _ => None,
            };
            push(SESSION_REVOKED, sub_id, Value::Object(caep(e)));
        }
        Kind::GrantRevoked => push(
            TOKENS_REVOKED,
            user_of().or_else(client_of),
            tokens_revoked(
                e,
                "grant",
                &[
                    ("grant_id", json!(e.grant_id)),
                    ("client_id", json!(e.client_id)),
                ],
            ),
        ),
        Kind::TokenRevoked => {
            let sub_id = user_of().or_else(client_of);
            let body = match (&e.jti, &e.token_hash) {
                (Some(jti), _) => tokens_revoked(e, "token", &[("jti", json!(jti))]),
                (None, Some(hash)) => {
                    tokens_revoked(e, "token_hash", &[("token_hash", json!(hash))])
                }
                (None, None) => return out,
            };
            push(TOKENS_REVOKED, sub_id, body);
        }
        Kind::UserTokensVoided => push(
            TOKENS_REVOKED,
            user_of(),
            tokens_revoked(e, "user", &[("version", version())]),
        ),
        // CAEP 1.0 §3.3 credential-change, then the version it bumped.
        Kind::CredentialChanged => {
            let mut body = caep(e);
            body.insert("credential_type".into(), json!("password"));
            body.insert("change_type".into(), json!("update"));
            push(CREDENTIAL_CHANGE, user_of(), Value::Object(body));
            push(
                TOKENS_REVOKED,
                user_of(),
                tokens_revoked(e, "user", &[("version", version())]),
            );
        }
        // RISC 1.0 §2.3 account-disabled, then the version it bumped.
        Kind::UserDisabled => {
            push(ACCOUNT_DISABLED, user_of(), json!({}));
            push(
                TOKENS_REVOKED,
                user_of(),
                tokens_revoked(e, "user", &[("version", version())]),
            );
        }
        // RISC 1.0 §2.4 account-enabled.
        Kind::UserEnabled => push(ACCOUNT_ENABLED, user_of(), json!({})),
        Kind::ClientTokensVoided => push(
            TOKENS_REVOKED,
            client_of(),
            tokens_revoked(
                e,
                "client",
                &[("client_id", json!(e.client_id)), ("version", version())],
            ),
        ),
        Kind::ClientDisabled | Kind::ClientRemoved => push(
            TOKENS_REVOKED,
            client_of(),
            tokens_revoked(
                e,
                if e.kind == Kind::ClientDisabled {
                    "client_disabled"
                } else {
                    "client_removed"
                },
                &[("client_id", json!(e.client_id)), ("version", version())],
            ),
        ),
        // Enabling brings no token back (docs/revocation.md): nothing to say.
        Kind::ClientEnabled => {}
        // Not a revocation: a registration changed, no token died (CAEP has
        // nothing to say to receivers about it).
        Kind::ClientChanged => {}
        Kind::KeyRevoked => push(
            TOKENS_REVOKED,
            e.kid.as_deref().map(opaque),
            tokens_revoked(e, "key", &[("kid", json!(e.kid))]),
        ),
    }
    out
}

/// Sign one SET for the receiver `aud`.
pub fn sign(
    state: &AppState,
    aud: &str,
    jti: &str,
    txn: Option<i64>,
    iat: i64,
    draft: &Draft,
) -> anyhow::Result<String> {
    let key = state
        .keys
        .signer(Algorithm::Rs256, state.now())
        .ok_or_else(|| anyhow::anyhow!("no RS256 signing key is active"))?;
    let mut claims = json!({
        "iss": state.config.issuer_str(),
        "aud": aud,
        "iat": iat,
        "jti": jti,
        "sub_id": draft.sub_id,
        "events": { draft.event_type: draft.body },
    });
    if let Some(seq) = txn {
        // RFC 8417 §2.2 `txn`: the log event the SET comes from.
        claims["txn"] = json!(seq.to_string());
    }
    key.sign(TYP, &claims)
}

/// SSF 1.0 §8.1.4.1: a verification event about the stream, carrying the
/// receiver's `state` if it sent one.
pub fn verification(stream_id: &str, state: Option<&str>) -> Draft {
    let body = match state {
        Some(s) => json!({ "state": s }),
        None => json!({}),
    };
    Draft {
        event_type: VERIFICATION,
        sub_id: opaque(stream_id),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind) -> Event {
        Event {
            seq: 7,
            kind,
            created_at: 100,
            user_id: Some("u1".into()),
            session_id: Some("s1".into()),
            client_id: Some("c1".into()),
            grant_id: Some("g1".into()),
            jti: Some("j1".into()),
            token_hash: None,
            kid: Some("k1".into()),
            version: Some(3),
            reason: Some("rp_initiated".into()),
            initiator: Initiator::User,
            retain_until: 700,
        }
    }

    #[test]
    fn a_session_end_is_one_session_revoked_with_a_complex_subject() {
        let d = drafts("https://op", &event(Kind::SessionEnded));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].event_type, SESSION_REVOKED);
        assert_eq!(d[0].sub_id["format"], "complex");
        assert_eq!(d[0].sub_id["user"]["sub"], "u1");
        assert_eq!(d[0].sub_id["session"]["id"], "s1");
        assert_eq!(d[0].body["initiating_entity"], "user");
        assert_eq!(d[0].body["reason_admin"]["en"], "rp_initiated");
    }

    #[test]
    fn disabling_a_user_says_disabled_and_gives_the_new_version() {
        let d = drafts("https://op", &event(Kind::UserDisabled));
        let types: Vec<_> = d.iter().map(|d| d.event_type).collect();
        assert_eq!(types, [ACCOUNT_DISABLED, TOKENS_REVOKED]);
        assert_eq!(d[1].body["scope"], "user");
        assert_eq!(d[1].body["version"], 3);
    }

    #[test]
    fn every_kind_but_client_enabled_and_changed_becomes_a_set_of_a_supported_type() {
        for kind in Kind::ALL {
            let d = drafts("https://op", &event(kind));
            let silent = matches!(kind, Kind::ClientEnabled | Kind::ClientChanged);
            assert_eq!(d.is_empty(), silent, "{kind}");
            assert!(d.iter().all(|d| SUPPORTED.contains(&d.event_type)));
        }
    }

    #[test]
    fn jtis_round_trip_and_belong_to_their_stream() {
        let jti = jti("abc", 42, 1);
        assert_eq!(parse_jti("abc", &jti), Some((42, 1)));
        assert_eq!(parse_jti("abd", &jti), None);
        assert_eq!(parse_jti("abc", "abc.x.1"), None);
    }
}
