//! The SSO session at /authorize (OpenID Core §3.1.2.1, §3.1.2.3-6):
//! prompt=none, prompt=login, max_age, consent and its refusal.

use crate::common::*;
use signoff::clock::Clock;
use url::Url;

/// `auth_url` with extra parameters.
fn auth_url_with(
    server: &TestServer,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = Url::parse(&auth_url(server, client_id, redirect_uri, scope, CHALLENGE)).unwrap();
    url.query_pairs_mut().extend_pairs(extra);
    url.to_string()
}

/// The error redirect `landing` ended on, checked for state and issuer.
fn assert_error(server: &TestServer, landing: Landing, redirect_uri: &str, error: &str) {
    let url = landing.redirect();
    assert!(url.as_str().starts_with(redirect_uri), "{url}");
    let params = query_map(&url);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some(error),
        "{url}"
    );
    assert_eq!(params.get("state").map(String::as_str), Some("st-123"));
    assert_eq!(params.get("iss"), Some(&server.base));
    assert!(!params.contains_key("code"));
}

/// The `auth_time` of the ID token `code` redeems to (client `first`).
async fn auth_time_of(server: &TestServer, code: &str) -> i64 {
    let tokens =
        token_json(redeem(server, FIRST, Some(FIRST_SECRET), code, FIRST_REDIRECT).await).await;
    jwt_claims(tokens["id_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .expect("auth_time")
}

#[tokio::test]
async fn prompt_none_without_session_is_login_required() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (_, landing) = browser
        .go(
            &server,
            &auth_url_with(&server, APP, APP_REDIRECT, "openid", &[("prompt", "none")]),
        )
        .await;
    assert_error(&server, landing, APP_REDIRECT, "login_required");
}

#[tokio::test]
async fn prompt_none_with_session_but_no_consent_is_consent_required() {
    let server = TestServer::start().await;
    let browser = server.browser();
    // Signed in through the first-party client, never asked about `app`.
    code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let (_, landing) = browser
        .go(
            &server,
            &auth_url_with(&server, APP, APP_REDIRECT, "openid", &[("prompt", "none")]),
        )
        .await;
    assert_error(&server, landing, APP_REDIRECT, "consent_required");
}

#[tokio::test]
async fn prompt_none_for_scopes_beyond_the_consent_is_consent_required() {
    let server = TestServer::start().await;
    let browser = server.browser();
    code_in(
        &browser,
        &server,
        &auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let (_, landing) = browser
        .go(
            &server,
            &auth_url_with(
                &server,
                APP,
                APP_REDIRECT,
                "openid email",
                &[("prompt", "none")],
            ),
        )
        .await;
    assert_error(&server, landing, APP_REDIRECT, "consent_required");
}

#[tokio::test]
async fn prompt_none_with_session_and_consent_returns_a_code() {
    let server = TestServer::start().await;
    let browser = server.browser();
    code_in(
        &browser,
        &server,
        &auth_url(&server, APP, APP_REDIRECT, "openid email", CHALLENGE),
    )
    .await;
    let (_, landing) = browser
        .go(
            &server,
            &auth_url_with(
                &server,
                APP,
                APP_REDIRECT,
                "openid email",
                &[("prompt", "none")],
            ),
        )
        .await;
    let url = landing.redirect();
    let params = query_map(&url);
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], server.base);
    let tokens = token_json(
        redeem(
            &server,
            APP,
            Some(APP_SECRET),
            &params["code"],
            APP_REDIRECT,
        )
        .await,
    )
    .await;
    assert_eq!(tokens["scope"], "openid email");
}

#[tokio::test]
async fn prompt_login_shows_login_page_despite_session_and_moves_auth_time() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let first_login = server.clock.now();
    let code = code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    assert_eq!(auth_time_of(&server, &code).await, first_login);

    server.clock.advance(120);
    let (page_url, landing) = browser
        .go(
            &server,
            &auth_url_with(
                &server,
                FIRST,
                FIRST_REDIRECT,
                "openid",
                &[("prompt", "login")],
            ),
        )
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("prompt=login must show the login page, got {landing:?}")
    };
    assert!(body.contains("type=\"password\""), "{body}");
    let (_, landing) = browser
        .login(&server, &page_url, &body, ALICE, ALICE_PASSWORD)
        .await;
    let code = query_map(&landing.redirect())["code"].clone();
    assert_eq!(auth_time_of(&server, &code).await, first_login + 120);
}

