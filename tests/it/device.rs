//! OAuth 2.0 Device Authorization Grant (RFC 8628): the `openidconnect`
//! crate as the device, a cookie-jar browser as its user on the hosted
//! /device page, and the token endpoint's poll answers.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use openidconnect::core::{CoreClient, CoreDeviceAuthorizationResponse, CoreProviderMetadata};
use openidconnect::{
    ClientId, DeviceAuthorizationUrl, IssuerUrl, Nonce, OAuth2TokenResponse, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;
use signoff::admin::ClientSpec;
use tokio::sync::Notify;
use url::Url;

/// A confidential device client (it may introspect its own tokens).
const TV: &str = "tv";
const TV_SECRET: &str = "tv-secret-0123456789";
/// A public device client, as a CLI would be.
const CLI: &str = "cli";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_server(adjust: impl FnOnce(&mut signoff::Config)) -> TestServer {
    let server = TestServer::with(adjust).await;
    for (id, secret) in [(TV, Some(TV_SECRET)), (CLI, None)] {
        server
            .add_client(ClientSpec {
                id: id.into(),
                secret: secret.map(Into::into),
                grant_types: vec!["device_code".into(), "refresh_token".into()],
                ..ClientSpec::default()
            })
            .await;
    }
    server
}

/// POST /device_authorization as `client_id` (`secret`: Basic, else the
/// client_id in the body).
async fn device_authorization(
    server: &TestServer,
    client_id: &str,
    secret: Option<&str>,
    scope: &str,
) -> reqwest::Response {
    let request = server.http.post(server.url("/device_authorization"));
    let request = match secret {
        Some(s) => request
            .basic_auth(client_id, Some(s))
            .form(&[("scope", scope)]),
        None => request.form(&[("scope", scope), ("client_id", client_id)]),
    };
    request.send().await.expect("device authorization request")
}

/// The TV's device authorization response.
async fn start(server: &TestServer, scope: &str) -> Value {
    let response = device_authorization(server, TV, Some(TV_SECRET), scope).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// One poll of the token endpoint by `client_id`.
async fn poll(server: &TestServer, client_id: &str, secret: &str, device_code: &str) -> Value {
    let response = server
        .token_request(
            client_id,
            secret,
            &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
        )
        .await;
    response.json().await.unwrap()
}

/// The error of a poll that must fail.
async fn poll_error(server: &TestServer, device_code: &str) -> String {
    let body = poll(server, TV, TV_SECRET, device_code).await;
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {body}"))
        .to_owned()
}

/// POST the only form of the page `body` at `at`, with `fields` set.
async fn submit(
    server: &TestServer,
    browser: &Browser,
    at: &Url,
    body: &str,
    fields: &[(&str, &str)],
) -> (Url, StatusCode, String) {
    let mut form = parse_forms(at, body)
        .into_iter()
        .find(|f| f.action.ends_with("/device"))
        .unwrap_or_else(|| panic!("no /device form in {body}"));
    for (k, v) in fields {
        set_field(&mut form, k, v);
    }
    let (url, landing) = browser.post_form(server, &form).await;
    let Landing::Page { status, body } = landing else {
        panic!("expected a page, got {landing:?}");
    };
    (url, status, body)
}

/// The user's part: open `url` (the verification URI, complete or not),
/// confirm or type `typed`, sign in as alice if asked, then press
/// `decision`. The final page.
async fn user_decides(
    server: &TestServer,
    browser: &Browser,
    url: &str,
    typed: Option<&str>,
    decision: &str,
) -> (StatusCode, String) {
    let (at, landing) = browser.go(server, url).await;
    let Landing::Page { status, body } = landing else {
        panic!("expected the code page");
    };
    assert_eq!(status, StatusCode::OK);
    // RFC 8628 §5.4: even a pre-filled code waits for the user's click.
    assert!(body.contains("Enter the code"), "{body}");
    let fields: Vec<(&str, &str)> = typed.map(|t| ("user_code", t)).into_iter().collect();
    let (at, status, mut body) = submit(server, browser, &at, &body, &fields).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    if body.contains("type=\"password\"") {
        let creds = [("username", ALICE), ("password", ALICE_PASSWORD)];
        let (_, status, next) = submit(server, browser, &at, &body, &creds).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        body = next;
    }
    assert!(body.contains("name=\"decision\""), "{body}");
    let (_, status, body) = submit(server, browser, &at, &body, &[("decision", decision)]).await;
    (status, body)
}

async fn approve(server: &TestServer, browser: &Browser, started: &Value) {
    let url = started["verification_uri_complete"].as_str().unwrap();
    let (status, body) = user_decides(server, browser, url, None, "approve").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Device connected"), "{body}");
}

async fn tv_introspects(server: &TestServer, token: &str) -> bool {
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(TV, Some(TV_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["active"] == true
}

#[tokio::test]
async fn openidconnect_device_client_waits_out_pending_then_gets_verified_id_and_refresh_tokens() {
    let server = device_server(|_| {}).await;
    let http = http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new(CLI.into()), None)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(server.url("/device_authorization")).unwrap(),
        );
    let details: CoreDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&http)
        .await
        .expect("device authorization");
    let code = details.user_code().secret().clone();
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(&code[4..5], "-");
    assert!(
        code.chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
        "{code}"
    );
    assert_eq!(details.verification_uri().as_str(), server.url("/device"));
    assert_eq!(details.interval(), Duration::from_secs(5));

    // The device polls first (authorization_pending), and the user approves
    // while it waits: its wait signals `polled`, then takes until
    // `approved`, and moves the server's clock, not the test's.
    let polled = Arc::new(Notify::new());
    let approved = Arc::new(Notify::new());
    let clock = server.clock.clone();
    let (signal, wait) = (polled.clone(), approved.clone());
    let device = client.exchange_device_access_token(&details).unwrap();
    let polling = device.request_async(
        &http,
        move |d: Duration| {
            let (signal, wait, clock) = (signal.clone(), wait.clone(), clock.clone());
            async move {
                signal.notify_one();
                wait.notified().await;
                clock.advance(d.as_secs() as i64);
            }
        },
        None,
    );
    // The user types the code in lower case with a space for the dash.
    let typed = code.to_lowercase().replace('-', " ");
    let browser = server.browser();
    let user = async {
        polled.notified().await;
        let (status, body) = user_decides(
            &server,
            &browser,
            details.verification_uri().as_str(),
            Some(&typed),
            "approve",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Device connected"), "{body}");
        approved.notify_one();
    };
    let deadline = Duration::from_secs(60);
    let (tokens, ()) = tokio::time::timeout(deadline, async { tokio::join!(polling, user) })
        .await
        .expect("the device flow finishes");
    let tokens = tokens.expect("device access token");
    let id_token = tokens.id_token().expect("an ID token for openid");
    // RFC 8628 has no nonce: any (absent) nonce is accepted here.
    let claims = id_token
        .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
        .expect("ID token verifies");
    assert_eq!(claims.subject().as_str(), server.user_id(ALICE).await);
    assert!(
        tokens.refresh_token().is_some(),
        "offline_access was granted"
    );
    let scopes: Vec<String> = tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(scopes.contains(&"email".to_owned()), "{scopes:?}");
    let info = userinfo(&server, tokens.access_token().secret()).await;
    assert_eq!(info.status(), StatusCode::OK);
}

#[tokio::test]
async fn polling_is_pending_then_slow_down_adds_five_seconds_until_approved() {
    let server = device_server(|_| {}).await;
    let started = start(&server, "openid").await;
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(started["interval"], 5);
    assert_eq!(
        poll_error(&server, device_code).await,
        "authorization_pending"
    );
    // RFC 8628 §3.5: polling again within the interval.
    assert_eq!(poll_error(&server, device_code).await, "slow_down");
    // The interval is now 10 s: 5 s later is still too soon.
    server.clock.advance(5);
    assert_eq!(poll_error(&server, device_code).await, "slow_down");
    server.clock.advance(15);
    assert_eq!(
        poll_error(&server, device_code).await,
        "authorization_pending"
    );
    approve(&server, &server.browser(), &started).await;
    server.clock.advance(15);
    let tokens = poll(&server, TV, TV_SECRET, device_code).await;
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert!(tokens["id_token"].is_string(), "{tokens}");
    assert!(
        tokens["refresh_token"].is_null(),
        "no offline_access: {tokens}"
    );
}

#[tokio::test]
async fn denied_request_answers_access_denied() {
    let server = device_server(|_| {}).await;
    let started = start(&server, "openid").await;
    let url = started["verification_uri_complete"].as_str().unwrap();
    let (status, body) = user_decides(&server, &server.browser(), url, None, "deny").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Request denied"), "{body}");
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&server, device_code).await, "access_denied");
}

