//! Basic OP modules that span several requests: the login session (prompt, max_age,
//! id_token_hint), code replay, refresh, and request objects.

use super::login;
use crate::checks::{Checks, Halt, Step, skip};
use crate::jwt;
use crate::op::{Authz, NonceRule, Op, Tokens, UserInfoCall, param, same_endpoint};
use openidconnect::{OAuth2TokenResponse, RefreshToken, TokenResponse};
use serde_json::{Value, json};
use std::time::Duration;

/// The modules of the Basic plan this file runs (`basic::MODULES` orders the plan).
pub const MODULES: &[&str] = &[
    "oidcc-prompt-login",
    "oidcc-prompt-none-not-logged-in",
    "oidcc-prompt-none-logged-in",
    "oidcc-max-age-1",
    "oidcc-max-age-10000",
    "oidcc-id-token-hint",
    "oidcc-codereuse",
    "oidcc-codereuse-30seconds",
    "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
    "oidcc-ensure-request-object-with-redirect-uri",
    "oidcc-refresh-token",
];

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    match module {
        "oidcc-prompt-login" => reauthenticate(op, c, "prompt", "login").await,
        "oidcc-prompt-none-not-logged-in" => prompt_none_not_logged_in(op, c).await,
        "oidcc-prompt-none-logged-in" => prompt_none_logged_in(op, c, false).await,
        "oidcc-max-age-1" => reauthenticate(op, c, "max_age", "1").await,
        "oidcc-max-age-10000" => max_age_10000(op, c).await,
        "oidcc-id-token-hint" => prompt_none_logged_in(op, c, true).await,
        "oidcc-codereuse" => code_reuse(op, c, Duration::ZERO).await,
        "oidcc-codereuse-30seconds" => {
            let wait = if op.cfg.fast { 2 } else { 30 };
            code_reuse(op, c, Duration::from_secs(wait)).await
        }
        "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported" => {
            request_object(op, c, false).await
        }
        "oidcc-ensure-request-object-with-redirect-uri" => request_object(op, c, true).await,
        "oidcc-refresh-token" => refresh(op, c).await,
        _ => Err(Halt::Error(format!("no module {module}"))),
    }
}

/// prompt=login (OIDC Core 3.1.2.1: SHOULD re-authenticate, else login_required) and
/// max_age=1 (MUST re-authenticate once a second has passed; auth_time MUST be returned).
async fn reauthenticate(op: &Op, c: &mut Checks, key: &str, value: &str) -> Step {
    let browser = op.browser();
    let (_, first) = login(op, c, &browser, "openid").await?;
    // auth_time has a one-second resolution; make the second authentication later.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut req = op.request(&op.cfg.main, "openid");
    req.set(key, value);
    let (walk, authz) = op.authorize(&browser, &req, false).await?;
    if let Authz::Error { error, .. } = &authz {
        c.require(
            key == "prompt" && error == "login_required",
            "OIDC Core 3.1.2.1",
            format!("{key}={value} was answered with error={error}"),
        )?;
        c.note("OIDC Core 3.1.2.1", "the provider answered login_required");
        return Ok(());
    }
    let code = op.expect_code(c, &req, &walk, authz)?;
    let nonce = req.nonce.clone().unwrap_or_default();
    let second = op
        .exchange(c, &mut req, &code, NonceRule::Equals(&nonce))
        .await?;
    c.check(
        walk.logins > 0,
        "OIDC Core 3.1.2.1",
        format!("{key}={value}: the provider did not ask the user to log in again"),
    );
    if key == "max_age" {
        c.require(
            second.id_token.auth_time().is_some(),
            "OIDC Core 3.1.2.1",
            "max_age was requested but the ID Token has no auth_time",
        )?;
    }
    if let (Some(a), Some(b)) = (first.id_token.auth_time(), second.id_token.auth_time()) {
        c.check(
            b > a,
            "OIDC Core 2",
            format!("auth_time did not move on after re-authentication ({a} then {b})"),
        );
    }
    c.check(
        first.id_token.sub == second.id_token.sub,
        "OIDC Core 2",
        "the same user got a different sub",
    );
    Ok(())
}

/// OIDC Core 3.1.2.1 / 3.1.2.6: prompt=none without a session returns login_required
/// (or interaction_required) to the client, with no UI shown.
async fn prompt_none_not_logged_in(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid");
    req.set("prompt", "none");
    let (walk, authz) = op.authorize(&browser, &req, false).await?;
    c.check(
        walk.logins == 0 && walk.approvals == 0,
        "OIDC Core 3.1.2.1",
        "prompt=none: the provider displayed a login or consent page",
    );
    match authz {
        Authz::Error { error, params } => {
            c.check(
                error == "login_required" || error == "interaction_required",
                "OIDC Core 3.1.2.6",
                format!("error is {error}, expected login_required"),
            );
            c.check(
                param(&params, "state") == req.state.as_deref(),
                "RFC 6749 4.1.2.1",
                "the error response does not return the state sent",
            );
            Ok(())
        }
        Authz::Code { .. } => Err(c.fail(
            "OIDC Core 3.1.2.1",
            "prompt=none without a session returned a code",
        )),
        _ => Err(c.fail(
            "OIDC Core 3.1.2.6",
            format!(
                "prompt=none must return an error to the redirect_uri; the walker {}",
                walk.describe_end()
            ),
        )),
    }
}

