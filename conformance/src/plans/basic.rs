//! Basic OP (oidcc-basic-certification-test-plan), single-request modules: one
//! authorization request, its token exchange, and what the provider returns.
//! Modules that span several requests of one session are in `session.rs`.

use super::{login, need, session};
use crate::checks::{Checks, Halt, Step, shown, skip};
use crate::jwt::Jwt;
use crate::op::{Authz, NonceRule, Op, UserInfoCall, param, same_endpoint};
use openidconnect::core::CoreTokenResponse;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{Map, Value};

/// The plan's modules in the Foundation's order; `session.rs` runs the multi-request ones.
pub const MODULES: &[&str] = &[
    "oidcc-server",
    "oidcc-response-type-missing",
    "oidcc-userinfo-get",
    "oidcc-userinfo-post-header",
    "oidcc-userinfo-post-body",
    "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
    "oidcc-scope-profile",
    "oidcc-scope-email",
    "oidcc-scope-address",
    "oidcc-scope-phone",
    "oidcc-scope-all",
    "oidcc-ensure-other-scope-order-succeeds",
    "oidcc-display-page",
    "oidcc-display-popup",
    "oidcc-prompt-login",
    "oidcc-prompt-none-not-logged-in",
    "oidcc-prompt-none-logged-in",
    "oidcc-max-age-1",
    "oidcc-max-age-10000",
    "oidcc-ensure-request-with-unknown-parameter-succeeds",
    "oidcc-id-token-hint",
    "oidcc-login-hint",
    "oidcc-ui-locales",
    "oidcc-claims-locales",
    "oidcc-ensure-request-with-acr-values-succeeds",
    "oidcc-codereuse",
    "oidcc-codereuse-30seconds",
    "oidcc-ensure-registered-redirect-uri",
    "oidcc-server-client-secret-post",
    "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
    "oidcc-claims-essential",
    "oidcc-ensure-request-object-with-redirect-uri",
    "oidcc-refresh-token",
    "oidcc-ensure-request-with-valid-pkce-succeeds",
    "oidcc-idtoken-rs256",
    "oidcc-idtoken-signature",
    "oidcc-idtoken-unsigned",
    "oidcc-ensure-post-request-succeeds",
];

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    if session::MODULES.contains(&module) {
        return session::run(module, op, c).await;
    }
    match module {
        "oidcc-server" => server(op, c).await,
        "oidcc-response-type-missing" => response_type_missing(op, c).await,
        "oidcc-userinfo-get" => userinfo(op, c, UserInfoCall::GetHeader).await,
        "oidcc-userinfo-post-header" => userinfo(op, c, UserInfoCall::PostHeader).await,
        "oidcc-userinfo-post-body" => userinfo(op, c, UserInfoCall::PostBody).await,
        "oidcc-ensure-request-without-nonce-succeeds-for-code-flow" => without_nonce(op, c).await,
        "oidcc-scope-profile" => scopes(op, c, &["profile"]).await,
        "oidcc-scope-email" => scopes(op, c, &["email"]).await,
        "oidcc-scope-address" => scopes(op, c, &["address"]).await,
        "oidcc-scope-phone" => scopes(op, c, &["phone"]).await,
        "oidcc-scope-all" => scopes(op, c, &["profile", "email", "address", "phone"]).await,
        "oidcc-ensure-other-scope-order-succeeds" => scope_order(op, c).await,
        "oidcc-display-page" => succeeds_with(op, c, "display", "page").await,
        "oidcc-display-popup" => succeeds_with(op, c, "display", "popup").await,
        "oidcc-ensure-request-with-unknown-parameter-succeeds" => {
            succeeds_with(op, c, "extra_param_from_conformance", "foobar").await
        }
        "oidcc-login-hint" => {
            let hint = op.cfg.username.clone();
            succeeds_with(op, c, "login_hint", &hint).await
        }
        "oidcc-ui-locales" => succeeds_with(op, c, "ui_locales", "se").await,
        "oidcc-claims-locales" => claims_locales(op, c).await,
        "oidcc-ensure-request-with-acr-values-succeeds" => {
            succeeds_with(op, c, "acr_values", "1 2").await
        }
        "oidcc-ensure-registered-redirect-uri" => registered_redirect_uri(op, c).await,
        "oidcc-server-client-secret-post" => client_secret_post(op, c).await,
        "oidcc-claims-essential" => claims_essential(op, c).await,
        "oidcc-ensure-request-with-valid-pkce-succeeds" => pkce(op, c).await,
        "oidcc-idtoken-rs256" => idtoken_rs256(op, c).await,
        "oidcc-idtoken-signature" => idtoken_signature(op, c).await,
        "oidcc-idtoken-unsigned" => idtoken_unsigned(op, c).await,
        "oidcc-ensure-post-request-succeeds" => post_request(op, c).await,
        _ => Err(Halt::Error(format!("no module {module}"))),
    }
}

