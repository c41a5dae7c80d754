//! The UserInfo endpoint (OpenID Core §5.3) as a bearer-protected resource
//! (RFC 6750 §2, §3).

use crate::common::*;
use reqwest::StatusCode;

/// An access token for alice through `first` with `scope`.
async fn user_access_token(server: &TestServer, scope: &str) -> String {
    let code = code_in(
        &server.browser(),
        server,
        &auth_url(server, FIRST, FIRST_REDIRECT, scope, CHALLENGE),
    )
    .await;
    let tokens =
        token_json(redeem(server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .expect("RFC 6750 §3: a WWW-Authenticate challenge")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn no_token_gets_a_plain_bearer_challenge() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenge(&response);
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    // RFC 6750 §3.1: a request without credentials gets no error code.
    assert!(!challenge.contains("error="), "{challenge}");
}

#[tokio::test]
async fn unknown_token_is_invalid_token() {
    let server = TestServer::start().await;
    let response = userinfo(&server, "not-a-real-token").await;
    let challenge = challenge(&response);
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn basic_authorization_is_invalid_token() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/userinfo"))
        .basic_auth(APP, Some(APP_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).starts_with("Bearer"));
}

#[tokio::test]
async fn token_in_header_and_body_is_invalid_request() {
    let server = TestServer::start().await;
    let token = user_access_token(&server, "openid").await;
    let response = server
        .http
        .post(server.url("/userinfo"))
        .bearer_auth(&token)
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    // RFC 6750 §2: exactly one method per request.
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn token_in_form_body_works() {
    let server = TestServer::start().await;
    let token = user_access_token(&server, "openid email").await;
    let response = server
        .http
        .post(server.url("/userinfo"))
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let claims: serde_json::Value = response.json().await.unwrap();
    assert!(claims["sub"].is_string());
    assert_eq!(claims["email"], "alice@example.com");
}

#[tokio::test]
async fn claims_follow_the_granted_scopes() {
    let server = TestServer::start().await;
    let token = user_access_token(&server, "openid").await;
    let response = userinfo(&server, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let claims: serde_json::Value = response.json().await.unwrap();
    assert!(claims["sub"].is_string());
    assert!(claims.get("email").is_none(), "{claims}");
    assert!(claims.get("preferred_username").is_none(), "{claims}");
}

#[tokio::test]
async fn client_credentials_token_is_insufficient_scope() {
    let server = TestServer::start().await;
    let tokens = service_token(&server).await;
    let response = userinfo(&server, tokens["access_token"].as_str().unwrap()).await;
    let challenge = challenge(&response);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert_oauth_error(response, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

#[tokio::test]
async fn expired_token_is_invalid_token() {
    let server = TestServer::start().await;
    let token = user_access_token(&server, "openid").await;
    assert_eq!(userinfo(&server, &token).await.status(), StatusCode::OK);
    let ttl = server.state.config.tokens.access_token_ttl.as_secs() as i64;
    server.clock.advance(ttl + 1);
    let response = userinfo(&server, &token).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn token_of_a_disabled_user_is_invalid_token() {
    let server = TestServer::start().await;
    let token = user_access_token(&server, "openid").await;
    server.disable_user(ALICE).await;
    let response = userinfo(&server, &token).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
