//! Bad authorization requests (RFC 6749 §4.1.2.1, OpenID Core §3.1.2.6):
//! until the client and redirect URI are known good the user sees an error
//! page and nothing is redirected; after, the error goes back to the client
//! with `state` and `iss` (RFC 9207).

use crate::common::*;
use reqwest::StatusCode;
use url::Url;

/// An /authorize URL from raw pairs, so tests can repeat or leave out any.
fn authorize_url(server: &TestServer, pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

/// A complete, valid request for the confidential client `app`.
fn app_request() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", APP),
        ("redirect_uri", APP_REDIRECT),
        ("scope", "openid"),
        ("state", "st-123"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

fn without(
    pairs: &[(&'static str, &'static str)],
    name: &str,
) -> Vec<(&'static str, &'static str)> {
    pairs.iter().filter(|(k, _)| *k != name).cloned().collect()
}

fn with(
    pairs: &[(&'static str, &'static str)],
    name: &'static str,
    value: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut out = without(pairs, name);
    out.push((name, value));
    out
}

/// The request ends on our HTML error page: 400, no redirect anywhere.
async fn assert_error_page(server: &TestServer, url: &str) -> String {
    let response = server.http.get(url).send().await.expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers().get("location").is_none(),
        "an error page must not redirect: {:?}",
        response.headers().get("location")
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    response.text().await.unwrap()
}

/// The request is redirected to `redirect_uri` with `error`, the client's
/// state and our issuer.
async fn assert_error_redirect(
    server: &TestServer,
    url: &str,
    redirect_uri: &str,
    error: &str,
) -> Url {
    let response = server.http.get(url).send().await.expect("authorize");
    assert_redirect_error(server, response, redirect_uri, error, Some("st-123"))
}

fn assert_redirect_error(
    server: &TestServer,
    response: reqwest::Response,
    redirect_uri: &str,
    error: &str,
    state: Option<&str>,
) -> Url {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let mut base = location.clone();
    base.set_query(None);
    assert_eq!(base.as_str(), redirect_uri);
    let params = query_map(&location);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some(error),
        "{location}"
    );
    assert_eq!(params.get("state").map(String::as_str), state, "{location}");
    // RFC 9207 §2: error responses name the issuer too.
    assert_eq!(params.get("iss"), Some(&server.base), "{location}");
    assert!(!params.contains_key("code"), "{location}");
    // The error goes in the query, never in a fragment a token would use.
    assert!(location.fragment().is_none(), "{location}");
    location
}

/// The valid request of the public client `spa`, without PKCE.
fn spa_request() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("scope", "openid"),
        ("state", "st-123"),
    ]
}

/// `pairs` with `name` sent a second time (RFC 6749 §3.1 forbids it).
fn repeated(
    pairs: &[(&'static str, &'static str)],
    name: &'static str,
    value: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut out = pairs.to_vec();
    out.push((name, value));
    out
}

/// Requests refused before the client and redirect URI are known good: one
/// test per row, each ending on the error page with no redirect. A row may
/// name what the page must say, or must not repeat.
macro_rules! error_page_matrix {
    ($($name:ident: $request:expr $(, says $says:literal)? $(, never $never:literal)?;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let server = TestServer::start().await;
            let url = authorize_url(&server, &$request);
            let _body = assert_error_page(&server, &url).await;
            $(assert!(_body.contains($says), "{_body}");)?
            $(assert!(!_body.contains($never), "{_body}");)?
        }
    )*};
}

error_page_matrix! {
    unknown_client_gets_error_page_not_a_redirect:
        with(&app_request(), "client_id", "no-such-client"), says "not registered";
    missing_client_id_gets_error_page: without(&app_request(), "client_id");
    unregistered_redirect_uri_gets_error_page:
        with(&app_request(), "redirect_uri", "https://attacker.example/callback"),
        never "attacker.example";
    // OpenID Core §3.1.2.1: simple string comparison, so case matters.
    redirect_uri_differing_only_by_case_gets_error_page:
        with(&app_request(), "redirect_uri", "http://127.0.0.1:7001/Callback");
    redirect_uri_with_trailing_slash_gets_error_page:
        with(&app_request(), "redirect_uri", "http://127.0.0.1:7001/callback/");
    redirect_uri_with_extra_query_gets_error_page:
        with(
            &app_request(),
            "redirect_uri",
            "http://127.0.0.1:7001/callback?next=https://attacker.example",
        );
    missing_redirect_uri_gets_error_page: without(&app_request(), "redirect_uri");
    duplicated_client_id_gets_error_page: repeated(&app_request(), "client_id", FIRST);
    duplicated_redirect_uri_gets_error_page:
        repeated(&app_request(), "redirect_uri", "https://attacker.example/callback");
}