/// The happy path, with the token exchange done by hand so its HTTP can be judged.
async fn server(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let req = op.request(&op.cfg.main, "openid");
    let (walk, authz) = op.authorize(&browser, &req, false).await?;
    c.require(
        walk.logins > 0,
        "OIDC Core 3.1.2.3",
        "a browser without a session reached the client without logging in",
    )?;
    let code = op.expect_code(c, &req, &walk, authz)?;
    let redirect = op.cfg.redirect_uri.clone();
    let reply = op
        .token_raw(
            &op.cfg.main,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
            ],
        )
        .await?;
    c.require(
        reply.status == 200,
        "OIDC Core 3.1.3.3",
        format!("the token endpoint refused a fresh code: {}", reply.brief()),
    )?;
    // RFC 6749 §5.1: JSON body, and no caching of tokens.
    c.check(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "RFC 6749 5.1",
        format!(
            "token response Content-Type is {}",
            shown(reply.header("content-type"))
        ),
    );
    c.check(
        reply
            .header("cache-control")
            .is_some_and(|v| v.contains("no-store")),
        "RFC 6749 5.1",
        "token response lacks Cache-Control: no-store",
    );
    let parsed: CoreTokenResponse = serde_json::from_value(reply.json.clone()).map_err(|e| {
        c.fail(
            "RFC 6749 5.1",
            format!("the token response does not parse: {e}"),
        )
    })?;
    c.check(
        parsed.token_type().as_ref().eq_ignore_ascii_case("bearer"),
        "OIDC Core 3.1.3.3",
        "token_type is not Bearer",
    );
    if let Some(exp) = parsed.expires_in() {
        c.check(
            exp.as_secs() > 0,
            "RFC 6749 5.1",
            "expires_in is not positive",
        );
    }
    let id_token = parsed
        .id_token()
        .ok_or_else(|| c.fail("OIDC Core 3.1.3.3", "no id_token in the token response"))?;
    let nonce = req.nonce.clone().unwrap_or_default();
    let id = op.verify_id_token(
        c,
        &op.cfg.main,
        &id_token.to_string(),
        NonceRule::Equals(&nonce),
        Some(parsed.access_token().secret()),
    )?;
    let tokens = crate::op::Tokens {
        access_token: parsed.access_token().secret().clone(),
        refresh_token: None,
        id_token: id,
    };
    op.userinfo_claims(c, &tokens, UserInfoCall::GetHeader)
        .await?;
    Ok(())
}

