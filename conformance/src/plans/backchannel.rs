//! Back-Channel Logout (oidcc-backchannel-rp-initiated-logout-certification-test-plan),
//! plus the provider-initiated variant. The runner's receiver is the client's
//! backchannel_logout_uri; every logout token it receives is validated per BCL 2.4-2.6.

use super::logout::{end_session, expect_logged_out, expect_redirect};
use super::need;
use crate::checks::{Checks, Halt, Step, shown, skip};
use crate::config::ClientCfg;
use crate::jwt::Jwt;
use crate::op::{IdTok, Op};
use crate::receiver::Received;
use openidconnect::CsrfToken;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const MODULES: &[&str] = &[
    "oidcc-backchannel-logout-discovery-endpoint-verification",
    "oidcc-backchannel-rp-initiated-logout",
    "oidcc-backchannel-idp-initiated-logout",
];

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long the provider gets to deliver the logout token.
const DELIVERY: Duration = Duration::from_secs(10);

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    if !op.flag("backchannel_logout_supported") {
        return skip("discovery does not set backchannel_logout_supported");
    }
    match module {
        "oidcc-backchannel-logout-discovery-endpoint-verification" => {
            if let Some(v) = op.raw.get("backchannel_logout_session_supported") {
                c.check(
                    v.is_boolean(),
                    "BCL 2.1",
                    "backchannel_logout_session_supported is not a boolean",
                );
            }
            // BCL 2.1: the RP-initiated variant needs an end_session_endpoint to start from.
            c.should(
                op.raw.get("end_session_endpoint").is_some(),
                "RP-Initiated Logout 2.1",
                "no end_session_endpoint: RPs cannot start a logout",
            );
            Ok(())
        }
        "oidcc-backchannel-rp-initiated-logout" => rp_initiated(op, c).await,
        "oidcc-backchannel-idp-initiated-logout" => idp_initiated(op, c).await,
        _ => Err(Halt::Error(format!("no module {module}"))),
    }
}

async fn rp_initiated(op: &Op, c: &mut Checks) -> Step {
    let endpoint = op.endpoint("end_session_endpoint")?;
    let client = need(&op.cfg.backchannel, "backchannel")?.clone();
    let browser = op.browser();
    let (_, tokens) = op
        .code_flow(c, &browser, op.request(&client, "openid"))
        .await?;
    let id = tokens.id_token;
    let mark = op.rx.mark();
    let state = CsrfToken::new_random().secret().clone();
    let pl = op.cfg.post_logout_redirect_uri.clone();
    let walk = end_session(
        op,
        &browser,
        &endpoint,
        &[
            ("id_token_hint", &id.raw),
            ("post_logout_redirect_uri", &pl),
            ("state", &state),
        ],
    )
    .await?;
    expect_redirect(c, &walk, &pl, Some(&state))?;
    receive_and_validate(op, c, mark, &client, &id).await?;
    expect_logged_out(op, c, &browser, &client, true).await
}

/// The provider ends the session on its own (an admin action, a password reset...), run
/// by the configured shell command; the RP still gets a logout token.
async fn idp_initiated(op: &Op, c: &mut Checks) -> Step {
    let Some(command) = op.cfg.idp_logout_command.clone() else {
        return skip("no --idp-logout-command configured to end a session at the provider");
    };
    let client = need(&op.cfg.backchannel, "backchannel")?.clone();
    let browser = op.browser();
    let (_, tokens) = op
        .code_flow(c, &browser, op.request(&client, "openid"))
        .await?;
    let id = tokens.id_token;
    let mark = op.rx.mark();
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .env("CONFORMANCE_SUB", &id.sub)
        .env("CONFORMANCE_SID", id.sid().unwrap_or(""))
        .env("CONFORMANCE_USERNAME", &op.cfg.username)
        .env("CONFORMANCE_CLIENT_ID", &client.id)
        .env("CONFORMANCE_ISSUER", &op.cfg.issuer)
        .status()
        .await
        .map_err(|e| Halt::Error(format!("cannot run the idp logout command: {e}")))?;
    if !status.success() {
        return Err(Halt::Error(format!(
            "the idp logout command exited with {status}"
        )));
    }
    receive_and_validate(op, c, mark, &client, &id).await?;
    expect_logged_out(op, c, &browser, &client, true).await
}

/// Waits for the logout request and validates it and its token.
async fn receive_and_validate(
    op: &Op,
    c: &mut Checks,
    mark: usize,
    client: &ClientCfg,
    id: &IdTok,
) -> Step {
    let got = op.rx.wait_for(mark, "/backchannel", DELIVERY).await;
    let Some(req) = got.first() else {
        return Err(c.fail(
            "BCL 2.5",
            format!(
                "no logout request reached the backchannel_logout_uri within {}s",
                DELIVERY.as_secs()
            ),
        ));
    };
    c.should(
        got.len() == 1,
        "BCL 2.5",
        format!("{} logout requests arrived for one session", got.len()),
    );
    validate_request(op, c, req, client, id)
}