#[tokio::test]
async fn expired_device_code_answers_expired_token_and_its_user_code_is_refused() {
    let server = device_server(|_| {}).await;
    let started = start(&server, "openid").await;
    let expires_in = started["expires_in"].as_i64().unwrap();
    assert_eq!(expires_in, 600);
    server.clock.advance(expires_in);
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&server, device_code).await, "expired_token");
    let browser = server.browser();
    let url = started["verification_uri_complete"].as_str().unwrap();
    let (at, landing) = browser.go(&server, url).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the code page");
    };
    let (_, status, body) = submit(&server, &browser, &at, &body, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not valid or has expired"), "{body}");
    // Pruned by the maintenance round's store call.
    let pruned = signoff::store::device_codes::prune(&server.state.db, server.state.now(), 10)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
}

#[tokio::test]
async fn another_client_cannot_redeem_the_device_code_nor_burn_it() {
    let server = device_server(|c| c.device.interval = Duration::from_secs(1)).await;
    server
        .add_client(ClientSpec {
            id: "tv2".into(),
            secret: Some("tv2-secret-0123456789".into()),
            grant_types: vec![DEVICE_GRANT.into()],
            ..ClientSpec::default()
        })
        .await;
    let started = start(&server, "openid").await;
    approve(&server, &server.browser(), &started).await;
    let device_code = started["device_code"].as_str().unwrap();
    let stolen = poll(&server, "tv2", "tv2-secret-0123456789", device_code).await;
    assert_eq!(stolen["error"], "invalid_grant", "{stolen}");
    let tokens = poll(&server, TV, TV_SECRET, device_code).await;
    assert!(tokens["access_token"].is_string(), "{tokens}");
}