/// RFC 6749 §4.1.1 makes response_type REQUIRED; the error goes back to the client
/// (§4.1.2.1: invalid_request or unsupported_response_type) or is shown to the user.
async fn response_type_missing(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid");
    req.remove("response_type");
    let (walk, authz) = op.authorize(&browser, &req, false).await?;
    match authz {
        Authz::Error { error, params } => {
            c.check(
                error == "invalid_request" || error == "unsupported_response_type",
                "RFC 6749 4.1.2.1",
                format!("error is {error}, expected invalid_request or unsupported_response_type"),
            );
            c.check(
                param(&params, "state") == req.state.as_deref(),
                "RFC 6749 4.1.2.1",
                "the error response does not return the state sent",
            );
            op.check_iss_param(c, &params);
            Ok(())
        }
        Authz::Code { .. } => Err(c.fail(
            "RFC 6749 4.1.1",
            "a request without response_type was answered with a code",
        )),
        Authz::Elsewhere(u) => Err(c.fail(
            "RFC 6749 4.1.2.1",
            format!("the provider redirected to {u}"),
        )),
        Authz::Page => {
            c.should(
                walk.server_error().is_none(),
                "RFC 6749 4.1.2.1",
                format!(
                    "the provider failed with a server error: {}",
                    walk.describe_end()
                ),
            );
            c.review(
                "RFC 6749 4.1.2.1",
                format!(
                    "the provider showed its own page instead of redirecting; confirm it says \
                     response_type is missing: {}",
                    walk.describe_end()
                ),
            );
            Ok(())
        }
    }
}

async fn userinfo(op: &Op, c: &mut Checks, how: UserInfoCall) -> Step {
    let browser = op.browser();
    let (_, tokens) = login(op, c, &browser, "openid").await?;
    match how {
        // RFC 6750 §2.2: resource servers MAY accept the token in the body; OIDF warns.
        UserInfoCall::PostBody => {
            let reply = op.userinfo(&tokens.access_token, how).await?;
            if c.should(
                reply.status == 200,
                "RFC 6750 2.2",
                format!(
                    "UserInfo does not accept the access token in a POST body: {}",
                    reply.brief()
                ),
            ) {
                op.userinfo_claims(c, &tokens, how).await?;
            }
        }
        _ => {
            op.userinfo_claims(c, &tokens, how).await?;
        }
    }
    Ok(())
}

/// OIDC Core 3.1.2.1: nonce is OPTIONAL in the code flow; none may come back (Core 2).
async fn without_nonce(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid");
    req.remove("nonce");
    op.code_flow(c, &browser, req).await?;
    Ok(())
}

/// The claims each scope asks for (OIDC Core 5.4).
fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// OIDC Core 5.1: the JSON type of each standard claim.
fn claim_type_ok(name: &str, v: &Value) -> bool {
    match name {
        "email_verified" | "phone_number_verified" => v.is_boolean(),
        "updated_at" => v.is_number(),
        // OIDC Core 5.1.1: an object whose members are strings.
        "address" => v
            .as_object()
            .is_some_and(|m| !m.is_empty() && m.values().all(Value::is_string)),
        _ => v.is_string(),
    }
}

async fn scopes(op: &Op, c: &mut Checks, wanted: &[&str]) -> Step {
    for s in wanted {
        if op.raw.get("scopes_supported").is_some() && !op.advertises("scopes_supported", s) {
            return skip(format!("scopes_supported does not list {s}"));
        }
    }
    let browser = op.browser();
    let scope = format!("openid {}", wanted.join(" "));
    let (_, tokens) = login(op, c, &browser, &scope).await?;
    let userinfo = op
        .userinfo_claims(c, &tokens, UserInfoCall::GetHeader)
        .await?;
    let mut all: Map<String, Value> = tokens.id_token.jwt.claims.clone();
    all.extend(userinfo);
    for s in wanted {
        let returned: Vec<&str> = scope_claims(s)
            .iter()
            .copied()
            .filter(|n| all.contains_key(*n))
            .collect();
        // OIDC Core 5.4: the scope requests these claims; an OP returns those it has.
        c.should(
            !returned.is_empty(),
            "OIDC Core 5.4",
            format!("scope {s} was granted but none of its claims came back"),
        );
        for name in returned {
            c.check(
                claim_type_ok(name, &all[name]),
                "OIDC Core 5.1",
                format!("claim {name} has the wrong JSON type: {}", all[name]),
            );
        }
    }
    Ok(())
}

