//! Pushed Authorization Requests (RFC 9126): POST /par answers 201 with a
//! one-time `request_uri`; /authorize takes `client_id` and `request_uri`
//! and nothing else from the front channel.

use crate::common::*;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::Value;
use signoff::admin::ClientSpec;
use url::Url;

/// The authorization request `client_id` pushes (PKCE, state st-par).
fn pushed_request<'a>(client_id: &'a str, redirect_uri: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid"),
        ("state", "st-par"),
        ("nonce", "n-par"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

async fn push(
    server: &TestServer,
    secret: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let request = server.http.post(server.url("/par")).form(form);
    let request = match secret {
        Some((id, secret)) => request.basic_auth(id, Some(secret)),
        None => request,
    };
    request.send().await.unwrap()
}

/// Push as the public client `spa`; the request_uri.
async fn push_spa(server: &TestServer) -> String {
    let response = push(server, None, &pushed_request(SPA, SPA_REDIRECT)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["request_uri"].as_str().unwrap().to_owned()
}

fn authorize_with(server: &TestServer, pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

/// The page /authorize shows for a request_uri it does not accept.
async fn assert_refused_reference(server: &TestServer, url: &str) {
    let response = server.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    let body = response.text().await.unwrap();
    assert!(body.contains("invalid_request_uri"), "{body}");
}

#[tokio::test]
async fn pushed_request_is_answered_201_with_a_short_lived_urn() {
    let server = TestServer::start().await;
    let response = push(
        &server,
        Some((APP, APP_SECRET)),
        &pushed_request(APP, APP_REDIRECT),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let uri = body["request_uri"].as_str().unwrap();
    let reference = uri
        .strip_prefix("urn:ietf:params:oauth:request_uri:")
        .unwrap_or_else(|| panic!("{uri}"));
    assert!(reference.len() >= 32, "{uri}");
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!((1..=60).contains(&expires_in), "{body}");
}

#[tokio::test]
async fn pushed_request_completes_and_front_channel_parameters_are_ignored() {
    let server = TestServer::start().await;
    let request_uri = push_spa(&server).await;
    // RFC 9126 §4: everything but client_id and request_uri is ignored.
    let url = authorize_with(
        &server,
        &[
            ("client_id", SPA),
            ("request_uri", &request_uri),
            ("redirect_uri", "https://evil.example/cb"),
            ("state", "front-channel-state"),
            ("response_mode", "form_post"),
            ("scope", "openid email"),
        ],
    );
    let target = server
        .browser()
        .authorize(&server, &url, ALICE, ALICE_PASSWORD)
        .await
        .redirect();
    assert!(target.as_str().starts_with(SPA_REDIRECT), "{target}");
    let q = query_map(&target);
    assert_eq!(q["state"], "st-par");
    let tokens = token_json(redeem(&server, SPA, None, &q["code"], SPA_REDIRECT).await).await;
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], "n-par");
    assert_eq!(tokens["scope"], "openid", "{tokens}");
}

#[tokio::test]
async fn confidential_client_pushes_with_basic_auth_and_no_client_id_in_the_body() {
    let server = TestServer::start().await;
    let mut form = pushed_request(APP, APP_REDIRECT);
    form.retain(|(k, _)| *k != "client_id");
    let response = push(&server, Some((APP, APP_SECRET)), &form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let url = authorize_with(
        &server,
        &[
            ("client_id", APP),
            ("request_uri", body["request_uri"].as_str().unwrap()),
        ],
    );
    let code = code_in(&server.browser(), &server, &url).await;
    token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
}

#[tokio::test]
async fn request_uri_is_single_use() {
    let server = TestServer::start().await;
    let request_uri = push_spa(&server).await;
    let url = authorize_with(
        &server,
        &[("client_id", SPA), ("request_uri", &request_uri)],
    );
    let browser = server.browser();
    // The first use starts the sign-in (the login page).
    let (_, landing) = browser.go(&server, &url).await;
    assert!(
        matches!(&landing, Landing::Page { status, body } if *status == StatusCode::OK && body.contains("password")),
        "{landing:?}"
    );
    assert_refused_reference(&server, &url).await;
}

#[tokio::test]
async fn expired_request_uri_is_refused() {
    let server = TestServer::start().await;
    let request_uri = push_spa(&server).await;
    server
        .clock
        .advance(server.state.config.par.request_uri_ttl.as_secs() as i64 + 1);
    let url = authorize_with(
        &server,
        &[("client_id", SPA), ("request_uri", &request_uri)],
    );
    assert_refused_reference(&server, &url).await;
}

#[tokio::test]
async fn another_clients_request_uri_is_refused() {
    let server = TestServer::start().await;
    let request_uri = push_spa(&server).await;
    let url = authorize_with(
        &server,
        &[("client_id", APP), ("request_uri", &request_uri)],
    );
    assert_refused_reference(&server, &url).await;
    // Nor without a client_id.
    let url = authorize_with(&server, &[("request_uri", &request_uri)]);
    assert_refused_reference(&server, &url).await;
    // The refusals did not use it up: its own client still can.
    let url = authorize_with(
        &server,
        &[("client_id", SPA), ("request_uri", &request_uri)],
    );
    let (_, landing) = server.browser().go(&server, &url).await;
    assert!(
        matches!(&landing, Landing::Page { status, .. } if *status == StatusCode::OK),
        "{landing:?}"
    );
}

#[tokio::test]
async fn unknown_request_uri_is_refused() {
    let server = TestServer::start().await;
    let url = authorize_with(
        &server,
        &[
            ("client_id", SPA),
            ("request_uri", "urn:ietf:params:oauth:request_uri:made-up"),
        ],
    );
    assert_refused_reference(&server, &url).await;
}

#[tokio::test]
async fn client_that_requires_par_is_refused_in_the_front_channel_but_not_through_par() {
    let server = TestServer::start().await;
    server
        .add_client(ClientSpec {
            id: "par-only".into(),
            secret: None,
            redirect_uris: vec!["http://127.0.0.1:7003/cb".into()],
            require_pushed_authorization_requests: true,
            ..ClientSpec::default()
        })
        .await;
    let url = auth_url(
        &server,
        "par-only",
        "http://127.0.0.1:7003/cb",
        "openid",
        CHALLENGE,
    );
    let response = server.http.get(&url).send().await.unwrap();
    assert!(response.status().is_redirection());
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query_map(&location)["error"], "invalid_request");
    assert!(!query_map(&location).contains_key("code"));

    let response = push(
        &server,
        None,
        &pushed_request("par-only", "http://127.0.0.1:7003/cb"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let url = authorize_with(
        &server,
        &[
            ("client_id", "par-only"),
            ("request_uri", body["request_uri"].as_str().unwrap()),
        ],
    );
    code_in(&server.browser(), &server, &url).await;
}

#[tokio::test]
async fn provider_wide_par_requirement_is_advertised_and_enforced() {
    let server = TestServer::with(|c| c.par.required = true).await;
    let doc: Value = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["require_pushed_authorization_requests"], true);
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        server.url("/par")
    );
    let url = auth_url(&server, SPA, SPA_REDIRECT, "openid", CHALLENGE);
    let response = server.http.get(&url).send().await.unwrap();
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query_map(&location)["error"], "invalid_request");
}

#[tokio::test]
async fn par_refuses_what_authorize_would_refuse_in_json() {
    let server = TestServer::start().await;
    let base = pushed_request(APP, APP_REDIRECT);
    let with = |name: &'static str, value: &'static str| {
        let mut form: Vec<(&str, &str)> =
            base.iter().filter(|(k, _)| *k != name).cloned().collect();
        form.push((name, value));
        form
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            with("redirect_uri", "https://evil.example/cb"),
            "invalid_request",
        ),
        (with("response_type", "token"), "unsupported_response_type"),
        (with("prompt", "bogus"), "invalid_request"),
        // RFC 9126 §2.1: no reference inside a push; JAR is not supported.
        (
            with("request_uri", "urn:ietf:params:oauth:request_uri:x"),
            "invalid_request",
        ),
        (
            with("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
    ];
    for (form, code) in cases {
        let response = push(&server, Some((APP, APP_SECRET)), &form).await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, code).await;
    }
    // Client authentication comes first.
    let response = push(&server, Some((APP, "wrong-secret")), &base).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let response = push(&server, None, &[("response_type", "code")]).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Nothing was stored.
    let rows = signoff::store::entity::pushed_request::Entity::find()
        .all(&server.state.db)
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}

#[tokio::test]
async fn client_secret_of_the_push_is_not_stored() {
    let server = TestServer::start().await;
    let mut form = pushed_request(APP, APP_REDIRECT);
    form.push(("client_secret", APP_SECRET));
    let response = push(&server, None, &form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let rows = signoff::store::entity::pushed_request::Entity::find()
        .all(&server.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].params.contains(APP_SECRET), "{:?}", rows[0]);
    let reference = body["request_uri"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap();
    assert_ne!(
        rows[0].reference_hash, reference,
        "the reference is stored hashed"
    );
    assert!(rows[0].params.contains("st-par"));
}