fn validate_request(
    op: &Op,
    c: &mut Checks,
    req: &Received,
    client: &ClientCfg,
    id: &IdTok,
) -> Step {
    // BCL 2.5: a POST with a form-encoded logout_token.
    c.check(
        req.method == "POST",
        "BCL 2.5",
        format!("the logout request is a {}", req.method),
    );
    c.check(
        req.header("content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")),
        "BCL 2.5",
        format!("Content-Type is {}", shown(req.header("content-type"))),
    );
    let form = req.form();
    let Some((_, token)) = form.iter().find(|(k, _)| k == "logout_token") else {
        return Err(c.fail("BCL 2.5", "the request has no logout_token parameter"));
    };
    validate_logout_token(op, c, token, client, id)
}

/// BCL 2.4 (claims) and 2.6 (validation), with the ID Token of the session it ends.
pub fn validate_logout_token(
    op: &Op,
    c: &mut Checks,
    token: &str,
    client: &ClientCfg,
    id: &IdTok,
) -> Step {
    let jwt = Jwt::decode(token).map_err(|e| c.fail("BCL 2.4", format!("logout_token: {e}")))?;
    // BCL 2.6 step 3: signed, verified like an ID Token with the provider's keys.
    if let Err(e) = jwt.verify(op.meta.jwks()) {
        return Err(c.fail("BCL 2.6", format!("logout_token signature: {e}")));
    }
    c.check(
        op.advertises("id_token_signing_alg_values_supported", jwt.alg()),
        "BCL 2.6",
        format!(
            "logout_token alg {} is not an advertised ID Token alg",
            jwt.alg()
        ),
    );
    c.should(
        jwt.header.get("typ").and_then(Value::as_str) == Some("logout+jwt"),
        "BCL 2.4",
        format!(
            "typ is {}; logout+jwt is RECOMMENDED",
            shown(jwt.header.get("typ").and_then(Value::as_str))
        ),
    );
    c.check(
        jwt.str_claim("iss") == Some(op.meta.issuer().as_str()),
        "BCL 2.6",
        format!("iss is {}", shown(jwt.str_claim("iss"))),
    );
    let aud_ok = match jwt.claims.get("aud") {
        Some(Value::String(a)) => a == &client.id,
        Some(Value::Array(a)) => a.iter().any(|v| v == client.id.as_str()),
        _ => false,
    };
    c.check(
        aud_ok,
        "BCL 2.6",
        format!(
            "aud {} does not name the client",
            jwt.claims
                .get("aud")
                .map_or("absent".into(), Value::to_string)
        ),
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match jwt.num_claim("iat") {
        Some(iat) => {
            c.check(
                (iat - now).abs() <= 300,
                "BCL 2.6",
                format!("iat {iat} is more than 5 minutes from now ({now})"),
            );
        }
        None => {
            c.check(false, "BCL 2.4", "iat is missing");
        }
    }
    match jwt.num_claim("exp") {
        Some(exp) => {
            c.check(exp > now - 60, "BCL 2.4", format!("exp {exp} has passed"));
        }
        None => {
            c.check(false, "BCL 2.4", "exp is missing");
        }
    }
    c.check(
        jwt.str_claim("jti").is_some_and(|j| !j.is_empty()),
        "BCL 2.4",
        "jti is missing",
    );
    let event_ok = jwt
        .claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|e| e.get(EVENT))
        .is_some_and(Value::is_object);
    c.check(
        event_ok,
        "BCL 2.4",
        format!("events does not hold {EVENT} with an object value"),
    );
    let sub = jwt.str_claim("sub");
    let sid = jwt.str_claim("sid");
    c.check(
        sub.is_some() || sid.is_some(),
        "BCL 2.4",
        "neither sub nor sid is present",
    );
    if let Some(sub) = sub {
        c.check(
            sub == id.sub,
            "BCL 2.4",
            format!("sub {sub:?} is not the session's user"),
        );
    }
    if let Some(sid) = sid {
        c.check(
            Some(sid) == id.sid(),
            "BCL 2.4",
            format!(
                "sid {sid:?} differs from the ID Token's sid {}",
                shown(id.sid())
            ),
        );
    } else {
        // BCL 2.1: a provider that supports sessions includes sid when the client asked.
        c.should(
            !(op.flag("backchannel_logout_session_supported") && id.sid().is_some()),
            "BCL 2.1",
            "the ID Token carries sid but the logout token does not",
        );
    }
    c.check(
        jwt.claims.get("nonce").is_none(),
        "BCL 2.4",
        "a logout token MUST NOT contain nonce",
    );
    Ok(())
}