#[tokio::test]
async fn prompt_login_with_prompt_none_is_invalid_request() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (_, landing) = browser
        .go(
            &server,
            &auth_url_with(
                &server,
                FIRST,
                FIRST_REDIRECT,
                "openid",
                &[("prompt", "none login")],
            ),
        )
        .await;
    assert_error(&server, landing, FIRST_REDIRECT, "invalid_request");
}

#[tokio::test]
async fn max_age_exceeded_shows_login_page_and_moves_auth_time() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let first_login = server.clock.now();
    code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let with_max_age = auth_url_with(
        &server,
        FIRST,
        FIRST_REDIRECT,
        "openid",
        &[("max_age", "300")],
    );

    // Within max_age: SSO, no login page, the original auth_time.
    server.clock.advance(200);
    let (_, landing) = browser.go(&server, &with_max_age).await;
    let code = query_map(&landing.redirect())["code"].clone();
    assert_eq!(auth_time_of(&server, &code).await, first_login);

    // Beyond it: the login page again, then a new auth_time.
    server.clock.advance(200);
    let (page_url, landing) = browser.go(&server, &with_max_age).await;
    let Landing::Page { body, .. } = landing else {
        panic!("max_age exceeded must show the login page, got {landing:?}")
    };
    assert!(body.contains("type=\"password\""), "{body}");
    let (_, landing) = browser
        .login(&server, &page_url, &body, ALICE, ALICE_PASSWORD)
        .await;
    let code = query_map(&landing.redirect())["code"].clone();
    assert_eq!(auth_time_of(&server, &code).await, first_login + 400);
}

#[tokio::test]
async fn max_age_exceeded_with_prompt_none_is_login_required() {
    let server = TestServer::start().await;
    let browser = server.browser();
    code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    server.clock.advance(61);
    let (_, landing) = browser
        .go(
            &server,
            &auth_url_with(
                &server,
                FIRST,
                FIRST_REDIRECT,
                "openid",
                &[("max_age", "60"), ("prompt", "none")],
            ),
        )
        .await;
    assert_error(&server, landing, FIRST_REDIRECT, "login_required");
}

#[tokio::test]
async fn denied_consent_is_access_denied() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (login_url, landing) = browser
        .go(
            &server,
            &auth_url(&server, APP, APP_REDIRECT, "openid email", CHALLENGE),
        )
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the login page")
    };
    let (consent_url, landing) = browser
        .login(&server, &login_url, &body, ALICE, ALICE_PASSWORD)
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the consent page, got {landing:?}")
    };
    let (_, landing) = browser.consent(&server, &consent_url, &body, "deny").await;
    assert_error(&server, landing, APP_REDIRECT, "access_denied");

    // Nothing was remembered: asking silently still needs consent.
    let (_, landing) = browser
        .go(
            &server,
            &auth_url_with(&server, APP, APP_REDIRECT, "openid", &[("prompt", "none")]),
        )
        .await;
    assert_error(&server, landing, APP_REDIRECT, "consent_required");
}

#[tokio::test]
async fn sso_session_serves_a_second_client_without_login() {
    let server = TestServer::start().await;
    let browser = server.browser();
    code_in(
        &browser,
        &server,
        &auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let (_, landing) = browser
        .go(
            &server,
            &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
        )
        .await;
    assert!(landing.param("code").is_some(), "{landing:?}");
}

#[tokio::test]
async fn consent_with_tampered_csrf_token_is_refused_and_grants_nothing() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (login_url, landing) = browser
        .go(
            &server,
            &auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE),
        )
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the login page")
    };
    let (consent_url, landing) = browser
        .login(&server, &login_url, &body, ALICE, ALICE_PASSWORD)
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the consent page, got {landing:?}")
    };
    let mut form = parse_forms(&consent_url, &body).remove(0);
    set_field(&mut form, "csrf_token", "forged-token");
    form.fields.push(("decision".into(), "approve".into()));
    let response = browser
        .http
        .post(&form.action)
        .form(&form.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    let (_, landing) = browser
        .go(
            &server,
            &auth_url_with(&server, APP, APP_REDIRECT, "openid", &[("prompt", "none")]),
        )
        .await;
    assert_error(&server, landing, APP_REDIRECT, "consent_required");
}