/// prompt=none in a live session returns a code silently (OIDC Core 3.1.2.1), for the
/// same user; with `hint`, the first ID Token is passed as id_token_hint.
async fn prompt_none_logged_in(op: &Op, c: &mut Checks, hint: bool) -> Step {
    let browser = op.browser();
    let (_, first) = login(op, c, &browser, "openid").await?;
    let mut req = op.request(&op.cfg.main, "openid");
    req.set("prompt", "none");
    if hint {
        req.set("id_token_hint", first.id_token.raw.as_str());
    }
    let (walk, second) = op.code_flow(c, &browser, req).await?;
    c.check(
        walk.logins == 0 && walk.approvals == 0,
        "OIDC Core 3.1.2.1",
        "prompt=none: the provider displayed a login or consent page",
    );
    c.check(
        first.id_token.sub == second.id_token.sub,
        "OIDC Core 3.1.2.1",
        "the silent authentication returned another sub",
    );
    Ok(())
}

/// max_age=10000 right after a login: no new login needed, and auth_time MUST be present
/// (OIDC Core 3.1.2.1) and be the original one.
async fn max_age_10000(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let (_, first) = login(op, c, &browser, "openid").await?;
    let mut req = op.request(&op.cfg.main, "openid");
    req.set("max_age", "10000");
    let (walk, second) = op.code_flow(c, &browser, req).await?;
    let Some(at) = second.id_token.auth_time() else {
        return Err(c.fail(
            "OIDC Core 3.1.2.1",
            "max_age was requested but the ID Token has no auth_time",
        ));
    };
    if let (0, Some(a)) = (walk.logins, first.id_token.auth_time()) {
        c.check(
            a == at,
            "OIDC Core 2",
            format!("no new login happened but auth_time changed from {a} to {at}"),
        );
    }
    Ok(())
}

/// RFC 6749 §4.1.2: a code is single-use; a replay MUST fail and SHOULD revoke the tokens
/// issued from it. With `wait`, the replay comes after that long (OIDF: 30 seconds).
async fn code_reuse(op: &Op, c: &mut Checks, wait: Duration) -> Step {
    let browser = op.browser();
    let req = op.request(&op.cfg.main, "openid");
    let (walk, authz) = op.authorize(&browser, &req, false).await?;
    let code = op.expect_code(c, &req, &walk, authz)?;
    let redirect = op.cfg.redirect_uri.clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
    ];
    let first = op.token_raw(&op.cfg.main, &form).await?;
    c.require(
        first.status == 200,
        "OIDC Core 3.1.3.3",
        format!("the first exchange failed: {}", first.brief()),
    )?;
    let access_token = first
        .str("access_token")
        .ok_or_else(|| c.fail("RFC 6749 5.1", "no access_token"))?
        .to_string();
    tokio::time::sleep(wait).await;
    let replay = op.token_raw(&op.cfg.main, &form).await?;
    c.check(
        replay.status == 400 && replay.error() == Some("invalid_grant"),
        "RFC 6749 4.1.2, 5.2",
        format!(
            "a replayed code must fail with 400 invalid_grant, got {}",
            replay.brief()
        ),
    );
    let after = op.userinfo(&access_token, UserInfoCall::GetHeader).await?;
    c.should(
        after.status != 200,
        "RFC 6749 4.1.2",
        "the access token issued from a replayed code still works at UserInfo",
    );
    Ok(())
}