/// OIDC Core 3.1.2.1 / RFC 6749 §3.3: scope is a set; order does not matter.
async fn scope_order(op: &Op, c: &mut Checks) -> Step {
    let other = if op.advertises("scopes_supported", "email") {
        "email"
    } else {
        "profile"
    };
    let browser = op.browser();
    let req = op.request(&op.cfg.main, &format!("{other} openid"));
    op.code_flow(c, &browser, req).await?;
    Ok(())
}

/// An authentication request with one more parameter must still succeed
/// (OIDC Core 3.1.2.1 for the defined ones; unknown ones are ignored, RFC 6749 §3.1).
async fn succeeds_with(op: &Op, c: &mut Checks, key: &str, value: &str) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid");
    req.set(key, value);
    op.code_flow(c, &browser, req).await?;
    Ok(())
}

/// OIDC Core 5.2: claims_locales is a preference; the request succeeds and UserInfo works.
async fn claims_locales(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid profile");
    req.set("claims_locales", "se");
    let (_, tokens) = op.code_flow(c, &browser, req).await?;
    op.userinfo_claims(c, &tokens, UserInfoCall::GetHeader)
        .await?;
    Ok(())
}

/// OIDC Core 3.1.2.1 (exact match) and RFC 6749 §4.1.2.1: never redirect to an
/// unregistered redirect_uri.
async fn registered_redirect_uri(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid");
    let bad = format!("{}-unregistered", op.cfg.redirect_uri);
    req.set("redirect_uri", bad.as_str());
    let (walk, _) = op.authorize(&browser, &req, false).await?;
    match walk.left_to() {
        Some(u) if same_endpoint(u, &bad) => Err(c.fail(
            "RFC 6749 4.1.2.1",
            format!("the provider redirected to the unregistered redirect_uri: {u}"),
        )),
        Some(u) => {
            c.should(
                false,
                "RFC 6749 4.1.2.1",
                format!("the provider SHOULD inform the user, it redirected to {u}"),
            );
            Ok(())
        }
        None => {
            // RFC 6749 §4.1.2.1: inform the resource owner; a 5xx is a crash, not an answer.
            c.should(
                walk.server_error().is_none(),
                "RFC 6749 4.1.2.1",
                format!(
                    "the provider failed with a server error: {}",
                    walk.describe_end()
                ),
            );
            c.note(
                "RFC 6749 4.1.2.1",
                format!("error shown to the user: {}", walk.describe_end()),
            );
            Ok(())
        }
    }
}

/// OIDC Core 9: client_secret_post.
async fn client_secret_post(op: &Op, c: &mut Checks) -> Step {
    if !op.advertises(
        "token_endpoint_auth_methods_supported",
        "client_secret_post",
    ) {
        return skip("token_endpoint_auth_methods_supported does not list client_secret_post");
    }
    let client = need(&op.cfg.post, "post")?;
    let browser = op.browser();
    let req = op.request(client, "openid");
    let (_, tokens) = op.code_flow(c, &browser, req).await?;
    op.userinfo_claims(c, &tokens, UserInfoCall::GetHeader)
        .await?;
    Ok(())
}

