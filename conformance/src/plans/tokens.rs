//! OAuth token management (not an OpenID Foundation plan): RFC 7009 revocation,
//! RFC 7662 introspection, client authentication at the token endpoint, and refresh
//! token rotation with reuse detection (RFC 9700 4.14.2).

use crate::checks::{Checks, Halt, Step, shown, skip};
use crate::config::{AuthMethod, ClientCfg};
use crate::op::{Op, Reply, Tokens, UserInfoCall};
use openidconnect::CsrfToken;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

pub const MODULES: &[&str] = &[
    "signoff-token-invalid-client-secret",
    "signoff-revocation-refresh-token",
    "signoff-revocation-access-token",
    "signoff-revocation-unknown-token",
    "signoff-revocation-requires-client-auth",
    "signoff-introspection-requires-client-auth",
    "signoff-introspection-active",
    "signoff-introspection-inactive",
    "signoff-refresh-rotation",
    "signoff-refresh-reuse-detection",
];

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    match module {
        "signoff-token-invalid-client-secret" => invalid_client(op, c).await,
        "signoff-revocation-refresh-token" => revoke_refresh(op, c).await,
        "signoff-revocation-access-token" => revoke_access(op, c).await,
        "signoff-revocation-unknown-token" => revoke_unknown(op, c).await,
        "signoff-revocation-requires-client-auth" => {
            unauthenticated(op, c, "revocation_endpoint", "RFC 7009 2.1").await
        }
        "signoff-introspection-requires-client-auth" => {
            unauthenticated(op, c, "introspection_endpoint", "RFC 7662 2.1").await
        }
        "signoff-introspection-active" => introspect_active(op, c).await,
        "signoff-introspection-inactive" => introspect_inactive(op, c).await,
        "signoff-refresh-rotation" => rotation(op, c, false).await,
        "signoff-refresh-reuse-detection" => rotation(op, c, true).await,
        _ => Err(Halt::Error(format!("no module {module}"))),
    }
}

/// Logs in asking for a refresh token (OIDC Core 11: offline_access with prompt=consent).
async fn with_refresh(op: &Op, c: &mut Checks) -> Step<(Tokens, String)> {
    if op.raw.get("grant_types_supported").is_some()
        && !op.advertises("grant_types_supported", "refresh_token")
    {
        return skip("grant_types_supported does not list refresh_token");
    }
    let scope = if op.advertises("scopes_supported", "offline_access") {
        "openid offline_access"
    } else {
        "openid"
    };
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, scope);
    req.set("prompt", "consent");
    let (_, tokens) = op.code_flow(c, &browser, req).await?;
    match tokens.refresh_token.clone() {
        Some(rt) => Ok((tokens, rt)),
        None => skip("the provider issued no refresh token"),
    }
}