/// OIDC Core 6.1 (request object by value, unsigned) and 3.1.2.6 (request_not_supported).
/// With `redirect_in_object`, the query carries an unregistered redirect_uri and the
/// object the registered one, which takes precedence (OIDC Core 6.3.3).
async fn request_object(op: &Op, c: &mut Checks, redirect_in_object: bool) -> Step {
    if op
        .raw
        .get("request_object_signing_alg_values_supported")
        .is_some()
        && !op.advertises("request_object_signing_alg_values_supported", "none")
    {
        return skip("request_object_signing_alg_values_supported does not list none");
    }
    if op
        .raw
        .get("request_object_signing_alg_values_supported")
        .is_none()
        && !op.flag("request_parameter_supported")
    {
        return skip("the provider advertises neither request_parameter_supported nor alg none");
    }
    let browser = op.browser();
    let full = op.request(&op.cfg.main, "openid");
    let mut object = serde_json::Map::new();
    for (k, v) in &full.params {
        object.insert(k.clone(), Value::String(v.clone()));
    }
    object.insert("iss".into(), json!(op.cfg.main.id));
    object.insert("aud".into(), json!(op.meta.issuer().as_str()));
    // OIDC Core 6.1: response_type, client_id and scope stay in the query.
    let mut req = op.request(&op.cfg.main, "openid");
    req.remove("state").remove("nonce").remove("redirect_uri");
    req.set("request", jwt::unsigned(&Value::Object(object)));
    let bad = format!("{}-not-registered", op.cfg.redirect_uri);
    if redirect_in_object {
        req.set("redirect_uri", bad.as_str());
    }
    let (walk, authz) = op.authorize(&browser, &req, false).await?;
    if let Some(u) = walk.left_to().filter(|u| same_endpoint(u, &bad)) {
        return Err(c.fail(
            "OIDC Core 6.3.3",
            format!("the provider redirected to the query's unregistered redirect_uri: {u}"),
        ));
    }
    match authz {
        Authz::Error { error, .. } if error == "request_not_supported" => {
            c.note("OIDC Core 3.1.2.6", "rejected as request_not_supported");
            Ok(())
        }
        Authz::Error { error, params } => Err(c.fail(
            "OIDC Core 3.1.2.6",
            format!(
                "expected the request object processed or request_not_supported, got {error} ({})",
                param(&params, "error_description").unwrap_or("")
            ),
        )),
        Authz::Page if redirect_in_object => {
            c.review(
                "OIDC Core 6.3.3",
                format!(
                    "the provider showed a page instead of using the request object's \
                     redirect_uri; confirm it is a redirect_uri error: {}",
                    walk.describe_end()
                ),
            );
            Ok(())
        }
        authz => {
            // The state and nonce exist only inside the object: seeing them proves it was used.
            let code = op.expect_code(c, &full, &walk, authz)?;
            let mut exchange_req = full;
            let nonce = exchange_req.nonce.clone().unwrap_or_default();
            op.exchange(c, &mut exchange_req, &code, NonceRule::Equals(&nonce))
                .await?;
            Ok(())
        }
    }
}

/// OIDC Core 12: refresh with offline_access (11: needs prompt=consent); 12.2: a new ID
/// Token keeps iss, sub, aud and auth_time; RFC 6749 §6/§5.2: another client cannot use it.
async fn refresh(op: &Op, c: &mut Checks) -> Step {
    if op.raw.get("grant_types_supported").is_some()
        && !op.advertises("grant_types_supported", "refresh_token")
    {
        return skip("grant_types_supported does not list refresh_token");
    }
    let browser = op.browser();
    let scope = if op.advertises("scopes_supported", "offline_access") {
        "openid offline_access"
    } else {
        "openid"
    };
    let mut req = op.request(&op.cfg.main, scope);
    req.set("prompt", "consent");
    let (_, tokens) = op.code_flow(c, &browser, req).await?;
    let Some(rt) = tokens.refresh_token.clone() else {
        return skip("the provider issued no refresh token");
    };
    let client = op.oidc_client(&op.cfg.main)?;
    let rt_value = RefreshToken::new(rt.clone());
    let mut refresh = client
        .exchange_refresh_token(&rt_value)
        .map_err(|e| Halt::Error(format!("no token endpoint: {e}")))?;
    for (k, v) in op.assertion_params(&op.cfg.main, op.token_endpoint()?.to_string())? {
        refresh = refresh.add_extra_param(k, v);
    }
    let refreshed = refresh.request_async(&op.http).await.map_err(|e| {
        c.fail(
            "OIDC Core 12.1",
            format!("the refresh request failed: {e:?}"),
        )
    })?;
    let new_tokens = Tokens {
        access_token: refreshed.access_token().secret().clone(),
        refresh_token: refreshed.refresh_token().map(|r| r.secret().clone()),
        id_token: tokens.id_token.clone(),
    };
    op.userinfo_claims(c, &new_tokens, UserInfoCall::GetHeader)
        .await?;
    if let Some(id) = refreshed.id_token() {
        let new_id = op.verify_id_token(
            c,
            &op.cfg.main,
            &id.to_string(),
            NonceRule::Any,
            Some(&new_tokens.access_token),
        )?;
        let (old, new) = (&tokens.id_token.jwt, &new_id.jwt);
        for claim in ["iss", "sub", "aud", "auth_time"] {
            c.check(
                old.claims.get(claim) == new.claims.get(claim),
                "OIDC Core 12.2",
                format!("the refreshed ID Token changed {claim}"),
            );
        }
    }
    match &op.cfg.second {
        Some(other) => {
            let current = new_tokens.refresh_token.clone().unwrap_or(rt);
            let stolen = op
                .token_raw(
                    other,
                    &[("grant_type", "refresh_token"), ("refresh_token", &current)],
                )
                .await?;
            c.check(
                stolen.status == 400 && stolen.error() == Some("invalid_grant"),
                "RFC 6749 6, 5.2",
                format!(
                    "another client's refresh must fail with invalid_grant, got {}",
                    stolen.brief()
                ),
            );
        }
        None => c.note(
            "RFC 6749 6",
            "no second client configured: cross-client use not tried",
        ),
    }
    Ok(())
}
