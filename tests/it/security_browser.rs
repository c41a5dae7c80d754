//! Security review of everything a browser touches: the authorization
//! endpoint, the login, consent, account and logout pages. Each test is a
//! finding (or a guard for a property the review checked) seen from the
//! browser or the relying party.

use crate::common::*;
use reqwest::StatusCode;
use signoff::admin::ClientSpec;
use url::Url;

const TOOL: &str = "tool";
const TOOL_SECRET: &str = "tool-secret-0123456789";
const TOOL_REDIRECT: &str = "http://127.0.0.1:7003/callback";

/// A third-party client registered for a scope of its own, besides openid.
async fn add_tool(server: &TestServer) {
    server
        .add_client(ClientSpec {
            id: TOOL.into(),
            secret: Some(TOOL_SECRET.into()),
            redirect_uris: vec![TOOL_REDIRECT.into()],
            scopes: vec!["openid".into(), "files.delete".into()],
            ..ClientSpec::default()
        })
        .await;
}

/// Sign alice in through `app` so the browser has an SSO session.
async fn signed_in_browser(server: &TestServer) -> Browser {
    let browser = server.browser();
    code_in(
        &browser,
        server,
        &auth_url(server, APP, APP_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    browser
}

/// The hosted-page headers that keep a page out of other sites' frames
/// (RFC 9700 §4.16) and out of caches.
fn assert_hosted_page_headers(response: &reqwest::Response, what: &str) {
    let h = response.headers();
    assert_eq!(
        h.get("x-frame-options").map(|v| v.to_str().unwrap()),
        Some("DENY"),
        "{what}: X-Frame-Options"
    );
    let csp = h
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{what}: CSP {csp:?}"
    );
    assert_eq!(
        h.get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{what}: Cache-Control"
    );
    let content_type = h
        .get("content-type")
        .map(|v| v.to_str().unwrap())
        .unwrap_or("");
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
}

/// OpenID Core §3.1.2.4: the consent page must make clear what is being
/// consented to. A scope with no friendly description was granted without
/// being shown.
#[tokio::test]
async fn consent_page_names_every_scope_it_grants() {
    let server = TestServer::start().await;
    add_tool(&server).await;
    let browser = signed_in_browser(&server).await;
    let (_, landing) = browser
        .go(
            &server,
            &auth_url(
                &server,
                TOOL,
                TOOL_REDIRECT,
                "openid files.delete",
                CHALLENGE,
            ),
        )
        .await;
    let Landing::Page { status, body } = landing else {
        panic!("expected the consent page, got {landing:?}")
    };
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("name=\"decision\""), "not the consent page");
    assert!(
        body.contains("files.delete"),
        "the consent page hides a scope it grants: {body}"
    );
}

/// A disabled client is refused at the token endpoint; /authorize must not
/// keep showing its login and consent pages and redirecting codes to it.
#[tokio::test]
async fn disabled_client_cannot_start_an_authorization() {
    let server = TestServer::start().await;
    add_tool(&server).await;
    assert!(
        signoff::revocation::disable_client(&server.state.revoker(), TOOL)
            .await
            .expect("disable the client")
            .is_some()
    );
    let browser = signed_in_browser(&server).await;
    let response = browser
        .http
        .get(auth_url(&server, TOOL, TOOL_REDIRECT, "openid", CHALLENGE))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers().get("location").is_none(),
        "a disabled client's request was answered with a redirect: {:?}",
        response.headers().get("location")
    );
}