#[tokio::test]
async fn device_code_is_single_use() {
    let server = device_server(|_| {}).await;
    let started = start(&server, "openid").await;
    approve(&server, &server.browser(), &started).await;
    let device_code = started["device_code"].as_str().unwrap();
    let tokens = poll(&server, TV, TV_SECRET, device_code).await;
    assert!(tokens["access_token"].is_string(), "{tokens}");
    server.clock.advance(10);
    assert_eq!(poll_error(&server, device_code).await, "invalid_grant");
}

#[tokio::test]
async fn client_without_the_device_grant_gets_unauthorized_client() {
    let server = device_server(|_| {}).await;
    let response = device_authorization(&server, APP, Some(APP_SECRET), "openid").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    // At the token endpoint too.
    let body = poll(&server, APP, APP_SECRET, "whatever").await;
    assert_eq!(body["error"], "unauthorized_client");
}

#[tokio::test]
async fn device_authorization_refuses_bad_client_credentials_and_malformed_scope() {
    let server = device_server(|_| {}).await;
    let response = device_authorization(&server, TV, Some("wrong-secret"), "openid").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = device_authorization(&server, CLI, None, "openid \"bad").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn user_code_guesses_from_one_address_are_throttled() {
    let server = device_server(|c| c.throttle.address_failures = 3).await;
    let started = start(&server, "openid").await;
    let browser = server.browser();
    let (at, landing) = browser.go(&server, &server.url("/device")).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the code page");
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let guess = [("user_code", "BBBB-BBBB")];
        let (_, status, _) = submit(&server, &browser, &at, &body, &guess).await;
        statuses.push(status);
    }
    assert_eq!(statuses[0], StatusCode::BAD_REQUEST);
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // During the back-off even the right code is not looked up.
    let right = [("user_code", started["user_code"].as_str().unwrap())];
    let (_, status, page) = submit(&server, &browser, &at, &body, &right).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Too many codes"), "{page}");
}

