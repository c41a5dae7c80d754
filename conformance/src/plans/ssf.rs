//! openid-ssf-transmitter-test-plan (OpenID Shared Signals Framework 1.0): a black-box
//! receiver over HTTP. Module names are the Foundation's; CAEP delivery by poll mirrors
//! openid-ssf-transmitter-caep-test-plan's session-revoked check.
//!
//! Needs two client_credentials clients: `ssf` (scope ssf.manage) and `ssf_read` (scope
//! ssf.read only); without them every module is SKIPPED. `--ssf-fault MODULE` stands a
//! defective transmitter in for the real one in that module (the answer its key check
//! judges is corrupted): the module must then FAIL, which proves it can.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::need;
use crate::checks::{Checks, Halt, Step, skip};
use crate::config::ClientCfg;
use crate::jwt::Jwt;
use crate::op::{Op, Reply};

pub const MODULES: &[&str] = &[
    "openid-ssf-transmitter-metadata",
    "openid-ssf-stream-control-happy-path",
    "openid-ssf-stream-control-error-create-stream-with-broken-input",
    "openid-ssf-stream-control-error-create-stream-with-invalid-token",
    "openid-ssf-stream-control-error-create-stream-with-read-only-token",
    "openid-ssf-stream-control-error-read-stream-without-token",
    "openid-ssf-stream-control-error-read-stream-with-token-in-uri-query",
    "openid-ssf-stream-control-error-read-unknown-stream",
    "openid-ssf-stream-control-error-update-unknown-stream",
    "openid-ssf-stream-control-error-replace-unknown-stream",
    "openid-ssf-stream-control-error-delete-unknown-stream",
    "openid-ssf-transmitter-stream-verification-poll-and-ack",
    "openid-ssf-transmitter-stream-caep-interop",
    // Push delivery (RFC 8935): ssf_push.rs. The CAEP plan's module runs with the
    // push delivery variant as well; `[push]` names that variant.
    "openid-ssf-transmitter-stream-verification-push",
    "openid-ssf-transmitter-events",
    "openid-ssf-transmitter-stream-caep-interop[push]",
    // Subjects (SSF 1.0 §8.1.3): ssf_subjects.rs.
    "openid-ssf-stream-subject-control",
];

const POLL: &str = "urn:ietf:rfc:8936";
pub(super) const VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";
pub(super) const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const UNKNOWN: &str = "no-such-stream-0000";

pub(super) struct Ctx<'a> {
    pub(super) op: &'a Op,
    pub(super) module: &'static str,
    pub(super) meta: Value,
}

impl Ctx<'_> {
    pub(super) fn faulted(&self) -> bool {
        self.op.cfg.ssf_fault.as_deref() == Some(self.module)
    }

    /// The answer a module's key check judges, as the defective transmitter would give it.
    pub(super) fn judged(&self, mut r: Reply) -> Reply {
        if self.faulted() {
            r.status = if r.status < 300 { 500 } else { 200 };
            r.json = json!({});
        }
        r
    }

    pub(super) fn url(&self, field: &str) -> Step<String> {
        self.meta
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Halt::Error(format!("the transmitter metadata has no {field}")))
    }

    pub(super) async fn token(&self, client: &ClientCfg) -> Step<String> {
        let r = self
            .op
            .token_raw(client, &[("grant_type", "client_credentials")])
            .await?;
        r.str("access_token").map(str::to_owned).ok_or_else(|| {
            Halt::Error(format!(
                "no client_credentials token for {}: {}",
                client.id,
                r.brief()
            ))
        })
    }

    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Step<Reply> {
        let mut req = self.op.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        Reply::read(req.timeout(Duration::from_secs(30)).send().await?).await
    }

    pub(super) async fn create(&self, token: &str) -> Step<Reply> {
        let body = json!({ "delivery": { "method": POLL }, "description": "conformance" });
        self.send(
            Method::POST,
            &self.url("configuration_endpoint")?,
            Some(token),
            Some(body.to_string()),
        )
        .await
    }

    pub(super) async fn delete(&self, token: &str, id: &str) -> Step<Reply> {
        let url = format!("{}?stream_id={id}", self.url("configuration_endpoint")?);
        self.send(Method::DELETE, &url, Some(token), None).await
    }
}