/// A malformed query on the login and consent pages gets the hosted error
/// page (with its anti-framing headers), not a bare framework rejection.
#[tokio::test]
async fn malformed_page_queries_get_the_hosted_error_page() {
    let server = TestServer::start().await;
    for path in ["/login", "/consent"] {
        let response = server
            .http
            .get(server.url(&format!("{path}?interaction=a&interaction=b")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_hosted_page_headers(&response, path);
    }
}

/// Every hosted form (login, consent, logout confirmation, account) reads
/// its body the same way: a body that is not a form gets the hosted error
/// page, 400, with the page's anti-framing headers.
#[tokio::test]
async fn unreadable_page_forms_get_the_hosted_error_page() {
    let server = TestServer::start().await;
    for path in [
        "/login",
        "/consent",
        "/logout/confirm",
        "/account/login",
        "/account/sessions/end",
        "/account/sessions/end-all",
    ] {
        let response = server
            .http
            .post(server.url(path))
            .header("content-type", "application/json")
            .body("{\"csrf_token\":\"x\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_hosted_page_headers(&response, path);
        let body = response.text().await.unwrap();
        assert!(
            body.contains("The form could not be read."),
            "{path}: {body}"
        );
    }
}

/// RFC 6749 §4.1.2.1: error_description is limited to %x20-21 / %x23-5B /
/// %x5D-7E. Client input echoed into it broke that rule.
#[tokio::test]
async fn error_descriptions_do_not_echo_client_input() {
    let server = TestServer::start().await;
    let base = [
        ("response_type", "code"),
        ("client_id", APP),
        ("redirect_uri", APP_REDIRECT),
        ("scope", "openid"),
        ("state", "st-123"),
    ];
    let cases: [&[(&str, &str)]; 2] = [
        &[("prompt", "\u{e9}\"\\<b>")],
        &[("x\u{e9}\"", "1"), ("x\u{e9}\"", "2")],
    ];
    for extra in cases {
        let mut url = Url::parse(&server.url("/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(base).extend_pairs(extra);
        let response = server.http.get(url).send().await.unwrap();
        assert!(response.status().is_redirection(), "{extra:?}");
        let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        let params = query_map(&location);
        assert_eq!(params["error"], "invalid_request", "{location}");
        let description = &params["error_description"];
        assert!(
            description
                .chars()
                .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
            "error_description outside the RFC 6749 character set: {description:?}"
        );
    }
}

/// A login form submitted twice at once (double click) finishes the
/// interaction once: one authorization code, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_login_submissions_issue_one_code() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (url, landing) = browser
        .go(
            &server,
            &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
        )
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the login page, got {landing:?}")
    };
    let mut form = parse_forms(&url, &body)
        .into_iter()
        .find(|f| f.has_password)
        .expect("a login form");
    set_field(&mut form, "username", ALICE);
    set_field(&mut form, "password", ALICE_PASSWORD);
    let submit = || browser.http.post(&form.action).form(&form.fields).send();
    let (a, b) = tokio::join!(submit(), submit());
    let codes = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|r| {
            r.headers()
                .get("location")
                .and_then(|l| Url::parse(l.to_str().ok()?).ok())
                .is_some_and(|l| l.query_pairs().any(|(k, _)| k == "code"))
        })
        .count();
    assert_eq!(codes, 1, "one interaction finished more than once");
}

/// Every page a browser sees on the sign-in and sign-out paths, error pages
/// included, refuses to be framed and is not cached.
#[tokio::test]
async fn every_hosted_page_refuses_framing() {
    let server = TestServer::start().await;
    add_tool(&server).await;
    let browser = signed_in_browser(&server).await;
    // Consent page.
    let consent = browser
        .http
        .get(auth_url(&server, TOOL, TOOL_REDIRECT, "openid", CHALLENGE))
        .send()
        .await
        .unwrap();
    let consent_url = consent.headers()["location"].to_str().unwrap().to_owned();
    let consent = browser
        .http
        .get(
            Url::parse(&server.base)
                .unwrap()
                .join(&consent_url)
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_hosted_page_headers(&consent, "consent page");
    // Account page, logout confirmation, signed-out page.
    let account = browser
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap();
    assert_hosted_page_headers(&account, "account page");
    let confirm = browser
        .http
        .get(server.url("/logout"))
        .send()
        .await
        .unwrap();
    assert_hosted_page_headers(&confirm, "logout confirmation");
    let body = confirm.text().await.unwrap();
    let mut form = parse_forms(&Url::parse(&server.base).unwrap(), &body)
        .into_iter()
        .next()
        .expect("the confirmation form");
    form.fields.push(("decision".into(), "logout".into()));
    let signed_out = browser
        .http
        .post(&form.action)
        .form(&form.fields)
        .send()
        .await
        .unwrap();
    assert_hosted_page_headers(&signed_out, "signed-out page");
    // Error pages: a forged confirmation, an expired login page.
    let forged = browser
        .http
        .post(server.url("/logout/confirm"))
        .form(&[("csrf_token", "x"), ("decision", "logout")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert_hosted_page_headers(&forged, "forged logout confirmation");
    let expired = browser
        .http
        .get(server.url("/login?interaction=nope"))
        .send()
        .await
        .unwrap();
    assert_hosted_page_headers(&expired, "expired login page");
}

/// OpenID Core §3.1.2.2: with an id_token_hint, a positive answer is for the
/// user the ID token names. Someone else signing in on the login page got a
/// code as if the hint had been honoured.
#[tokio::test]
async fn id_token_hint_is_not_answered_for_another_user() {
    let server = TestServer::start().await;
    server.add_user("bob", "bob password 123").await;
    let code = code_in(
        &server.browser(),
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let tokens =
        token_json(redeem(&server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await;
    let hint = tokens["id_token"].as_str().expect("an ID token");
    let mut url = Url::parse(&auth_url(
        &server,
        FIRST,
        FIRST_REDIRECT,
        "openid",
        CHALLENGE,
    ))
    .unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", hint);
    let landing = server
        .browser()
        .authorize(&server, url.as_str(), "bob", "bob password 123")
        .await;
    assert_eq!(
        landing.param("code"),
        None,
        "a code for bob answered alice's hint"
    );
    assert_eq!(
        landing.param("error").as_deref(),
        Some("login_required"),
        "{landing:?}"
    );
    assert_eq!(landing.param("state").as_deref(), Some("st-123"));
}

/// PostgreSQL cannot store or compare text with a NUL character; such input
/// must be refused as bad input on every page, never reach the database and
/// never produce a 5xx (run this file with SIGNOFF_TEST_DATABASE_URL too).
#[tokio::test]
async fn nul_characters_are_bad_input_not_server_errors() {
    let server = TestServer::start().await;
    let browser = server.browser();
    // In a redirected parameter: an error redirect to the registered URI.
    let url = format!(
        "{}&nonce=a%00b",
        auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE)
    );
    let (_, landing) = browser.go(&server, &url).await;
    assert_eq!(landing.param("error").as_deref(), Some("invalid_request"));
    // In the client id: the hosted error page.
    let response = browser
        .http
        .get(server.url("/authorize?client_id=a%00pp&redirect_uri=x&response_type=code"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // In an interaction id and a login form.
    for path in ["/login?interaction=ab%00cd", "/consent?interaction=ab%00cd"] {
        let status = browser
            .http
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
    let status = browser
        .http
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("interaction=ab%00cd&csrf_token=x&username=al%00ice&password=p")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // At the token endpoint: invalid_request, not 500.
    let response = server
        .token_request(
            APP,
            APP_SECRET,
            &[("grant_type", "authorization_code"), ("code", "a\0b")],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}
