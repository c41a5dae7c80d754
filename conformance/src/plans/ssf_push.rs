//! Push delivery (RFC 8935) modules of openid-ssf-transmitter-test-plan
//! (`openid-ssf-transmitter-stream-verification-push`, `openid-ssf-transmitter-events` with
//! the push delivery variant) and of openid-ssf-transmitter-caep-test-plan
//! (`openid-ssf-transmitter-stream-caep-interop` with the push variant, listed as `…[push]`).
//!
//! The runner's own receiver (`receiver_bind`, plain http on loopback) is the push
//! endpoint, so the transmitter must allow it (Signoff: `ssf.push_allow_private`). Under
//! `--ssf-fault` every pushed SET is corrupted before it is judged: its signature must
//! then fail.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::ssf::{
    Ctx, SESSION_REVOKED, VERIFICATION, check_set, end_session_at_provider, session_revoked,
};
use crate::checks::{Checks, Step, skip};

const PUSH: &str = "urn:ietf:rfc:8935";
/// RFC 8935 §2: the media type of a pushed SET.
const SET_TYPE: &str = "application/secevent+jwt";
/// What the stream asks the transmitter to send in `Authorization` (SSF 1.0 §8.1.1).
const AUTHORIZATION: &str = "Bearer conformance-push-credential";

/// A push stream delivering to the runner's receiver at `path`: `(stream_id, aud)`.
async fn open_push_stream(
    x: &Ctx<'_>,
    c: &mut Checks,
    token: &str,
    path: &str,
) -> Step<(String, String)> {
    let url = format!("http://{}{path}", x.op.cfg.receiver_bind);
    let body = json!({
        "delivery": { "method": PUSH, "endpoint_url": url, "authorization_header": AUTHORIZATION },
        "description": "conformance push",
    });
    let r = x
        .send(
            Method::POST,
            &x.url("configuration_endpoint")?,
            Some(token),
            Some(body.to_string()),
        )
        .await?;
    if r.status == 400 && r.brief().contains("endpoint_url") {
        return skip(format!(
            "the transmitter refuses the runner's push endpoint {url}: {}",
            r.brief()
        ));
    }
    c.require(
        r.status == 201,
        "SSF 1.0 §8.1.1.1",
        format!("create a push stream: {}", r.brief()),
    )?;
    let id = r.str("stream_id").unwrap_or_default().to_owned();
    let aud = r.str("aud").unwrap_or_default().to_owned();
    c.require(!id.is_empty(), "SSF 1.0 §8.1.1.1", "no stream_id")?;
    Ok((id, aud))
}

/// Wait (30 s at most) for SETs pushed to `path` after `mark`, checking each envelope,
/// until one satisfies `wanted`; its claims.
async fn pushed(
    x: &Ctx<'_>,
    c: &mut Checks,
    mark: usize,
    path: &str,
    aud: &str,
    wanted: impl Fn(&Map<String, Value>) -> bool,
) -> Step<Option<Map<String, Value>>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let got = x.op.rx.wait_for(mark, path, left).await;
        for req in got.iter().skip(seen) {
            c.check(
                req.method == "POST",
                "RFC 8935 §2",
                format!("a push is a {} request", req.method),
            );
            c.check(
                req.header("content-type")
                    .is_some_and(|t| t.starts_with(SET_TYPE)),
                "RFC 8935 §2",
                format!("content-type is {:?}", req.header("content-type")),
            );
            c.check(
                req.header("authorization") == Some(AUTHORIZATION),
                "SSF 1.0 §8.1.1 authorization_header",
                "the push does not carry the stream's authorization_header",
            );
            let mut raw = String::from_utf8_lossy(&req.body).trim().to_owned();
            if x.faulted() {
                raw.push('A');
            }
            let claims = check_set(x, c, &raw, None, aud)?;
            if wanted(&claims) {
                return Ok(Some(claims));
            }
        }
        seen = got.len();
    }
}

/// `openid-ssf-transmitter-stream-verification-push` and, with `events`,
/// `openid-ssf-transmitter-events` (push variant): a verification event asked for
/// (SSF 1.0 §8.1.4.2) arrives by push with the receiver's `state` and, for `events`, the
/// stream as its subject (§8.1.4.1).
pub async fn verification(x: &Ctx<'_>, c: &mut Checks, token: &str, events: bool) -> Step {
    let path = format!("/ssf-push/{}", x.module);
    let mark = x.op.rx.mark();
    let (id, aud) = open_push_stream(x, c, token, &path).await?;
    let state = format!("conformance-push-{}", std::process::id());
    let body = json!({ "stream_id": id, "state": state });
    let r = x
        .send(
            Method::POST,
            &x.url("verification_endpoint")?,
            Some(token),
            Some(body.to_string()),
        )
        .await?;
    c.check(
        r.status == 204 || r.status == 200,
        "SSF 1.0 §8.1.4.2",
        format!("verification request: {}", r.brief()),
    );
    let found = pushed(x, c, mark, &path, &aud, |cl| {
        cl.get("events")
            .and_then(|e| e.get(VERIFICATION))
            .and_then(|v| v.get("state"))
            == Some(&json!(state))
    })
    .await?;
    match found {
        Some(cl) => {
            if events {
                c.check(
                    cl.get("sub_id") == Some(&json!({ "format": "opaque", "id": id })),
                    "SSF 1.0 §8.1.4.1",
                    "the verification event's subject is not the stream",
                );
            }
        }
        None => {
            c.check(
                false,
                "SSF 1.0 §8.1.4.2",
                "no verification event with the receiver's state was pushed",
            );
        }
    }
    x.delete(token, &id).await?;
    Ok(())
}

/// `openid-ssf-transmitter-stream-caep-interop` with push delivery: CAEP 1.0 §3.1
/// session-revoked pushed for a session the provider ended.
pub async fn caep(x: &Ctx<'_>, c: &mut Checks, token: &str) -> Step {
    let Some(command) = x.op.cfg.idp_logout_command.clone() else {
        return skip("no --idp-logout-command configured to end a session at the provider");
    };
    let path = "/ssf-push/caep-interop";
    let (id, aud) = open_push_stream(x, c, token, path).await?;
    let mark = x.op.rx.mark();
    let sid = end_session_at_provider(x, c, &command).await?;
    let found = pushed(x, c, mark, path, &aud, |cl| {
        cl.get("events")
            .and_then(|e| e.get(SESSION_REVOKED))
            .is_some()
            && cl
                .get("sub_id")
                .and_then(|s| s.pointer("/session/id"))
                .and_then(Value::as_str)
                == Some(sid.as_str())
    })
    .await?;
    if let Some(cl) = &found {
        let entity = cl
            .get("events")
            .and_then(|e| e.get(SESSION_REVOKED))
            .and_then(|e| e.get("initiating_entity"))
            .and_then(Value::as_str);
        c.check(
            entity.is_none_or(|e| ["admin", "user", "policy", "system"].contains(&e)),
            "CAEP 1.0 §2 initiating_entity",
            format!("initiating_entity is {entity:?}"),
        );
    }
    session_revoked(c, found);
    x.delete(token, &id).await?;
    Ok(())
}