/// SSF 1.0 §7.2: the metadata URL for an issuer, path form included.
fn metadata_url(issuer: &url::Url) -> String {
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("/.well-known/ssf-configuration{path}"));
    url.to_string()
}

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    let module = MODULES
        .iter()
        .copied()
        .find(|m| *m == module)
        .ok_or_else(|| Halt::Error(format!("unknown module {module}")))?;
    let manage = need(&op.cfg.ssf, "ssf")?.clone();
    let r = Reply::read(op.http.get(metadata_url(&op.issuer)).send().await?).await?;
    if r.status == 404 {
        return skip("the provider serves no /.well-known/ssf-configuration");
    }
    let mut x = Ctx {
        op,
        module,
        meta: Value::Null,
    };
    if module == "openid-ssf-transmitter-metadata" {
        return metadata(&x, c, r);
    }
    c.require(
        r.status == 200,
        "SSF 1.0 §7.2",
        format!("metadata: {}", r.brief()),
    )?;
    x.meta = r.json;
    let token = x.token(&manage).await?;
    match module {
        "openid-ssf-stream-control-happy-path" => happy_path(&x, c, &token).await,
        "openid-ssf-stream-control-error-create-stream-with-broken-input" => {
            let r = x
                .send(
                    Method::POST,
                    &x.url("configuration_endpoint")?,
                    Some(&token),
                    Some("{\"delivery\": ".into()),
                )
                .await?;
            expect(&x, c, r, &[400], "SSF 1.0 §8.1.1.1: malformed JSON is 400")
        }
        "openid-ssf-stream-control-error-create-stream-with-invalid-token" => {
            let r = x.create("not-a-valid-token").await?;
            expect(
                &x,
                c,
                r,
                &[401],
                "SSF 1.0 §8.1.1.1: an invalid token is 401",
            )
        }
        "openid-ssf-stream-control-error-create-stream-with-read-only-token" => {
            let reader = need(&op.cfg.ssf_read, "ssf_read")?.clone();
            let read_only = x.token(&reader).await?;
            let r = x.create(&read_only).await?;
            if r.status == 201
                && let Some(id) = r.str("stream_id")
            {
                x.delete(&token, id).await?;
            }
            expect(
                &x,
                c,
                r,
                &[403],
                "SSF 1.0 §8.1.1.1: a token without the manage scope is 403",
            )
        }
        "openid-ssf-stream-control-error-read-stream-without-token" => {
            let r = x
                .send(Method::GET, &x.url("configuration_endpoint")?, None, None)
                .await?;
            expect(
                &x,
                c,
                r,
                &[401],
                "SSF 1.0 §8.1.1.2 / RFC 6750 §3.1: no token is 401",
            )
        }
        "openid-ssf-stream-control-error-read-stream-with-token-in-uri-query" => {
            let url = format!("{}?access_token={token}", x.url("configuration_endpoint")?);
            let r = x.send(Method::GET, &url, None, None).await?;
            expect(
                &x,
                c,
                r,
                &[400, 401],
                "RFC 6750 §5.3: a token in the URI query is refused",
            )
        }
        "openid-ssf-stream-control-error-read-unknown-stream" => {
            let url = format!("{}?stream_id={UNKNOWN}", x.url("configuration_endpoint")?);
            let r = x.send(Method::GET, &url, Some(&token), None).await?;
            expect(
                &x,
                c,
                r,
                &[404],
                "SSF 1.0 §8.1.1.2: an unknown stream is 404",
            )
        }
        "openid-ssf-stream-control-error-update-unknown-stream"
        | "openid-ssf-stream-control-error-replace-unknown-stream" => {
            let method = if module.contains("update") {
                Method::PATCH
            } else {
                Method::PUT
            };
            let body = json!({ "stream_id": UNKNOWN, "delivery": { "method": POLL } });
            let r = x
                .send(
                    method,
                    &x.url("configuration_endpoint")?,
                    Some(&token),
                    Some(body.to_string()),
                )
                .await?;
            expect(
                &x,
                c,
                r,
                &[404],
                "SSF 1.0 §8.1.1.3/§8.1.1.4: an unknown stream is 404",
            )
        }
        "openid-ssf-stream-control-error-delete-unknown-stream" => {
            let r = x.delete(&token, UNKNOWN).await?;
            expect(
                &x,
                c,
                r,
                &[404],
                "SSF 1.0 §8.1.1.5: an unknown stream is 404",
            )
        }
        "openid-ssf-transmitter-stream-verification-poll-and-ack" => {
            verification(&x, c, &token).await
        }
        "openid-ssf-transmitter-stream-caep-interop" => caep(&x, c, &token).await,
        "openid-ssf-transmitter-stream-verification-push" => {
            super::ssf_push::verification(&x, c, &token, false).await
        }
        "openid-ssf-transmitter-events" => super::ssf_push::verification(&x, c, &token, true).await,
        "openid-ssf-transmitter-stream-caep-interop[push]" => {
            super::ssf_push::caep(&x, c, &token).await
        }
        "openid-ssf-stream-subject-control" => {
            super::ssf_subjects::subject_control(&x, c, &token).await
        }
        _ => Err(Halt::Error(format!("unknown module {module}"))),
    }
}