/// Requests refused once the client and redirect URI are known good: one
/// test per row, each redirected to the redirect URI with the RFC 6749
/// §4.1.2.1 / OpenID Core §3.1.2.6 error, the client's state and our issuer.
/// A row may name a word the error_description must hold.
macro_rules! error_redirect_matrix {
    ($($name:ident: $request:expr => $redirect_uri:expr, $error:literal
        $(, description mentions $word:literal)?;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let server = TestServer::start().await;
            let url = authorize_url(&server, &$request);
            let _location = assert_error_redirect(&server, &url, $redirect_uri, $error).await;
            $(
                let description = query_map(&_location)
                    .get("error_description")
                    .cloned()
                    .unwrap_or_default();
                assert!(description.contains($word), "{description}");
            )?
        }
    )*};
}

error_redirect_matrix! {
    missing_response_type_redirects_invalid_request:
        without(&app_request(), "response_type") => APP_REDIRECT, "invalid_request";
    implicit_response_type_is_unsupported:
        with(&app_request(), "response_type", "token") => APP_REDIRECT, "unsupported_response_type";
    public_client_without_pkce_redirects_invalid_request:
        spa_request() => SPA_REDIRECT, "invalid_request";
    // RFC 9700 §2.1.1: plain offers no protection against a stolen request.
    plain_pkce_method_redirects_invalid_request:
        repeated(
            &repeated(&spa_request(), "code_challenge", VERIFIER),
            "code_challenge_method",
            "plain",
        ) => SPA_REDIRECT, "invalid_request";
    duplicated_scope_redirects_invalid_request:
        repeated(&app_request(), "scope", "openid email") => APP_REDIRECT, "invalid_request",
        description mentions "scope";
    // RFC 6749 §3.3: a scope token with a quote is malformed.
    malformed_scope_redirects_invalid_scope:
        with(&app_request(), "scope", "openid files\"read") => APP_REDIRECT, "invalid_scope";
    request_object_is_not_supported:
        with(&app_request(), "request", "eyJhbGciOiJub25lIn0.e30.")
            => APP_REDIRECT, "request_not_supported";
    request_uri_is_not_supported:
        with(&app_request(), "request_uri", "https://app.example/request.jwt")
            => APP_REDIRECT, "request_uri_not_supported";
    invalid_id_token_hint_redirects_invalid_request:
        with(&app_request(), "id_token_hint", "not.a.token") => APP_REDIRECT, "invalid_request";
}

#[tokio::test]
async fn id_token_hint_for_another_client_redirects_invalid_request() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let code = code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let tokens =
        token_json(redeem(&server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let mut pairs: Vec<(&str, &str)> = app_request();
    pairs.push(("id_token_hint", &id_token));
    let url = authorize_url(&server, &pairs);
    let response = browser.http.get(&url).send().await.unwrap();
    assert_redirect_error(
        &server,
        response,
        APP_REDIRECT,
        "invalid_request",
        Some("st-123"),
    );
}

#[tokio::test]
async fn post_authorize_works_like_get() {
    let server = TestServer::start().await;
    let browser = server.browser();
    // OpenID Core §3.1.2.1: the same parameters, form-encoded.
    let response = browser
        .http
        .post(server.url("/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", FIRST),
            ("redirect_uri", FIRST_REDIRECT),
            ("scope", "openid"),
            ("state", "st-post"),
            ("nonce", "n-post"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = server
        .url("/")
        .parse::<Url>()
        .unwrap()
        .join(response.headers()["location"].to_str().unwrap())
        .unwrap();
    let (page_url, landing) = browser.go(&server, location.as_str()).await;
    let Landing::Page { status, body } = landing else {
        panic!("expected the login page, got {landing:?}")
    };
    assert_eq!(status, StatusCode::OK);
    let (_, landing) = browser
        .login(&server, &page_url, &body, ALICE, ALICE_PASSWORD)
        .await;
    let redirect = landing.redirect();
    let params = query_map(&redirect);
    assert_eq!(params["state"], "st-post");
    assert_eq!(params["iss"], server.base);
    let tokens = token_json(
        redeem(
            &server,
            FIRST,
            Some(FIRST_SECRET),
            &params["code"],
            FIRST_REDIRECT,
        )
        .await,
    )
    .await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["nonce"],
        "n-post"
    );
}

#[tokio::test]
async fn post_authorize_errors_like_get() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.url("/authorize"))
        .form(&with(&app_request(), "response_type", "token"))
        .send()
        .await
        .unwrap();
    assert_redirect_error(
        &server,
        response,
        APP_REDIRECT,
        "unsupported_response_type",
        Some("st-123"),
    );
}

#[tokio::test]
async fn undecodable_parameters_get_an_error_page_not_a_server_error() {
    let server = TestServer::start().await;
    let url = server.url("/authorize?client_id=%FF%FE&redirect_uri=%C3%28&response_type=code");
    assert_error_page(&server, &url).await;
}
