//! Refresh tokens (RFC 6749 §6, OpenID Core §11/§12) with rotation and reuse
//! detection (RFC 9700 §4.14.2).

mod common;

use common::*;
use reqwest::StatusCode;

/// Tokens for `first` (first-party, no consent page) with `scope`.
async fn first_tokens(server: &TestServer, scope: &str) -> serde_json::Value {
    let code = code_in(
        &server.browser(),
        server,
        &auth_url(server, FIRST, FIRST_REDIRECT, scope, CHALLENGE),
    )
    .await;
    token_json(redeem(server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await
}

async fn refresh(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    refresh_token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    server.token_request(client_id, secret, &form).await
}

fn refresh_token_of(tokens: &serde_json::Value) -> String {
    tokens["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a refresh token: {tokens}"))
        .to_owned()
}

#[tokio::test]
async fn offline_access_earns_a_refresh_token_for_a_first_party_client() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    refresh_token_of(&tokens);
    assert_eq!(tokens["scope"], "openid offline_access");
}

#[tokio::test]
async fn offline_access_earns_a_refresh_token_after_consent() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (login_url, landing) = browser
        .go(
            &server,
            &auth_url(
                &server,
                APP,
                APP_REDIRECT,
                "openid offline_access",
                CHALLENGE,
            ),
        )
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the login page")
    };
    let (consent_url, landing) = browser
        .login(&server, &login_url, &body, ALICE, ALICE_PASSWORD)
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the consent page")
    };
    // OpenID Core §11: the user is told about offline access.
    assert!(body.contains("while you are away"), "{body}");
    let (_, landing) = browser
        .consent(&server, &consent_url, &body, "approve")
        .await;
    let code = landing.param("code").expect("a code");
    let tokens =
        token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
    refresh_token_of(&tokens);
}

#[tokio::test]
async fn no_offline_access_no_refresh_token() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn refresh_rotates_and_the_new_tokens_work() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    let old = refresh_token_of(&tokens);
    let response = refresh(&server, FIRST, FIRST_SECRET, &old, None).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let refreshed = token_json(response).await;
    let new = refresh_token_of(&refreshed);
    assert_ne!(new, old);
    assert_eq!(refreshed["scope"], "openid offline_access");
    // OpenID Core §12.2: a refreshed ID token keeps sub, aud and auth_time.
    let before = jwt_claims(tokens["id_token"].as_str().unwrap());
    let after = jwt_claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(after["sub"], before["sub"]);
    assert_eq!(after["aud"], before["aud"]);
    assert_eq!(after["auth_time"], before["auth_time"]);
    let access_token = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&server, access_token).await.status(),
        StatusCode::OK
    );
    // The rotated token refreshes again.
    token_json(refresh(&server, FIRST, FIRST_SECRET, &new, None).await).await;
}

#[tokio::test]
async fn reused_refresh_token_is_invalid_grant_and_revokes_the_family() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    let old = refresh_token_of(&tokens);
    let refreshed = token_json(refresh(&server, FIRST, FIRST_SECRET, &old, None).await).await;
    let new = refresh_token_of(&refreshed);
    let new_access = refreshed["access_token"].as_str().unwrap();

    // Past the grace period that forgives a client's own quick retry.
    let grace = server.state.config.tokens.refresh_reuse_grace.as_secs() as i64;
    server.clock.advance(grace + 1);
    let reuse = refresh(&server, FIRST, FIRST_SECRET, &old, None).await;
    assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // RFC 9700 §4.14.2: whoever holds the newer token loses it too.
    let response = refresh(&server, FIRST, FIRST_SECRET, &new, None).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let response = userinfo(&server, new_access).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn refresh_by_another_client_is_invalid_grant() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    let token = refresh_token_of(&tokens);
    let response = refresh(&server, APP, APP_SECRET, &token, None).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The attempt neither spent nor revoked the rightful client's token.
    token_json(refresh(&server, FIRST, FIRST_SECRET, &token, None).await).await;
}

#[tokio::test]
async fn refresh_with_wider_scope_is_invalid_scope() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    let token = refresh_token_of(&tokens);
    let response = refresh(
        &server,
        FIRST,
        FIRST_SECRET,
        &token,
        Some("openid offline_access email"),
    )
    .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // The refused request spent nothing.
    token_json(refresh(&server, FIRST, FIRST_SECRET, &token, None).await).await;
}

#[tokio::test]
async fn refresh_with_narrower_scope_narrows_the_access_token() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid email offline_access").await;
    let token = refresh_token_of(&tokens);
    let refreshed = token_json(
        refresh(
            &server,
            FIRST,
            FIRST_SECRET,
            &token,
            Some("openid offline_access"),
        )
        .await,
    )
    .await;
    assert_eq!(refreshed["scope"], "openid offline_access");
    let claims: serde_json::Value = userinfo(&server, refreshed["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!(claims.get("email").is_none(), "{claims}");
    // RFC 6749 §6: the rotated refresh token keeps the scope of the one it
    // replaces, so the full scope can be asked for again.
    let rotated = refresh_token_of(&refreshed);
    let full = token_json(refresh(&server, FIRST, FIRST_SECRET, &rotated, None).await).await;
    assert_eq!(full["scope"], "openid email offline_access");
}

#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let server = TestServer::start().await;
    let response = refresh(&server, FIRST, FIRST_SECRET, "made-up", None).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn missing_refresh_token_is_invalid_request() {
    let server = TestServer::start().await;
    let response = server
        .token_request(FIRST, FIRST_SECRET, &[("grant_type", "refresh_token")])
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}