pub(super) fn expect(x: &Ctx<'_>, c: &mut Checks, r: Reply, statuses: &[u16], spec: &str) -> Step {
    let r = x.judged(r);
    c.check(
        statuses.contains(&r.status),
        spec,
        format!("got {}", r.brief()),
    );
    Ok(())
}

fn metadata(x: &Ctx<'_>, c: &mut Checks, r: Reply) -> Step {
    let r = x.judged(r);
    c.require(
        r.status == 200,
        "SSF 1.0 §7.2",
        format!("metadata: {}", r.brief()),
    )?;
    let m = &r.json;
    let issuer = x.op.cfg.issuer.trim_end_matches('/');
    c.check(
        m.get("issuer")
            .and_then(Value::as_str)
            .map(|s| s.trim_end_matches('/'))
            == Some(issuer),
        "SSF 1.0 §7.1 issuer",
        format!("issuer is {:?}", m.get("issuer")),
    );
    c.check(
        m.get("spec_version") == Some(&json!("1_0")),
        "SSF 1.0 §7.1 spec_version",
        "spec_version is not 1_0",
    );
    for field in ["jwks_uri", "configuration_endpoint"] {
        c.check(
            m.get(field).and_then(Value::as_str).is_some(),
            "SSF 1.0 §7.1",
            format!("no {field}"),
        );
    }
    let methods = m
        .get("delivery_methods_supported")
        .and_then(Value::as_array);
    c.check(
        methods.is_some_and(|v| {
            v.iter()
                .all(|x| x.as_str().is_some_and(|s| s.starts_with("urn:")))
        }),
        "SSF 1.0 §7.1 delivery_methods_supported",
        "delivery_methods_supported is not a list of URNs",
    );
    c.should(
        m.get("authorization_schemes")
            .and_then(Value::as_array)
            .is_some_and(|v| !v.is_empty()),
        "SSF 1.0 §7.1 authorization_schemes",
        "no authorization_schemes",
    );
    Ok(())
}

async fn happy_path(x: &Ctx<'_>, c: &mut Checks, token: &str) -> Step {
    let created = x.judged(x.create(token).await?);
    c.require(
        created.status == 201,
        "SSF 1.0 §8.1.1.1",
        format!("create: {}", created.brief()),
    )?;
    let id = created.str("stream_id").unwrap_or_default().to_owned();
    c.require(!id.is_empty(), "SSF 1.0 §8.1.1.1", "no stream_id")?;
    c.check(
        created.str("iss").map(|s| s.trim_end_matches('/'))
            == Some(x.op.cfg.issuer.trim_end_matches('/')),
        "SSF 1.0 §8.1.1.1 iss",
        "iss is not the issuer",
    );
    let endpoint = x.url("configuration_endpoint")?;
    let read = x
        .send(
            Method::GET,
            &format!("{endpoint}?stream_id={id}"),
            Some(token),
            None,
        )
        .await?;
    c.check(
        read.status == 200 && read.str("stream_id") == Some(&id),
        "SSF 1.0 §8.1.1.2",
        format!("read: {}", read.brief()),
    );
    let patch = json!({ "stream_id": id, "description": "patched" });
    let updated = x
        .send(
            Method::PATCH,
            &endpoint,
            Some(token),
            Some(patch.to_string()),
        )
        .await?;
    c.check(
        updated.status == 200 && updated.str("description") == Some("patched"),
        "SSF 1.0 §8.1.1.3",
        format!("update: {}", updated.brief()),
    );
    let put = json!({ "stream_id": id, "delivery": { "method": POLL } });
    let replaced = x
        .send(Method::PUT, &endpoint, Some(token), Some(put.to_string()))
        .await?;
    c.check(
        replaced.status == 200,
        "SSF 1.0 §8.1.1.4",
        format!("replace: {}", replaced.brief()),
    );
    if let Ok(status_url) = x.url("status_endpoint") {
        let s = x
            .send(
                Method::GET,
                &format!("{status_url}?stream_id={id}"),
                Some(token),
                None,
            )
            .await?;
        c.check(
            s.str("status") == Some("enabled"),
            "SSF 1.0 §8.1.2.1",
            format!("status: {}", s.brief()),
        );
    }
    let deleted = x.delete(token, &id).await?;
    c.check(
        deleted.status == 204 || deleted.status == 200,
        "SSF 1.0 §8.1.1.5",
        format!("delete: {}", deleted.brief()),
    );
    let gone = x
        .send(
            Method::GET,
            &format!("{endpoint}?stream_id={id}"),
            Some(token),
            None,
        )
        .await?;
    c.check(
        gone.status == 404,
        "SSF 1.0 §8.1.1.2",
        format!("read after delete: {}", gone.brief()),
    );
    Ok(())
}