async fn refresh(op: &Op, client: &ClientCfg, rt: &str) -> Step<Reply> {
    op.token_raw(
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

async fn post_to(op: &Op, field: &str, form: &[(&str, &str)]) -> Step<Reply> {
    let endpoint = op.endpoint(field)?;
    op.authed_post(Some(endpoint), &op.cfg.main, form).await
}

/// RFC 6749 §5.2: a wrong secret is invalid_client, 401 when sent with Basic auth.
async fn invalid_client(op: &Op, c: &mut Checks) -> Step {
    let mut wrong = op.cfg.main.clone();
    wrong.secret = Some(format!("wrong-{}", CsrfToken::new_random().secret()));
    wrong.auth = AuthMethod::ClientSecretBasic;
    let reply = op
        .token_raw(
            &wrong,
            &[
                ("grant_type", "authorization_code"),
                ("code", "conformance-not-a-code"),
                ("redirect_uri", &op.cfg.redirect_uri),
            ],
        )
        .await?;
    c.check(
        reply.status == 401 && reply.error() == Some("invalid_client"),
        "RFC 6749 5.2",
        format!(
            "a wrong client secret must give 401 invalid_client, got {}",
            reply.brief()
        ),
    );
    c.should(
        reply.header("www-authenticate").is_some(),
        "RFC 6749 5.2",
        "the 401 carries no WWW-Authenticate header",
    );
    Ok(())
}

/// RFC 7009 §2.1-2.2: revoking a refresh token answers 200 and the token stops working;
/// access tokens of the same grant SHOULD go too.
async fn revoke_refresh(op: &Op, c: &mut Checks) -> Step {
    op.endpoint("revocation_endpoint")?;
    let (tokens, rt) = with_refresh(op, c).await?;
    let reply = post_to(
        op,
        "revocation_endpoint",
        &[("token", &rt), ("token_type_hint", "refresh_token")],
    )
    .await?;
    c.require(
        reply.status == 200,
        "RFC 7009 2.2",
        format!("revocation answered {}", reply.brief()),
    )?;
    let after = refresh(op, &op.cfg.main, &rt).await?;
    c.check(
        after.status == 400 && after.error() == Some("invalid_grant"),
        "RFC 7009 2.2",
        format!("a revoked refresh token still refreshes: {}", after.brief()),
    );
    let ui = op
        .userinfo(&tokens.access_token, UserInfoCall::GetHeader)
        .await?;
    c.should(
        ui.status == 401,
        "RFC 7009 2.1",
        "the access token of a revoked refresh token's grant still works at UserInfo",
    );
    Ok(())
}

/// RFC 7009 §2: access token revocation is a SHOULD; when done, the token is dead
/// at UserInfo (RFC 6750 §3.1 invalid_token) and inactive at introspection.
async fn revoke_access(op: &Op, c: &mut Checks) -> Step {
    op.endpoint("revocation_endpoint")?;
    let browser = op.browser();
    let (_, tokens) = super::login(op, c, &browser, "openid").await?;
    let at = tokens.access_token.clone();
    let reply = post_to(
        op,
        "revocation_endpoint",
        &[("token", &at), ("token_type_hint", "access_token")],
    )
    .await?;
    c.require(
        reply.status == 200,
        "RFC 7009 2.2",
        format!("revocation answered {}", reply.brief()),
    )?;
    let ui = op.userinfo(&at, UserInfoCall::GetHeader).await?;
    c.should(
        ui.status == 401,
        "RFC 7009 2",
        format!(
            "a revoked access token still works at UserInfo ({})",
            ui.status
        ),
    );
    if ui.status == 401 {
        // RFC 6750 §3: a 401 for a bad token carries WWW-Authenticate.
        c.check(
            ui.header("www-authenticate").is_some(),
            "RFC 6750 3",
            "the 401 from UserInfo has no WWW-Authenticate header",
        );
    }
    if op.raw.get("introspection_endpoint").is_some() {
        let intro = post_to(op, "introspection_endpoint", &[("token", &at)]).await?;
        c.check(
            intro.json.get("active") == Some(&Value::Bool(false)),
            "RFC 7662 2.2",
            format!("introspection of a revoked token: {}", intro.brief()),
        );
    }
    Ok(())
}

/// RFC 7009 §2.2: an invalid token is not an error; the answer is 200.
async fn revoke_unknown(op: &Op, c: &mut Checks) -> Step {
    op.endpoint("revocation_endpoint")?;
    let bogus = format!("conformance-{}", CsrfToken::new_random().secret());
    let reply = post_to(op, "revocation_endpoint", &[("token", &bogus)]).await?;
    c.check(
        reply.status == 200,
        "RFC 7009 2.2",
        format!("revoking an unknown token answered {}", reply.brief()),
    );
    Ok(())
}

/// RFC 7009 §2.1 / RFC 7662 §2.1: the endpoint authenticates the client; without
/// credentials the answer is an error (RFC 6749 §5.2 invalid_client), never the service.
async fn unauthenticated(op: &Op, c: &mut Checks, field: &str, spec: &str) -> Step {
    let endpoint = op.endpoint(field)?;
    let browser = op.browser();
    let (_, tokens) = super::login(op, c, &browser, "openid").await?;
    let resp = op
        .http
        .post(endpoint)
        .form(&[("token", tokens.access_token.as_str())])
        .send()
        .await?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    c.require(
        status == 400 || status == 401,
        spec,
        format!("{field} without client authentication answered {status} {body}"),
    )?;
    // RFC 6749 §5.2: invalid_client ("no client authentication included"); invalid_request
    // (a required parameter is missing) describes the same request and is accepted too.
    let error = body.get("error").and_then(Value::as_str);
    c.should(
        matches!(error, Some("invalid_client" | "invalid_request")),
        "RFC 6749 5.2",
        format!("the error is {}, invalid_client expected", shown(error)),
    );
    // The token must have survived an unauthenticated revocation attempt.
    let ui = op
        .userinfo(&tokens.access_token, UserInfoCall::GetHeader)
        .await?;
    c.check(
        ui.status == 200,
        spec,
        "an unauthenticated request revoked the token",
    );
    Ok(())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 7662 §2.2: an active token: active=true, and the optional members consistent.
async fn introspect_active(op: &Op, c: &mut Checks) -> Step {
    op.endpoint("introspection_endpoint")?;
    let browser = op.browser();
    let (_, tokens) = super::login(op, c, &browser, "openid").await?;
    let reply = post_to(
        op,
        "introspection_endpoint",
        &[
            ("token", &tokens.access_token),
            ("token_type_hint", "access_token"),
        ],
    )
    .await?;
    c.require(
        reply.status == 200,
        "RFC 7662 2.2",
        format!("introspection answered {}", reply.brief()),
    )?;
    c.require(
        reply.json.get("active") == Some(&Value::Bool(true)),
        "RFC 7662 2.2",
        format!("a fresh access token is not active: {}", reply.brief()),
    )?;
    if let Some(exp) = reply.json.get("exp") {
        c.check(
            exp.as_i64().is_some_and(|e| e > now()),
            "RFC 7662 2.2",
            format!("exp {exp} is not a future NumericDate"),
        );
    }
    if let Some(id) = reply.str("client_id") {
        c.check(
            id == op.cfg.main.id,
            "RFC 7662 2.2",
            format!("client_id is {id:?}"),
        );
    }
    if let Some(scope) = reply.str("scope") {
        c.check(
            scope.split(' ').any(|s| s == "openid"),
            "RFC 7662 2.2",
            format!("scope {scope:?} lacks the granted openid"),
        );
    }
    if let Some(sub) = reply.str("sub") {
        c.check(
            sub == tokens.id_token.sub,
            "RFC 7662 2.2",
            format!("sub {sub:?} is not the ID Token's"),
        );
    }
    if let Some(iss) = reply.str("iss") {
        c.check(
            iss == op.meta.issuer().as_str(),
            "RFC 7662 2.2",
            format!("iss is {iss:?}"),
        );
    }
    Ok(())
}

/// RFC 7662 §2.2: an unknown token is {"active": false}, and SHOULD say nothing more.
async fn introspect_inactive(op: &Op, c: &mut Checks) -> Step {
    op.endpoint("introspection_endpoint")?;
    let bogus = format!("conformance-{}", CsrfToken::new_random().secret());
    let reply = post_to(op, "introspection_endpoint", &[("token", &bogus)]).await?;
    c.require(
        reply.status == 200,
        "RFC 7662 2.2",
        format!(
            "introspection of an unknown token answered {}",
            reply.brief()
        ),
    )?;
    c.check(
        reply.json.get("active") == Some(&Value::Bool(false)),
        "RFC 7662 2.2",
        format!(
            "an unknown token is not reported inactive: {}",
            reply.brief()
        ),
    );
    c.should(
        reply.json.as_object().is_some_and(|o| o.len() == 1),
        "RFC 7662 2.2",
        format!(
            "the inactive response carries more than active: {}",
            reply.text
        ),
    );
    Ok(())
}

/// RFC 9700 §4.14.2: with rotation, each refresh returns a new refresh token and the
/// old one stops working; `reuse`: presenting the old one again also kills the newest.
///
/// The new token is used before the old one is replayed. A provider may answer an
/// immediate retry of the old token with the same successor (a grace period for
/// concurrent refreshes and lost responses); once the successor has been used, no
/// such excuse is left, so the replay must fail whatever the provider's grace policy.
async fn rotation(op: &Op, c: &mut Checks, reuse: bool) -> Step {
    let (_, rt1) = with_refresh(op, c).await?;
    let first = refresh(op, &op.cfg.main, &rt1).await?;
    c.require(
        first.status == 200,
        "RFC 6749 6",
        format!("refresh failed: {}", first.brief()),
    )?;
    let rt2 = match first.str("refresh_token") {
        Some(rt) if rt != rt1 => rt.to_string(),
        _ => return skip("the provider does not rotate refresh tokens"),
    };
    // The new refresh token works (and is itself rotated on use)...
    let next = refresh(op, &op.cfg.main, &rt2).await?;
    c.require(
        next.status == 200,
        "RFC 6749 6",
        format!("the rotated refresh token does not work: {}", next.brief()),
    )?;
    let newest = next.str("refresh_token").unwrap_or(&rt2).to_string();
    // ...and the rotated-out one does not.
    let again = refresh(op, &op.cfg.main, &rt1).await?;
    c.check(
        again.status == 400 && again.error() == Some("invalid_grant"),
        "RFC 9700 4.14.2",
        format!(
            "the rotated-out refresh token still works: {}",
            again.brief()
        ),
    );
    if reuse {
        // The replay may come from an attacker: the newest token of the grant dies too.
        let after = refresh(op, &op.cfg.main, &newest).await?;
        c.should(
            after.status == 400 && after.error() == Some("invalid_grant"),
            "RFC 9700 4.14.2",
            format!(
                "after the old refresh token was replayed, the newest one still works: {}",
                after.brief()
            ),
        );
    }
    Ok(())
}
