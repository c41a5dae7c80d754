//! RP-Initiated Logout (oidcc-rp-initiated-logout-certification-test-plan).
//! Every module logs in, calls the end_session_endpoint as the spec's section 2 allows
//! or forbids, and judges where the provider sends the user and whether the session ended.

use super::login;
use crate::browser::{Browser, Walk};
use crate::checks::{Checks, Halt, Step, shown};
use crate::config::ClientCfg;
use crate::jwt::b64;
use crate::op::{Authz, IdTok, Op, param, same_endpoint};
use openidconnect::core::{CoreHmacKey, CoreIdToken, CoreJwsSigningAlgorithm};
use openidconnect::{
    CsrfToken, EndSessionUrl, LogoutRequest, PostLogoutRedirectUrl, PrivateSigningKey,
};
use serde_json::Value;
use std::str::FromStr;
use url::Url;

pub const MODULES: &[&str] = &[
    "oidcc-rp-initiated-logout-discovery-endpoint-verification",
    "oidcc-rp-initiated-logout",
    "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-modified-id-token-hint",
    "oidcc-rp-initiated-logout-no-id-token-hint",
    "oidcc-rp-initiated-logout-no-params",
    "oidcc-rp-initiated-logout-no-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-no-state",
    "oidcc-rp-initiated-logout-only-state",
    "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-bad-id-token-hint",
    "oidcc-rp-initiated-logout-bad-client-id",
];

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    let endpoint = op.endpoint("end_session_endpoint")?;
    if module == "oidcc-rp-initiated-logout-discovery-endpoint-verification" {
        // RP-Initiated Logout 2.1: the endpoint is a URL (https outside loopback).
        c.check(
            endpoint.scheme() == "https"
                || endpoint.host_str() == Some("127.0.0.1")
                || endpoint.host_str() == Some("localhost"),
            "RP-Initiated Logout 2.1",
            format!("end_session_endpoint does not use https: {endpoint}"),
        );
        c.check(
            endpoint.fragment().is_none(),
            "RP-Initiated Logout 2",
            "end_session_endpoint has a fragment",
        );
        return Ok(());
    }
    let browser = op.browser();
    let (_, tokens) = login(op, c, &browser, "openid").await?;
    let id = tokens.id_token;
    let pl = op.cfg.post_logout_redirect_uri.clone();
    let state = CsrfToken::new_random().secret().clone();
    let hint = id.raw.clone();
    let main = op.cfg.main.clone();
    match module {
        "oidcc-rp-initiated-logout" => {
            // Built by openidconnect, as an RP library would.
            let token = CoreIdToken::from_str(&id.raw).map_err(|e| Halt::Error(e.to_string()))?;
            let url = LogoutRequest::from(EndSessionUrl::from_url(endpoint))
                .set_id_token_hint(&token)
                .set_post_logout_redirect_uri(
                    PostLogoutRedirectUrl::new(pl.clone())
                        .map_err(|e| Halt::Error(e.to_string()))?,
                )
                .set_state(CsrfToken::new(state.clone()))
                .http_get_url();
            let walk = browser.get(url, &op.creds()).await?;
            expect_redirect(c, &walk, &pl, Some(&state))?;
            expect_logged_out(op, c, &browser, &main, true).await
        }
        "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri" => {
            let bad = format!("{pl}-not-registered");
            let walk = end_session(
                op,
                &browser,
                &endpoint,
                &[
                    ("id_token_hint", &hint),
                    ("post_logout_redirect_uri", &bad),
                    ("state", &state),
                ],
            )
            .await?;
            // RP-Initiated Logout 3: only to a registered URI, compared exactly.
            expect_no_redirect(c, &walk, &bad, "RP-Initiated Logout 3")
        }
        "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri" => {
            let bad = format!("{pl}?extra=conformance");
            let walk = end_session(
                op,
                &browser,
                &endpoint,
                &[
                    ("id_token_hint", &hint),
                    ("post_logout_redirect_uri", &bad),
                    ("state", &state),
                ],
            )
            .await?;
            // RP-Initiated Logout 3 with RFC 3986 6.2.1 simple string comparison.
            match walk.left_to() {
                Some(u) if same_endpoint(u, &pl) => Err(c.fail(
                    "RP-Initiated Logout 3",
                    format!(
                        "redirected to a post_logout_redirect_uri that does not match exactly: {u}"
                    ),
                )),
                _ => Ok(()),
            }
        }
        "oidcc-rp-initiated-logout-modified-id-token-hint" => {
            let altered = id.jwt.tampered("sub", Value::String("someone-else".into()));
            bad_hint(op, c, &browser, &endpoint, &altered, &pl, &state).await
        }
        "oidcc-rp-initiated-logout-bad-id-token-hint" => {
            let forged = hs256_copy(&id, main.secret.as_deref().unwrap_or("secret"))?;
            bad_hint(op, c, &browser, &endpoint, &forged, &pl, &state).await
        }
        "oidcc-rp-initiated-logout-bad-client-id" => {
            let other = op
                .cfg
                .second
                .as_ref()
                .map(|s| s.id.clone())
                .unwrap_or_else(|| "conformance-no-such-client".into());
            let walk = end_session(
                op,
                &browser,
                &endpoint,
                &[
                    ("id_token_hint", &hint),
                    ("client_id", &other),
                    ("post_logout_redirect_uri", &pl),
                    ("state", &state),
                ],
            )
            .await?;
            // RP-Initiated Logout 2: client_id MUST match the ID Token's audience.
            expect_no_redirect(c, &walk, &pl, "RP-Initiated Logout 2")
        }
        "oidcc-rp-initiated-logout-no-id-token-hint" => {
            let walk = end_session(
                op,
                &browser,
                &endpoint,
                &[
                    ("client_id", &main.id),
                    ("post_logout_redirect_uri", &pl),
                    ("state", &state),
                ],
            )
            .await?;
            // RP-Initiated Logout 2/3: client_id identifies the RP, so redirecting is allowed;
            // so is staying at the OP. If it redirects, state comes back.
            if walk.left_to().is_some() {
                expect_redirect(c, &walk, &pl, Some(&state))?;
            }
            expect_logged_out(op, c, &browser, &main, false).await
        }
        "oidcc-rp-initiated-logout-no-params" => {
            let walk = end_session(op, &browser, &endpoint, &[]).await?;
            if let Some(u) = walk.left_to() {
                return Err(c.fail(
                    "RP-Initiated Logout 3",
                    format!("no post_logout_redirect_uri was given, yet the OP redirected to {u}"),
                ));
            }
            expect_logged_out(op, c, &browser, &main, false).await
        }
        "oidcc-rp-initiated-logout-no-post-logout-redirect-uri" => {
            let walk = end_session(op, &browser, &endpoint, &[("id_token_hint", &hint)]).await?;
            if let Some(u) = walk.left_to() {
                return Err(c.fail(
                    "RP-Initiated Logout 3",
                    format!("no post_logout_redirect_uri was given, yet the OP redirected to {u}"),
                ));
            }
            expect_logged_out(op, c, &browser, &main, true).await
        }
        "oidcc-rp-initiated-logout-only-state" => {
            let walk = end_session(op, &browser, &endpoint, &[("state", &state)]).await?;
            if let Some(u) = walk.left_to() {
                return Err(c.fail(
                    "RP-Initiated Logout 3",
                    format!("no post_logout_redirect_uri was given, yet the OP redirected to {u}"),
                ));
            }
            expect_logged_out(op, c, &browser, &main, false).await
        }
        "oidcc-rp-initiated-logout-no-state" => {
            let walk = end_session(
                op,
                &browser,
                &endpoint,
                &[("id_token_hint", &hint), ("post_logout_redirect_uri", &pl)],
            )
            .await?;
            expect_redirect(c, &walk, &pl, None)?;
            expect_logged_out(op, c, &browser, &main, true).await
        }
        _ => Err(Halt::Error(format!("no module {module}"))),
    }
}