/// Poll until `wanted` matches a SET, acknowledging everything; the SET's claims.
async fn poll_for(
    x: &Ctx<'_>,
    c: &mut Checks,
    token: &str,
    endpoint: &str,
    aud: &str,
    wanted: impl Fn(&serde_json::Map<String, Value>) -> bool,
) -> Step<Option<serde_json::Map<String, Value>>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut ack: Vec<String> = Vec::new();
    let mut found = None;
    while tokio::time::Instant::now() < deadline {
        let body = json!({ "ack": ack, "returnImmediately": found.is_some(), "maxEvents": 100 });
        let r = x
            .send(Method::POST, endpoint, Some(token), Some(body.to_string()))
            .await?;
        c.require(
            r.status == 200,
            "RFC 8936 §2.4",
            format!("poll: {}", r.brief()),
        )?;
        let sets = r
            .json
            .get("sets")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if found.is_some() {
            // RFC 8936 §2.4.3: an acknowledged SET is not delivered again.
            c.check(
                !sets.keys().any(|k| ack.contains(k)),
                "RFC 8936 §2.4.3",
                "an acknowledged SET was delivered again",
            );
            return Ok(found);
        }
        ack = sets.keys().cloned().collect();
        for (jti, set) in &sets {
            let mut raw = set.as_str().unwrap_or_default().to_owned();
            if x.faulted() {
                raw.push('A');
            }
            let claims = check_set(x, c, &raw, Some(jti), aud)?;
            if wanted(&claims) {
                found = Some(claims);
            }
        }
    }
    Ok(found)
}

/// RFC 8417 / SSF 1.0 §4: the envelope and signature of one SET.
pub(super) fn check_set(
    x: &Ctx<'_>,
    c: &mut Checks,
    raw: &str,
    jti: Option<&str>,
    aud: &str,
) -> Step<serde_json::Map<String, Value>> {
    let jwt = Jwt::decode(raw).map_err(|e| c.fail("RFC 8417 §2", e))?;
    c.check(
        jwt.header.get("typ") == Some(&json!("secevent+jwt")),
        "RFC 8417 §2.3 typ",
        "typ is not secevent+jwt",
    );
    if let Err(e) = jwt.verify(x.op.meta.jwks()) {
        c.check(
            false,
            "SSF 1.0 §4.1 signature",
            format!("the SET does not verify: {e}"),
        );
    }
    let cl = &jwt.claims;
    c.check(
        jwt.str_claim("iss").map(|s| s.trim_end_matches('/'))
            == Some(x.op.cfg.issuer.trim_end_matches('/')),
        "RFC 8417 §2.2 iss",
        "iss",
    );
    c.check(
        jti.is_none_or(|j| jwt.str_claim("jti") == Some(j)),
        "RFC 8936 §2.3",
        "the member name is not the SET's jti",
    );
    c.check(
        jwt.str_claim("jti").is_some_and(|j| !j.is_empty()),
        "RFC 8417 §2.2 jti",
        "no jti",
    );
    c.check(
        jwt.num_claim("iat").is_some(),
        "RFC 8417 §2.2 iat",
        "no iat",
    );
    c.check(
        jwt.str_claim("aud") == Some(aud)
            || cl
                .get("aud")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == aud)),
        "SSF 1.0 §4.1.2 aud",
        "aud is not the stream's",
    );
    c.check(
        cl.get("sub_id").is_some_and(Value::is_object),
        "SSF 1.0 §4.1.1 sub_id",
        "no sub_id",
    );
    c.check(
        cl.get("sub").is_none() && cl.get("exp").is_none(),
        "SSF 1.0 §4.1.7 / RFC 8417 §2.2",
        "sub or exp present",
    );
    c.check(
        cl.get("events")
            .and_then(Value::as_object)
            .is_some_and(|e| e.len() == 1),
        "SSF 1.0 §4.1.8",
        "not exactly one event",
    );
    Ok(cl.clone())
}

