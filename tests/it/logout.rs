//! RP-Initiated Logout 1.0 at the end_session_endpoint, Front-Channel
//! Logout iframes, and the per-client logout_revokes policy, over HTTP.

use crate::common::{Landing, TestServer, parse_forms};
use crate::logout_support::*;
use reqwest::StatusCode;
use signoff::admin::ClientSpec;

/// A first-party RP (no logout confirmation with a valid hint) and a
/// third-party one, both with back-channel logout.
async fn setup() -> (TestServer, TestRp) {
    let server = TestServer::with(|c| {
        c.logout.worker_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let rp = TestRp::start().await;
    server
        .add_client(ClientSpec {
            first_party: true,
            ..rp_client("first-rp", &rp)
        })
        .await;
    server.add_client(rp_client("third-rp", &rp)).await;
    (server, rp)
}

fn page(landing: &Landing) -> (StatusCode, &str) {
    match landing {
        Landing::Page { status, body } => (*status, body.as_str()),
        Landing::Redirect(u) => panic!("expected a page, got a redirect to {u}"),
    }
}

/// Press a button of the page's first form.
async fn press(
    server: &TestServer,
    browser: &crate::common::Browser,
    at: &url::Url,
    body: &str,
    decision: &str,
) -> (url::Url, Landing) {
    let mut form = parse_forms(at, body).remove(0);
    form.fields.push(("decision".into(), decision.into()));
    browser.post_form(server, &form).await
}

#[tokio::test]
async fn discovery_advertises_logout() {
    let server = TestServer::start().await;
    let meta: serde_json::Value = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["end_session_endpoint"], server.url("/logout"));
    for flag in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(meta[flag], true, "{flag}");
    }
}

#[tokio::test]
async fn first_party_logout_with_a_hint_redirects_at_once_with_state() {
    let (server, rp) = setup().await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "first-rp", "openid").await;
    // An expired hint is still a good hint (RP-Initiated Logout §2).
    server.clock.advance(2 * 3600);
    let (_, landing) = end_session(
        &server,
        &browser,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", &post_logout_uri("first-rp")),
            ("state", "s t&ate"),
            ("ui_locales", "en"),
        ],
    )
    .await;
    let back = landing.redirect();
    assert_eq!(
        back.as_str().split('?').next().unwrap(),
        post_logout_uri("first-rp")
    );
    assert_eq!(crate::common::query_map(&back)["state"], "s t&ate");
    assert_eq!(
        prompt_none(&server, &browser, "first-rp").await,
        "login_required"
    );
    assert_eq!(
        prompt_none(&server, &browser, "third-rp").await,
        "login_required"
    );
    assert!(
        !is_active(
            &server,
            "first-rp",
            tokens["access_token"].as_str().unwrap()
        )
        .await
    );
    let got = rp.wait_for(1).await;
    validate_logout_token(&server, &got[0].logout_token(), "first-rp").await;
}

#[tokio::test]
async fn logout_without_state_redirects_without_state() {
    let (server, _rp) = setup().await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "first-rp", "openid").await;
    let (_, landing) = end_session(
        &server,
        &browser,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", &post_logout_uri("first-rp")),
        ],
    )
    .await;
    let back = landing.redirect();
    assert_eq!(back.as_str(), post_logout_uri("first-rp"));
    assert_eq!(
        prompt_none(&server, &browser, "first-rp").await,
        "login_required"
    );
}

#[tokio::test]
async fn third_party_logout_asks_first_and_can_be_declined() {
    let (server, _rp) = setup().await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "third-rp", "openid").await;
    let params = [
        ("id_token_hint", tokens["id_token"].as_str().unwrap()),
        ("post_logout_redirect_uri", &post_logout_uri("third-rp")),
        ("state", "xyz"),
    ];
    let (at, landing) = end_session(&server, &browser, &params).await;
    let (status, body) = page(&landing);
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Sign out?"), "{body}");
    // "Stay signed in" changes nothing.
    let (_, stayed) = press(&server, &browser, &at, body, "stay").await;
    assert!(page(&stayed).1.contains("still signed in"));
    assert_eq!(prompt_none(&server, &browser, "third-rp").await, "code");
    // Confirming logs out and returns to the RP with its state.
    let (at, landing) = end_session(&server, &browser, &params).await;
    let (_, back) = press(&server, &browser, &at, page(&landing).1, "logout").await;
    let back = back.redirect();
    assert_eq!(crate::common::query_map(&back)["state"], "xyz");
    assert_eq!(
        prompt_none(&server, &browser, "third-rp").await,
        "login_required"
    );
}