/// An id_token_hint the OP did not issue or that was altered: RP-Initiated Logout 4 says
/// no post-logout redirection when validation fails.
async fn bad_hint(
    op: &Op,
    c: &mut Checks,
    browser: &Browser,
    endpoint: &Url,
    hint: &str,
    pl: &str,
    state: &str,
) -> Step {
    let walk = end_session(
        op,
        browser,
        endpoint,
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", pl),
            ("state", state),
        ],
    )
    .await?;
    expect_no_redirect(c, &walk, pl, "RP-Initiated Logout 4")
}

/// The ID Token's header and claims re-signed with HS256 under the client secret: a
/// well-formed token the OP never issued.
fn hs256_copy(id: &IdTok, secret: &str) -> Step<String> {
    let mut header = id.jwt.header.clone();
    header.insert("alg".into(), Value::String("HS256".into()));
    header.remove("kid");
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header).map_err(|e| Halt::Error(e.to_string()))?),
        b64(&serde_json::to_vec(&id.jwt.claims).map_err(|e| Halt::Error(e.to_string()))?)
    );
    let sig = CoreHmacKey::new(secret.as_bytes().to_vec())
        .sign(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes())
        .map_err(|e| Halt::Error(e.to_string()))?;
    Ok(format!("{input}.{}", b64(&sig)))
}