async fn open_stream(x: &Ctx<'_>, c: &mut Checks, token: &str) -> Step<(String, String, String)> {
    let created = x.create(token).await?;
    c.require(
        created.status == 201,
        "SSF 1.0 §8.1.1.1",
        format!("create: {}", created.brief()),
    )?;
    let id = created.str("stream_id").unwrap_or_default().to_owned();
    let endpoint = created
        .json
        .pointer("/delivery/endpoint_url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let aud = created
        .json
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    c.require(!endpoint.is_empty(), "RFC 8936 §2", "no poll endpoint_url")?;
    Ok((id, endpoint, aud))
}

async fn verification(x: &Ctx<'_>, c: &mut Checks, token: &str) -> Step {
    let (id, endpoint, aud) = open_stream(x, c, token).await?;
    let state = format!("conformance-{}", std::process::id());
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
    let found = poll_for(x, c, token, &endpoint, &aud, |cl| {
        cl.get("events").and_then(|e| e.get(VERIFICATION)).is_some()
    })
    .await?;
    match found {
        Some(cl) => {
            let event = &cl["events"][VERIFICATION];
            c.check(
                event.get("state") == Some(&json!(state)),
                "SSF 1.0 §8.1.4.1",
                "the state is not the receiver's",
            );
        }
        None => {
            c.check(
                false,
                "SSF 1.0 §8.1.4.2",
                "no verification event was delivered",
            );
        }
    }
    x.delete(token, &id).await?;
    Ok(())
}

/// CAEP 1.0 §3.1 session-revoked for a session the provider ended.
async fn caep(x: &Ctx<'_>, c: &mut Checks, token: &str) -> Step {
    let Some(command) = x.op.cfg.idp_logout_command.clone() else {
        return skip("no --idp-logout-command configured to end a session at the provider");
    };
    let (id, endpoint, aud) = open_stream(x, c, token).await?;
    // Drain what the stream starts with.
    poll_for(x, c, token, &endpoint, &aud, |_| false).await.ok();
    let sid = end_session_at_provider(x, c, &command).await?;
    let found = poll_for(x, c, token, &endpoint, &aud, |cl| {
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
    session_revoked(c, found);
    x.delete(token, &id).await?;
    Ok(())
}

/// Sign in with the main client, then end that session at the provider with
/// `command` (`--idp-logout-command`); the session's `sid`.
pub(super) async fn end_session_at_provider(
    x: &Ctx<'_>,
    c: &mut Checks,
    command: &str,
) -> Step<String> {
    let browser = x.op.browser();
    let (_, tokens) =
        x.op.code_flow(c, &browser, x.op.request(&x.op.cfg.main, "openid"))
            .await?;
    let sid = tokens.id_token.sid().unwrap_or_default().to_owned();
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("CONFORMANCE_SUB", &tokens.id_token.sub)
        .env("CONFORMANCE_SID", &sid)
        .env("CONFORMANCE_USERNAME", &x.op.cfg.username)
        .env("CONFORMANCE_ISSUER", &x.op.cfg.issuer)
        .status()
        .await
        .map_err(|e| Halt::Error(format!("cannot run the idp logout command: {e}")))?;
    if !status.success() {
        return Err(Halt::Error(format!(
            "the idp logout command exited with {status}"
        )));
    }
    Ok(sid)
}

/// CAEP 1.0 §3.1: the session-revoked SET found for the ended session, if any.
pub(super) fn session_revoked(c: &mut Checks, found: Option<serde_json::Map<String, Value>>) {
    match found {
        Some(cl) => {
            let event = &cl["events"][SESSION_REVOKED];
            c.check(
                event.get("event_timestamp").is_some_and(Value::is_i64),
                "CAEP 1.0 §2 event_timestamp",
                "no event_timestamp",
            );
            c.check(
                cl.get("sub_id").and_then(|s| s.get("format")) == Some(&json!("complex")),
                "SSF 1.0 §3.3",
                "the subject is not complex",
            );
        }
        None => {
            c.check(
                false,
                "CAEP 1.0 §3.1",
                "no session-revoked for the ended session",
            );
        }
    }
}
