//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §5): client
//! authentication, request syntax, code redemption rules and the
//! client_credentials grant. Every refusal is an RFC 6749 §5.2 JSON error.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
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

/// `form` with `name` set to `value` (added when absent).
fn replaced<'a>(
    form: &[(&'a str, &'a str)],
    name: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut out = without(form, name);
    out.push((name, value));
    out
}

fn without<'a>(form: &[(&'a str, &'a str)], name: &str) -> Vec<(&'a str, &'a str)> {
    form.iter().filter(|(k, _)| *k != name).cloned().collect()
}

/// Every refusal is an RFC 6749 §5.2 JSON error that is not cached (§5.1);
/// `invalid_client` is a 401 with a challenge.
async fn assert_refused(response: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(response.headers()["cache-control"], "no-store");
    if error == "invalid_client" {
        assert_invalid_client(response).await;
    } else {
        assert_oauth_error(response, status, error).await;
    }
}

/// Authorization headers that are not valid Basic credentials: one test per
/// row, each `invalid_client` (RFC 6749 §2.3.1, §5.2).
macro_rules! authorization_header_matrix {
    ($($name:ident: $value:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let server = TestServer::start().await;
            let form = [("grant_type", "client_credentials")];
            let response = with_authorization(&server, $value, &form).await;
            assert_invalid_client(response).await;
        }
    )*};
}

authorization_header_matrix! {
    basic_header_with_garbage_is_invalid_client: HeaderValue::from_static("Basic !!!");
    bearer_header_is_invalid_client: HeaderValue::from_static("Bearer x");
    // base64("service") has no id:secret separator.
    basic_header_without_colon_is_invalid_client: HeaderValue::from_static("Basic c2VydmljZQ==");
    non_utf8_authorization_header_is_invalid_client:
        HeaderValue::from_bytes(b"Basic \xff\xfe\xfd").unwrap();
    // base64 of the bytes ff fe 3a ff ("\xff\xfe:\xff").
    basic_credentials_decoding_to_non_utf8_are_invalid_client:
        HeaderValue::from_static("Basic //46/w==");
}

/// Requests refused whatever the state of the server: one test per row,
/// `client: secret, form => status error`.
macro_rules! refusal_matrix {
    ($($name:ident: $client:expr, $secret:expr, $form:expr => $status:ident $error:literal;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let server = TestServer::start().await;
            let response = server.token_request($client, $secret, &$form).await;
            assert_refused(response, StatusCode::$status, $error).await;
        }
    )*};
}

refusal_matrix! {
    unknown_client_is_invalid_client:
        "nobody", "some-secret", [("grant_type", "client_credentials")]
        => UNAUTHORIZED "invalid_client";
    // RFC 6749 §2.3: one authentication method per request.
    basic_and_client_secret_together_is_invalid_request:
        SERVICE, SERVICE_SECRET,
        [("grant_type", "client_credentials"), ("client_secret", SERVICE_SECRET)]
        => BAD_REQUEST "invalid_request";
    missing_grant_type_is_invalid_request:
        SERVICE, SERVICE_SECRET, [("scope", "api.read")] => BAD_REQUEST "invalid_request";
    unknown_grant_type_is_unsupported_grant_type:
        APP, APP_SECRET,
        [("grant_type", "password"), ("username", ALICE), ("password", ALICE_PASSWORD)]
        => BAD_REQUEST "unsupported_grant_type";
    missing_code_is_invalid_request:
        APP, APP_SECRET,
        [
            ("grant_type", "authorization_code"),
            ("redirect_uri", APP_REDIRECT),
            ("code_verifier", VERIFIER),
        ]
        => BAD_REQUEST "invalid_request";
    error_responses_are_not_cached:
        APP, APP_SECRET, [("grant_type", "authorization_code")] => BAD_REQUEST "invalid_request";
    unknown_code_is_invalid_grant:
        APP, APP_SECRET, code_form("made-up-code") => BAD_REQUEST "invalid_grant";
    client_credentials_with_unregistered_scope_is_invalid_scope:
        SERVICE, SERVICE_SECRET,
        [("grant_type", "client_credentials"), ("scope", "api.read admin")]
        => BAD_REQUEST "invalid_scope";
    client_credentials_with_user_scope_is_invalid_scope:
        SERVICE, SERVICE_SECRET, [("grant_type", "client_credentials"), ("scope", "openid")]
        => BAD_REQUEST "invalid_scope";
    // RFC 6749 §3.3: a scope token may not hold a quote.
    client_credentials_with_malformed_scope_is_invalid_scope:
        SERVICE, SERVICE_SECRET,
        [("grant_type", "client_credentials"), ("scope", "api.read api\"write")]
        => BAD_REQUEST "invalid_scope";
    client_credentials_for_a_client_not_registered_for_it_is_unauthorized_client:
        APP, APP_SECRET, [("grant_type", "client_credentials")]
        => BAD_REQUEST "unauthorized_client";
    authorization_code_for_a_client_credentials_client_is_unauthorized_client:
        SERVICE, SERVICE_SECRET,
        [
            ("grant_type", "authorization_code"),
            ("code", "whatever"),
            ("redirect_uri", APP_REDIRECT),
        ]
        => BAD_REQUEST "unauthorized_client";
}