#[tokio::test]
async fn a_forged_confirmation_changes_nothing() {
    let (server, _rp) = setup().await;
    let browser = server.browser();
    sign_in(&server, &browser, "third-rp", "openid").await;
    let response = browser
        .http
        .post(server.url("/logout/confirm"))
        .form(&[
            ("decision", "logout"),
            ("csrf_token", "forged-forged-forged-forged-forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(prompt_none(&server, &browser, "third-rp").await, "code");
}

#[tokio::test]
async fn logout_without_parameters_confirms_then_shows_the_signed_out_page() {
    let (server, rp) = setup().await;
    let browser = server.browser();
    sign_in(&server, &browser, "first-rp", "openid").await;
    let (at, landing) = end_session(&server, &browser, &[]).await;
    let (_, body) = page(&landing);
    assert!(body.contains("Sign out?"), "{body}");
    let (_, done) = press(&server, &browser, &at, body, "logout").await;
    let (status, body) = page(&done);
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("You have signed out"), "{body}");
    assert_eq!(
        prompt_none(&server, &browser, "first-rp").await,
        "login_required"
    );
    rp.wait_for(1).await;
}

#[tokio::test]
async fn logout_by_post_is_supported() {
    let (server, _rp) = setup().await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "first-rp", "openid").await;
    let response = browser
        .http
        .post(server.url("/logout"))
        .form(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", &post_logout_uri("first-rp")),
            ("state", "p"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("{}?state=p", post_logout_uri("first-rp")));
    assert_eq!(
        prompt_none(&server, &browser, "first-rp").await,
        "login_required"
    );
}

/// A refused request: an error page, no redirect, and the session lives on.
async fn assert_refused(
    server: &TestServer,
    browser: &crate::common::Browser,
    params: &[(&str, &str)],
) {
    let (_, landing) = end_session(server, browser, params).await;
    let (status, body) = page(&landing);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("invalid_request"), "{body}");
    assert_eq!(prompt_none(server, browser, "first-rp").await, "code");
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_never_followed() {
    let (server, _rp) = setup().await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "first-rp", "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let elsewhere = format!("{}-not-registered", post_logout_uri("first-rp"));
    assert_refused(
        &server,
        &browser,
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", &elsewhere),
            ("state", "s"),
        ],
    )
    .await;
    // Exact match: an added query is another URI.
    let with_query = format!("{}?extra=1", post_logout_uri("first-rp"));
    assert_refused(
        &server,
        &browser,
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", &with_query),
        ],
    )
    .await;
    // Another client's registered URI is not this client's.
    assert_refused(
        &server,
        &browser,
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", &post_logout_uri("third-rp")),
        ],
    )
    .await;
    // Without any way to tell the RP, no redirect either.
    assert_refused(
        &server,
        &browser,
        &[("post_logout_redirect_uri", &post_logout_uri("first-rp"))],
    )
    .await;
}

#[tokio::test]
async fn a_hint_with_a_bad_signature_is_refused() {
    let (server, _rp) = setup().await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "first-rp", "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    // Same header and signature, altered claims.
    let mut parts: Vec<String> = hint.split('.').map(str::to_owned).collect();
    let mut claims = crate::common::jwt_claims(hint);
    claims["sub"] = "someone-else".into();
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    let tampered = parts.join(".");
    assert_refused(
        &server,
        &browser,
        &[
            ("id_token_hint", &tampered),
            ("post_logout_redirect_uri", &post_logout_uri("first-rp")),
            ("state", "s"),
        ],
    )
    .await;
    assert_refused(&server, &browser, &[("id_token_hint", "not-a-jwt")]).await;
}

#[tokio::test]
async fn a_hint_for_another_client_is_refused() {
    let (server, _rp) = setup().await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "first-rp", "openid").await;
    assert_refused(
        &server,
        &browser,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("client_id", "third-rp"),
            ("post_logout_redirect_uri", &post_logout_uri("third-rp")),
            ("state", "s"),
        ],
    )
    .await;
    assert_refused(&server, &browser, &[("client_id", "no-such-client")]).await;
}