pub(super) async fn end_session(
    op: &Op,
    browser: &Browser,
    endpoint: &Url,
    params: &[(&str, &str)],
) -> Step<Walk> {
    let mut url = endpoint.clone();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params.iter());
    }
    Ok(browser.get(url, &op.creds()).await?)
}

/// RP-Initiated Logout 3: redirection to the post_logout_redirect_uri, with the state
/// when one was sent, and none otherwise.
pub(super) fn expect_redirect(c: &mut Checks, walk: &Walk, pl: &str, state: Option<&str>) -> Step {
    let Some(u) = walk.left_to().filter(|u| same_endpoint(u, pl)) else {
        return Err(c.fail(
            "RP-Initiated Logout 3",
            format!(
                "expected a redirect to the post_logout_redirect_uri; the walker {}",
                walk.describe_end()
            ),
        ));
    };
    let params: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    c.check(
        param(&params, "state") == state,
        "RP-Initiated Logout 3",
        format!(
            "state on the post-logout redirect is {}, expected {}",
            shown(param(&params, "state")),
            shown(state)
        ),
    );
    Ok(())
}

fn expect_no_redirect(c: &mut Checks, walk: &Walk, target: &str, spec: &str) -> Step {
    match walk.left_to() {
        Some(u) if same_endpoint(u, target) => Err(c.fail(
            spec,
            format!("the OP performed post-logout redirection to {u}"),
        )),
        _ => {
            // The user should be told what went wrong, not shown a crash.
            c.should(
                walk.server_error().is_none(),
                spec,
                format!("the OP failed with a server error: {}", walk.describe_end()),
            );
            c.note(
                spec,
                format!("no redirection; the walker {}", walk.describe_end()),
            );
            Ok(())
        }
    }
}

/// prompt=none after logout must not find a session (RP-Initiated Logout 2: the OP logs
/// the End-User out). `must`: a failure is FAILED, else a WARNING.
pub(super) async fn expect_logged_out(
    op: &Op,
    c: &mut Checks,
    browser: &Browser,
    client: &ClientCfg,
    must: bool,
) -> Step {
    let mut req = op.request(client, "openid");
    req.set("prompt", "none");
    let (walk, authz) = op.authorize(browser, &req, false).await?;
    let (ended, what) = match &authz {
        Authz::Error { error, .. } => (
            error == "login_required" || error == "interaction_required",
            format!("error={error}"),
        ),
        Authz::Code { .. } => (false, "a code".to_string()),
        _ => (false, walk.describe_end()),
    };
    let message = format!("after logout, prompt=none still finds a session ({what})");
    if must {
        c.check(ended, "RP-Initiated Logout 2", message);
    } else {
        c.should(ended, "RP-Initiated Logout 2", message);
    }
    Ok(())
}