/// Redemptions of a fresh code for `app` refused before the code is
/// consumed: one test per row. RFC 6749 §3.2/§4.1.3: a refused request
/// changes nothing, so the code still redeems afterwards.
macro_rules! code_refusal_matrix {
    ($($name:ident: |$code:ident| $form:expr => $error:literal;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let server = TestServer::start().await;
            let $code = app_code(&server).await;
            let response = server.token_request(APP, APP_SECRET, &$form).await;
            assert_refused(response, StatusCode::BAD_REQUEST, $error).await;
            token_json(redeem(&server, APP, Some(APP_SECRET), &$code, APP_REDIRECT).await).await;
        }
    )*};
}

code_refusal_matrix! {
    // RFC 6749 §3.1: no parameter twice.
    duplicated_parameter_is_invalid_request:
        |code| [code_form(&code), vec![("code", "another-code")]].concat() => "invalid_request";
    // RFC 7636 §4.6.
    wrong_pkce_verifier_is_invalid_grant:
        |code| replaced(&code_form(&code), "code_verifier", &"x".repeat(43)) => "invalid_grant";
    missing_pkce_verifier_is_invalid_grant:
        |code| without(&code_form(&code), "code_verifier") => "invalid_grant";
    // RFC 6749 §4.1.3: the redirect_uri of the authorization request.
    redirect_uri_mismatch_is_invalid_grant:
        |code| replaced(&code_form(&code), "redirect_uri", "http://127.0.0.1:7001/other")
        => "invalid_grant";
    missing_redirect_uri_is_invalid_grant:
        |code| without(&code_form(&code), "redirect_uri") => "invalid_grant";
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

/// RFC 6749 §2.3.1 / Appendix A.1: a client_id is printable ASCII. One with
/// a NUL byte cannot name a client; PostgreSQL refuses NUL in text values, so
/// it must be turned away before the lookup, as `invalid_client` (§5.2).
#[tokio::test]
async fn client_id_with_a_nul_byte_is_refused_at_every_endpoint() {
    let server = TestServer::start().await;
    for path in ["/token", "/revoke", "/introspect"] {
        // client_secret_post / public client: client_id in the body.
        let response = server
            .http
            .post(server.url(path))
            .form(&[
                ("grant_type", "client_credentials"),
                ("token", "x"),
                ("client_id", "app\0"),
                ("client_secret", APP_SECRET),
            ])
            .send()
            .await
            .expect("request");
        // A NUL in any form value makes the request malformed (RFC 6749 §5.2).
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        // client_secret_basic: a NUL in the form-encoded user name.
        let credentials = STANDARD.encode(format!("app%00:{APP_SECRET}"));
        let response = server
            .http
            .post(server.url(path))
            .header("authorization", format!("Basic {credentials}"))
            .form(&[("grant_type", "client_credentials"), ("token", "x")])
            .send()
            .await
            .expect("request");
        assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
}