#[tokio::test]
async fn client_id_without_a_hint_confirms_then_redirects() {
    let (server, _rp) = setup().await;
    let browser = server.browser();
    sign_in(&server, &browser, "first-rp", "openid").await;
    let (at, landing) = end_session(
        &server,
        &browser,
        &[
            ("client_id", "first-rp"),
            ("post_logout_redirect_uri", &post_logout_uri("first-rp")),
            ("state", "c"),
        ],
    )
    .await;
    // No hint: the OP must ask, even for a first-party client.
    let (_, body) = page(&landing);
    assert!(body.contains("Sign out?"));
    let (_, back) = press(&server, &browser, &at, body, "logout").await;
    assert_eq!(crate::common::query_map(&back.redirect())["state"], "c");
    assert_eq!(
        prompt_none(&server, &browser, "first-rp").await,
        "login_required"
    );
}

#[tokio::test]
async fn the_signed_out_page_loads_front_channel_iframes() {
    let server = TestServer::start().await;
    let rp = TestRp::start().await;
    server
        .add_client(ClientSpec {
            first_party: true,
            frontchannel_logout_uri: Some(rp.url("/frontchannel")),
            ..rp_client("fc-rp", &rp)
        })
        .await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "fc-rp", "openid").await;
    let sid = crate::common::jwt_claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", &post_logout_uri("fc-rp"))
        .append_pair("state", "f");
    let response = browser.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("frame-src {};", rp.url("/frontchannel"))),
        "{csp}"
    );
    let body = response.text().await.unwrap();
    let doc = scraper::Html::parse_document(&body);
    let frames: Vec<url::Url> = doc
        .select(&scraper::Selector::parse("iframe").unwrap())
        .map(|f| url::Url::parse(f.value().attr("src").unwrap()).unwrap())
        .collect();
    assert_eq!(frames.len(), 1);
    let q = crate::common::query_map(&frames[0]);
    assert_eq!(frames[0].path(), "/frontchannel");
    assert_eq!(q["iss"], server.base);
    assert_eq!(q["sid"], sid);
    // The page moves on to the RP's post-logout URI with the state.
    let refresh = doc
        .select(&scraper::Selector::parse("meta[http-equiv=refresh]").unwrap())
        .next()
        .expect("meta refresh")
        .value()
        .attr("content")
        .unwrap()
        .to_owned();
    assert!(
        refresh.ends_with(&format!("url={}?state=f", post_logout_uri("fc-rp"))),
        "{refresh}"
    );
    assert_eq!(
        prompt_none(&server, &browser, "fc-rp").await,
        "login_required"
    );
}

#[tokio::test]
async fn logout_revokes_nothing_keeps_the_clients_tokens() {
    let server = TestServer::start().await;
    let rp = TestRp::start().await;
    server
        .add_client(ClientSpec {
            first_party: true,
            logout_revokes: Some("nothing".into()),
            ..rp_client("keeper", &rp)
        })
        .await;
    server
        .add_client(ClientSpec {
            first_party: true,
            keep_offline_tokens: true,
            ..rp_client("offline", &rp)
        })
        .await;
    let browser = server.browser();
    let kept = sign_in(&server, &browser, "keeper", "openid").await;
    let offline = sign_in(&server, &browser, "offline", "openid offline_access").await;
    let online = sign_in(&server, &browser, "offline", "openid").await;
    let (_, landing) = end_session(
        &server,
        &browser,
        &[("id_token_hint", kept["id_token"].as_str().unwrap())],
    )
    .await;
    assert!(page(&landing).1.contains("You have signed out"));
    assert_eq!(
        prompt_none(&server, &browser, "keeper").await,
        "login_required"
    );
    assert!(is_active(&server, "keeper", kept["access_token"].as_str().unwrap()).await);
    assert!(
        is_active(
            &server,
            "offline",
            offline["access_token"].as_str().unwrap()
        )
        .await
    );
    assert!(!is_active(&server, "offline", online["access_token"].as_str().unwrap()).await);
    // The kept offline grant still refreshes.
    let refreshed = server
        .token_request(
            "offline",
            &secret("offline"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", offline["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    crate::common::token_json(refreshed).await;
}

#[tokio::test]
async fn an_unknown_logout_policy_is_refused_at_registration() {
    let server = TestServer::start().await;
    let err = signoff::admin::add_client(
        &server.state.revoker(),
        ClientSpec {
            logout_revokes: Some("everything".into()),
            ..rp_client("bad", &TestRp::down().await)
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("logout_revokes"), "{err}");
}