/// OIDC Core 5.5: an essential claim requested for UserInfo.
async fn claims_essential(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid");
    req.set("claims", r#"{"userinfo":{"name":{"essential":true}}}"#);
    let (_, tokens) = op.code_flow(c, &browser, req).await?;
    let claims = op
        .userinfo_claims(c, &tokens, UserInfoCall::GetHeader)
        .await?;
    if op.flag("claims_parameter_supported") {
        c.should(
            claims.contains_key("name"),
            "OIDC Core 5.5.1",
            "name was requested as essential for UserInfo but is not returned",
        );
    } else {
        c.note("OIDC Discovery 3", "claims_parameter_supported is not true");
    }
    Ok(())
}

/// RFC 7636 §4.3-4.6: S256 challenge and verifier.
async fn pkce(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid");
    req.with_pkce();
    op.code_flow(c, &browser, req).await?;
    Ok(())
}

/// OIDC Core 15.1: OPs MUST support RS256 for ID Tokens, and it is the default (3.1.3.7).
async fn idtoken_rs256(op: &Op, c: &mut Checks) -> Step {
    c.check(
        op.advertises("id_token_signing_alg_values_supported", "RS256"),
        "OIDC Core 15.1",
        "id_token_signing_alg_values_supported does not list RS256",
    );
    let browser = op.browser();
    let (_, tokens) = login(op, c, &browser, "openid").await?;
    let alg = tokens.id_token.jwt.alg().to_string();
    c.check(
        alg == "RS256",
        "OIDC Core 3.1.3.7",
        format!("the ID Token is signed with {alg}, not the default RS256"),
    );
    Ok(())
}

/// OIDC Core 10.1: the signature verifies with the provider's published keys, and a
/// kid is present when the JWKS holds more than one key.
async fn idtoken_signature(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let (_, tokens) = login(op, c, &browser, "openid").await?;
    let jwt = &tokens.id_token.jwt;
    let jwks = op.meta.jwks();
    if let Err(e) = jwt.verify(jwks) {
        c.check(false, "OIDC Core 10.1", format!("ID Token: {e}"));
    }
    if jwks.keys().len() > 1 {
        c.check(
            jwt.header.contains_key("kid"),
            "OIDC Core 10.1",
            "the JWKS has several keys but the ID Token header has no kid",
        );
    }
    // A token whose payload was altered must not verify (the check above is not vacuous).
    let altered =
        Jwt::decode(&jwt.tampered("sub", Value::String("intruder".into()))).map_err(Halt::Error)?;
    c.require(
        altered.verify(jwks).is_err(),
        "runner",
        "a tampered ID Token verified: the signature check is broken",
    )?;
    Ok(())
}

/// OIDC Core 3.1.3.7 step 6 / 15.1: alg none from the token endpoint, for a client that
/// registered id_token_signed_response_alg=none.
async fn idtoken_unsigned(op: &Op, c: &mut Checks) -> Step {
    if !op.advertises("id_token_signing_alg_values_supported", "none") {
        return skip("id_token_signing_alg_values_supported does not list none");
    }
    let client = need(&op.cfg.unsigned, "unsigned")?;
    let browser = op.browser();
    let req = op.request(client, "openid");
    let (_, tokens) = op.code_flow(c, &browser, req).await?;
    let jwt = &tokens.id_token.jwt;
    c.check(
        jwt.alg() == "none",
        "OIDC Core 3.1.3.7",
        format!(
            "the client registered alg none but the ID Token uses {}",
            jwt.alg()
        ),
    );
    c.check(
        jwt.signature_is_empty(),
        "RFC 7519 6.1",
        "an unsigned JWT has an empty signature part",
    );
    Ok(())
}

/// OIDC Core 3.1.2.1: authorization servers MUST support GET and POST.
async fn post_request(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let mut req = op.request(&op.cfg.main, "openid");
    let (walk, authz) = op.authorize(&browser, &req, true).await?;
    if let Authz::Page = authz {
        return Err(c.fail(
            "OIDC Core 3.1.2.1",
            format!(
                "the authorization endpoint did not accept a POST: {}",
                walk.describe_end()
            ),
        ));
    }
    let code = op.expect_code(c, &req, &walk, authz)?;
    let nonce = req.nonce.clone().unwrap_or_default();
    op.exchange(c, &mut req, &code, NonceRule::Equals(&nonce))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_types_follow_core_5_1() {
        assert!(claim_type_ok("email_verified", &json!(true)));
        assert!(!claim_type_ok("email_verified", &json!("true")));
        assert!(claim_type_ok("updated_at", &json!(1700000000)));
        assert!(!claim_type_ok("updated_at", &json!("2023-11-14")));
        assert!(claim_type_ok("address", &json!({"country": "SE"})));
        assert!(!claim_type_ok("address", &json!("1 Street")));
        assert!(!claim_type_ok("name", &json!(42)));
    }

    #[test]
    fn every_scope_module_names_known_claims() {
        for s in ["profile", "email", "address", "phone"] {
            assert!(!scope_claims(s).is_empty(), "{s}");
        }
        assert!(scope_claims("openid").is_empty());
    }
}
