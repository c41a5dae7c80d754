//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §5): client
//! authentication, request syntax, code redemption rules and the
//! client_credentials grant. Every refusal is an RFC 6749 §5.2 JSON error.

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};

/// A fresh code for `app` (alice signs in and consents).
async fn app_code(server: &TestServer) -> String {
    code_in(
        &server.browser(),
        server,
        &auth_url(server, APP, APP_REDIRECT, "openid", CHALLENGE),
    )
    .await
}

fn code_form(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", APP_REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

/// POST /token with a raw Authorization header value.
async fn with_authorization(
    server: &TestServer,
    authorization: HeaderValue,
    form: &[(&str, &str)],
) -> reqwest::Response {
    server
        .http
        .post(server.url("/token"))
        .header(AUTHORIZATION, authorization)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn assert_invalid_client(response: reqwest::Response) {
    assert!(
        response.headers().contains_key("www-authenticate"),
        "RFC 6749 §5.2: a 401 carries WWW-Authenticate"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let response = server
        .token_request(APP, "not-the-secret", &code_form(&code))
        .await;
    assert_invalid_client(response).await;
    // The code was not spent by the failed attempt.
    token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
}

#[tokio::test]
async fn unknown_client_is_invalid_client() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            "nobody",
            "some-secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn wrong_client_secret_in_body_is_invalid_client() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", SERVICE),
            ("client_secret", "not-the-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn confidential_client_without_secret_is_invalid_client() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", SERVICE)])
        .send()
        .await
        .unwrap();
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn no_client_authentication_is_invalid_client() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.url("/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn basic_header_with_garbage_is_invalid_client() {
    let server = TestServer::start().await;
    let form = [("grant_type", "client_credentials")];
    let response = with_authorization(&server, HeaderValue::from_static("Basic !!!"), &form).await;
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn bearer_header_is_invalid_client() {
    let server = TestServer::start().await;
    let form = [("grant_type", "client_credentials")];
    let response = with_authorization(&server, HeaderValue::from_static("Bearer x"), &form).await;
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn basic_header_without_colon_is_invalid_client() {
    let server = TestServer::start().await;
    let form = [("grant_type", "client_credentials")];
    // base64("service") has no id:secret separator.
    let response = with_authorization(
        &server,
        HeaderValue::from_static("Basic c2VydmljZQ=="),
        &form,
    )
    .await;
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn non_utf8_authorization_header_is_invalid_client() {
    let server = TestServer::start().await;
    let form = [("grant_type", "client_credentials")];
    let value = HeaderValue::from_bytes(b"Basic \xff\xfe\xfd").unwrap();
    let response = with_authorization(&server, value, &form).await;
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn basic_credentials_decoding_to_non_utf8_are_invalid_client() {
    let server = TestServer::start().await;
    let form = [("grant_type", "client_credentials")];
    // base64 of the bytes ff fe 3a ff ("\xff\xfe:\xff").
    let response =
        with_authorization(&server, HeaderValue::from_static("Basic //46/w=="), &form).await;
    assert_invalid_client(response).await;
}

#[tokio::test]
async fn basic_and_client_secret_together_is_invalid_request() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", SERVICE_SECRET),
            ],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn missing_grant_type_is_invalid_request() {
    let server = TestServer::start().await;
    let response = server
        .token_request(SERVICE, SERVICE_SECRET, &[("scope", "api.read")])
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported_grant_type() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            APP,
            APP_SECRET,
            &[
                ("grant_type", "password"),
                ("username", ALICE),
                ("password", ALICE_PASSWORD),
            ],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
}

#[tokio::test]
async fn missing_code_is_invalid_request() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            APP,
            APP_SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("redirect_uri", APP_REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn duplicated_parameter_is_invalid_request() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let mut form = code_form(&code);
    form.push(("code", "another-code"));
    let response = server.token_request(APP, APP_SECRET, &form).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    // RFC 6749 §3.2: a malformed request changes nothing.
    token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
}

#[tokio::test]
async fn non_form_body_is_invalid_request() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let response = server
        .http
        .post(server.url("/token"))
        .basic_auth(APP, Some(APP_SECRET))
        .json(&serde_json::json!({
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": APP_REDIRECT,
            "code_verifier": VERIFIER,
        }))
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn wrong_pkce_verifier_is_invalid_grant() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let wrong = "x".repeat(43);
    let mut form = code_form(&code);
    form.retain(|(k, _)| *k != "code_verifier");
    form.push(("code_verifier", &wrong));
    let response = server.token_request(APP, APP_SECRET, &form).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn missing_pkce_verifier_is_invalid_grant() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let mut form = code_form(&code);
    form.retain(|(k, _)| *k != "code_verifier");
    let response = server.token_request(APP, APP_SECRET, &form).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn replayed_code_is_invalid_grant_and_revokes_the_first_tokens() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let first = token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
    let access_token = first["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&server, access_token).await.status(),
        StatusCode::OK
    );

    let replay = redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await;
    assert_oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // RFC 6749 §4.1.2: tokens issued from the code are revoked.
    let response = userinfo(&server, access_token).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    server.clock.advance(61);
    let response = redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn code_of_another_client_is_invalid_grant_and_stays_redeemable() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let stolen = redeem(&server, FIRST, Some(FIRST_SECRET), &code, APP_REDIRECT).await;
    assert_oauth_error(stolen, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let stolen = redeem(&server, SPA, None, &code, APP_REDIRECT).await;
    assert_oauth_error(stolen, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let tokens =
        token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
    assert!(tokens["access_token"].is_string());
}

#[tokio::test]
async fn redirect_uri_mismatch_is_invalid_grant() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let response = redeem(
        &server,
        APP,
        Some(APP_SECRET),
        &code,
        "http://127.0.0.1:7001/other",
    )
    .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn missing_redirect_uri_is_invalid_grant() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let mut form = code_form(&code);
    form.retain(|(k, _)| *k != "redirect_uri");
    let response = server.token_request(APP, APP_SECRET, &form).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn unknown_code_is_invalid_grant() {
    let server = TestServer::start().await;
    let response = redeem(&server, APP, Some(APP_SECRET), "made-up-code", APP_REDIRECT).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn successful_code_exchange_is_not_cached() {
    let server = TestServer::start().await;
    let code = app_code(&server).await;
    let response = redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await;
    assert_eq!(response.status(), StatusCode::OK);
    // RFC 6749 §5.1.
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn error_responses_are_not_cached() {
    let server = TestServer::start().await;
    let response = server
        .token_request(APP, APP_SECRET, &[("grant_type", "authorization_code")])
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn public_client_redeems_with_pkce_and_no_secret() {
    let server = TestServer::start().await;
    let code = code_in(
        &server.browser(),
        &server,
        &auth_url(&server, SPA, SPA_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let tokens = token_json(redeem(&server, SPA, None, &code, SPA_REDIRECT).await).await;
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn client_credentials_issues_an_opaque_token_with_the_registered_scopes() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = token_json(response).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api.read api.write");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 1, "opaque, not a JWT: {token}");
    // RFC 6749 §4.4.3: no refresh token; no user, so no ID token.
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
}

#[tokio::test]
async fn client_credentials_with_secret_in_body_and_narrower_scope() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", SERVICE),
            ("client_secret", SERVICE_SECRET),
            ("scope", "api.read"),
        ])
        .send()
        .await
        .unwrap();
    let body = token_json(response).await;
    assert_eq!(body["scope"], "api.read");
}

#[tokio::test]
async fn client_credentials_with_unregistered_scope_is_invalid_scope() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "api.read admin"),
            ],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[tokio::test]
async fn client_credentials_with_user_scope_is_invalid_scope() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[tokio::test]
async fn client_credentials_for_a_client_not_registered_for_it_is_unauthorized_client() {
    let server = TestServer::start().await;
    let response = server
        .token_request(APP, APP_SECRET, &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[tokio::test]
async fn authorization_code_for_a_client_credentials_client_is_unauthorized_client() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("code", "whatever"),
                ("redirect_uri", APP_REDIRECT),
            ],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}
