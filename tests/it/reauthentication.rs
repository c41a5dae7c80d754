//! OpenID Core §3.1.2.1: when a request demands a (fresh) login —
//! prompt=login, max_age, an id_token_hint naming someone else — the consent
//! form, which carries the login page's CSRF token, must not answer it.

use signoff::clock::Clock;

use crate::common::*;

/// Alice signed in and consented to `client` once, in a new browser.
async fn signed_in(server: &TestServer, client: &str, redirect: &str) -> Browser {
    let browser = server.browser();
    code_in(
        &browser,
        server,
        &auth_url(server, client, redirect, "openid profile", CHALLENGE),
    )
    .await;
    browser
}

/// Go to `url`, which must land on the login page; return it.
async fn login_page(server: &TestServer, browser: &Browser, url: &str) -> (url::Url, String) {
    let (at, landing) = browser.go(server, url).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the login page, got {landing:?}")
    };
    assert!(
        parse_forms(&at, &body).iter().any(|f| f.has_password),
        "expected the login page: {body}"
    );
    (at, body)
}

/// Post the consent form (decision=approve) with the login page's
/// interaction and CSRF token, skipping the password.
async fn approve_from_login_page(
    server: &TestServer,
    browser: &Browser,
    at: &url::Url,
    body: &str,
) -> Landing {
    let login = parse_forms(at, body)
        .into_iter()
        .find(|f| f.has_password)
        .expect("a login form");
    let mut fields: Vec<(String, String)> = login
        .fields
        .into_iter()
        .filter(|(k, _)| k == "interaction" || k == "csrf_token")
        .collect();
    fields.push(("decision".into(), "approve".into()));
    let form = HtmlForm {
        action: server.url("/consent"),
        fields,
        has_password: false,
    };
    browser.post_form(server, &form).await.1
}

fn assert_no_code_and_back_to_login(landing: &Landing) {
    assert_eq!(landing.param("code"), None, "a code without a login");
    match landing {
        Landing::Page { body, .. } => {
            assert!(body.contains("type=\"password\""), "login page: {body}")
        }
        Landing::Redirect(u) => panic!("expected the login page, got {u}"),
    }
}

#[tokio::test]
async fn consent_post_does_not_skip_prompt_login() {
    let server = TestServer::start().await;
    let browser = signed_in(&server, APP, APP_REDIRECT).await;
    let url = auth_url(&server, APP, APP_REDIRECT, "openid profile", CHALLENGE) + "&prompt=login";
    let (at, body) = login_page(&server, &browser, &url).await;
    let landing = approve_from_login_page(&server, &browser, &at, &body).await;
    assert_no_code_and_back_to_login(&landing);
}

#[tokio::test]
async fn consent_post_does_not_skip_prompt_login_for_a_first_party_client() {
    let server = TestServer::start().await;
    let browser = signed_in(&server, FIRST, FIRST_REDIRECT).await;
    let url =
        auth_url(&server, FIRST, FIRST_REDIRECT, "openid profile", CHALLENGE) + "&prompt=login";
    let (at, body) = login_page(&server, &browser, &url).await;
    let landing = approve_from_login_page(&server, &browser, &at, &body).await;
    assert_no_code_and_back_to_login(&landing);
}

#[tokio::test]
async fn consent_post_does_not_skip_max_age_and_a_real_login_refreshes_auth_time() {
    let server = TestServer::start().await;
    let browser = signed_in(&server, APP, APP_REDIRECT).await;
    server.clock.advance(120);
    let url = auth_url(&server, APP, APP_REDIRECT, "openid profile", CHALLENGE) + "&max_age=0";
    let (at, body) = login_page(&server, &browser, &url).await;
    let landing = approve_from_login_page(&server, &browser, &at, &body).await;
    assert_no_code_and_back_to_login(&landing);

    // The login the request asked for, on the page the browser was sent to.
    let (at, body) = login_page(&server, &browser, &url).await;
    let (_, landing) = browser
        .login(&server, &at, &body, ALICE, ALICE_PASSWORD)
        .await;
    let code = landing
        .param("code")
        .unwrap_or_else(|| panic!("a code after signing in: {landing:?}"));
    let tokens =
        token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["auth_time"], server.clock.now(), "{claims}");
}

#[tokio::test]
async fn consent_post_does_not_answer_an_id_token_hint_naming_another_user() {
    let server = TestServer::start().await;
    server.add_user("bob", "bob's long password").await;
    let bob = server.browser();
    let landing = bob
        .authorize(
            &server,
            &auth_url(&server, APP, APP_REDIRECT, "openid profile", CHALLENGE),
            "bob",
            "bob's long password",
        )
        .await;
    let code = landing.param("code").expect("bob's code");
    let tokens =
        token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
    let bobs_id_token = tokens["id_token"].as_str().unwrap().to_owned();

    let alice = signed_in(&server, APP, APP_REDIRECT).await;
    let mut url = url::Url::parse(&auth_url(
        &server,
        APP,
        APP_REDIRECT,
        "openid profile",
        CHALLENGE,
    ))
    .unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &bobs_id_token);
    let (at, body) = login_page(&server, &alice, url.as_str()).await;
    let landing = approve_from_login_page(&server, &alice, &at, &body).await;
    assert_no_code_and_back_to_login(&landing);
}