#[tokio::test]
async fn user_code_attempts_are_limited_globally() {
    let server = device_server(|c| c.device.user_code_attempts_per_minute = 2).await;
    let browser = server.browser();
    let (at, landing) = browser.go(&server, &server.url("/device")).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the code page");
    };
    let guess = [("user_code", "BBBB-BBBB")];
    for _ in 0..2 {
        let (_, status, _) = submit(&server, &browser, &at, &body, &guess).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Another browser (the same test address) meets the global limit too.
    let other = server.browser();
    let (at, landing) = other.go(&server, &server.url("/device")).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the code page");
    };
    let (_, status, _) = submit(&server, &other, &at, &body, &guess).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn device_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let server = device_server(|_| {}).await;
    let started = start(&server, "openid").await;
    let response = server
        .http
        .post(server.url("/device"))
        .form(&[
            ("user_code", started["user_code"].as_str().unwrap()),
            ("step", "confirm"),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(
        poll_error(&server, device_code).await,
        "authorization_pending"
    );
}

#[tokio::test]
async fn signing_out_of_every_session_revokes_the_device_tokens() {
    let server = device_server(|_| {}).await;
    let started = start(&server, "openid offline_access").await;
    let browser = server.browser();
    approve(&server, &browser, &started).await;
    let tokens = poll(
        &server,
        TV,
        TV_SECRET,
        started["device_code"].as_str().unwrap(),
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(tv_introspects(&server, access).await);
    assert!(tv_introspects(&server, refresh).await);
    // The user signs out of everything on the account page of the browser
    // that approved the device.
    let (at, landing) = browser.go(&server, &server.url("/account")).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the account page");
    };
    let end_all = parse_forms(&at, &body)
        .into_iter()
        .find(|f| f.action.ends_with("/account/sessions/end-all"))
        .expect("the sign-out-everywhere form");
    browser.post_form(&server, &end_all).await;
    assert!(!tv_introspects(&server, access).await);
    assert!(!tv_introspects(&server, refresh).await);
    let refreshed = server
        .token_request(
            TV,
            TV_SECRET,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn logout_everywhere_revokes_the_device_tokens() {
    let server = device_server(|_| {}).await;
    let started = start(&server, "openid offline_access").await;
    approve(&server, &server.browser(), &started).await;
    let tokens = poll(
        &server,
        TV,
        TV_SECRET,
        started["device_code"].as_str().unwrap(),
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(tv_introspects(&server, access).await);
    server.logout_everywhere(ALICE).await;
    assert!(!tv_introspects(&server, access).await);
    assert!(!tv_introspects(&server, refresh).await);
}

#[tokio::test]
async fn device_approved_in_a_session_that_ended_yields_no_tokens() {
    let server = device_server(|_| {}).await;
    let started = start(&server, "openid").await;
    approve(&server, &server.browser(), &started).await;
    server.logout_everywhere(ALICE).await;
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&server, device_code).await, "invalid_grant");
}

#[tokio::test]
async fn discovery_advertises_the_device_authorization_endpoint_and_grant() {
    let server = device_server(|_| {}).await;
    let metadata: Value = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["device_authorization_endpoint"],
        server.url("/device_authorization")
    );
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.iter().any(|g| g == DEVICE_GRANT), "{grants:?}");
}

#[tokio::test]
async fn public_device_client_with_a_dpop_proof_gets_key_bound_tokens() {
    use crate::dpop_support::{Device, token_with_proof};
    let server = device_server(|_| {}).await;
    let response = device_authorization(&server, CLI, None, "openid offline_access").await;
    let started: Value = response.json().await.unwrap();
    approve(&server, &server.browser(), &started).await;
    let key = Device::new();
    let proof = key.proof(&server, "POST", "/token");
    let device_code = started["device_code"].as_str().unwrap();
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code),
        ("client_id", CLI),
    ];
    let tokens = token_json(token_with_proof(&server, None, &form, Some(&proof)).await).await;
    // RFC 9449 §5: a DPoP token type, and a refresh token bound to the key.
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let without_proof = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", CLI),
    ];
    let refused = token_with_proof(&server, None, &without_proof, None).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn signed_in_browser_goes_from_code_to_consent_showing_client_and_scopes() {
    let server = device_server(|_| {}).await;
    let browser = server.browser();
    // The first approval signs the browser in.
    approve(&server, &browser, &start(&server, "openid").await).await;
    let started = start(&server, "openid email").await;
    let url = started["verification_uri_complete"].as_str().unwrap();
    let (at, landing) = browser.go(&server, url).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the code page");
    };
    let (_, status, body) = submit(&server, &browser, &at, &body, &[]).await;
    assert_eq!(status, StatusCode::OK);
    // The SSO session is reused: no password, straight to the decision.
    assert!(!body.contains("type=\"password\""), "{body}");
    assert!(body.contains("name=\"decision\""), "{body}");
    assert!(body.contains("<strong>tv</strong>"), "{body}");
    assert!(body.contains("See your email address"), "{body}");
    assert!(
        body.contains(started["user_code"].as_str().unwrap()),
        "{body}"
    );
}
