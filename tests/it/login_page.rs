//! The hosted login page: one answer for every bad credential, no session
//! unless the sign-in is genuine, forms bound to the browser that opened
//! them, and the headers that keep the page out of frames and referrers.

use crate::common::*;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use url::Url;

/// Open the login page for `app` in `browser`: its URL, body and form.
async fn open_login(server: &TestServer, browser: &Browser) -> (Url, String, HtmlForm) {
    let (url, landing) = browser
        .go(
            server,
            &auth_url(server, APP, APP_REDIRECT, "openid", CHALLENGE),
        )
        .await;
    let Landing::Page { status, body } = landing else {
        panic!("expected the login page, got {landing:?}")
    };
    assert_eq!(status, StatusCode::OK);
    let form = parse_forms(&url, &body)
        .into_iter()
        .find(|f| f.has_password)
        .expect("a login form");
    (url, body, form)
}

/// POST `form` with `browser` and return the raw response.
async fn submit(browser: &Browser, form: &HtmlForm) -> reqwest::Response {
    browser
        .http
        .post(&form.action)
        .form(&form.fields)
        .send()
        .await
        .expect("login POST")
}

fn filled(form: &HtmlForm, username: &str, password: &str) -> HtmlForm {
    let mut form = form.clone();
    set_field(&mut form, "username", username);
    set_field(&mut form, "password", password);
    form
}

fn sets_session_cookie(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap_or("").starts_with("signoff_session="))
}

/// The text of the page's alert box.
fn alert_text(body: &str) -> String {
    let doc = Html::parse_document(body);
    let alert = Selector::parse("[role=alert]").unwrap();
    doc.select(&alert)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .unwrap_or_default()
}

/// The browser has no SSO session: a silent request must say login_required.
async fn assert_signed_out(server: &TestServer, browser: &Browser) {
    let mut url = Url::parse(&auth_url(
        server,
        FIRST,
        FIRST_REDIRECT,
        "openid",
        CHALLENGE,
    ))
    .unwrap();
    url.query_pairs_mut().append_pair("prompt", "none");
    let (_, landing) = browser.go(server, url.as_str()).await;
    assert_eq!(
        landing.param("error").as_deref(),
        Some("login_required"),
        "{landing:?}"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (_, _, form) = open_login(&server, &browser).await;

    let wrong_password = submit(&browser, &filled(&form, ALICE, "not her password")).await;
    assert!(!sets_session_cookie(&wrong_password));
    let wrong_password_status = wrong_password.status();
    let wrong_password_body = wrong_password.text().await.unwrap();

    let unknown_user = submit(&browser, &filled(&form, "mallory", "not her password")).await;
    assert!(!sets_session_cookie(&unknown_user));
    let unknown_user_status = unknown_user.status();
    let unknown_user_body = unknown_user.text().await.unwrap();

    assert_eq!(wrong_password_status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_user_status, wrong_password_status);
    let message = alert_text(&wrong_password_body);
    assert!(!message.is_empty(), "{wrong_password_body}");
    assert_eq!(alert_text(&unknown_user_body), message);
    // The page is the login form again, ready for another try.
    assert!(wrong_password_body.contains("type=\"password\""));
    assert_signed_out(&server, &browser).await;
}

#[tokio::test]
async fn disabled_user_cannot_sign_in() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (_, _, form) = open_login(&server, &browser).await;
    let unknown = submit(&browser, &filled(&form, "mallory", "whatever-password")).await;
    let generic = alert_text(&unknown.text().await.unwrap());

    server.disable_user(ALICE).await;
    let response = submit(&browser, &filled(&form, ALICE, ALICE_PASSWORD)).await;
    assert!(!sets_session_cookie(&response));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The page does not reveal that the account exists but is disabled.
    assert_eq!(alert_text(&response.text().await.unwrap()), generic);
    assert_signed_out(&server, &browser).await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sso_session() {
    let server = TestServer::start().await;
    let browser = server.browser();
    code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    server.disable_user(ALICE).await;
    assert_signed_out(&server, &browser).await;
}

#[tokio::test]
async fn tampered_csrf_token_is_refused() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (_, _, form) = open_login(&server, &browser).await;
    let mut form = filled(&form, ALICE, ALICE_PASSWORD);
    set_field(&mut form, "csrf_token", "forged-token");
    let response = submit(&browser, &form).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    assert!(!sets_session_cookie(&response));
    assert_signed_out(&server, &browser).await;
}

#[tokio::test]
async fn missing_csrf_token_is_refused() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (_, _, form) = open_login(&server, &browser).await;
    let mut form = filled(&form, ALICE, ALICE_PASSWORD);
    form.fields.retain(|(k, _)| k != "csrf_token");
    let response = submit(&browser, &form).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!sets_session_cookie(&response));
    assert_signed_out(&server, &browser).await;
}

#[tokio::test]
async fn login_page_of_another_browser_is_refused() {
    let server = TestServer::start().await;
    let victim = server.browser();
    let (login_url, _, form) = open_login(&server, &victim).await;

    // Another browser (no signoff_browser cookie) opening the same link.
    let attacker = server.browser();
    let response = attacker.http.get(login_url.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert!(!body.contains("type=\"password\""), "{body}");

    // Or posting the form, CSRF token and all.
    let response = submit(&attacker, &filled(&form, ALICE, ALICE_PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    assert!(!sets_session_cookie(&response));
    assert_signed_out(&server, &attacker).await;
}

#[tokio::test]
async fn unknown_interaction_is_refused() {
    let server = TestServer::start().await;
    let browser = server.browser();
    open_login(&server, &browser).await;
    let response = browser
        .http
        .get(server.url("/login?interaction=no-such-interaction"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn expired_interaction_is_refused() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (_, _, form) = open_login(&server, &browser).await;
    server.clock.advance(16 * 60);
    let response = submit(&browser, &filled(&form, ALICE, ALICE_PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!sets_session_cookie(&response));
}

#[tokio::test]
async fn login_page_sends_security_headers() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (login_url, _, _) = open_login(&server, &browser).await;
    let response = browser.http.get(login_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn authorize_error_page_sends_security_headers() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(auth_url(
            &server,
            "no-such-client",
            APP_REDIRECT,
            "openid",
            CHALLENGE,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn session_cookie_is_httponly_lax_and_not_secure_on_http() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (_, _, form) = open_login(&server, &browser).await;
    let response = submit(&browser, &filled(&form, ALICE, ALICE_PASSWORD)).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("signoff_session="))
        .expect("a session cookie");
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.iter().any(|a| a == "httponly"), "{cookie}");
    assert!(attributes.iter().any(|a| a == "samesite=lax"), "{cookie}");
    assert!(attributes.iter().any(|a| a == "path=/"), "{cookie}");
    // The issuer is http://127.0.0.1: a Secure cookie would never come back.
    assert!(!attributes.iter().any(|a| a == "secure"), "{cookie}");
}

#[tokio::test]
async fn login_hint_prefills_the_username() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let mut url = Url::parse(&auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE)).unwrap();
    url.query_pairs_mut()
        .append_pair("login_hint", "alice\"><b>x");
    let (page_url, landing) = browser.go(&server, url.as_str()).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the login page")
    };
    let form = parse_forms(&page_url, &body)
        .into_iter()
        .find(|f| f.has_password)
        .unwrap();
    let username = form.fields.iter().find(|(k, _)| k == "username").unwrap();
    // Escaped into the value attribute, not into the markup.
    assert_eq!(username.1, "alice\"><b>x");
    assert!(!body.contains("<b>x"), "{body}");
}
