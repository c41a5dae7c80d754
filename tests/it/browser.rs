//! The hosted pages in a real browser: Debian's headless Chromium, driven
//! over WebDriver, through sign-in, consent, the account page, RP-initiated
//! logout with front-channel iframes, and a cross-site POST /authorize; the
//! cookies as Chromium stores them; and the pages' accessibility (labels,
//! focus, contrast, 320 px, no script). Each test asserts what a person
//! sees. Screenshots: `target/browser-screenshots/`, and `docs/screenshots/`
//! with `SIGNOFF_UPDATE_SCREENSHOTS=1`.
//!
//! Skipped, with a message, where chromium or chromedriver is missing;
//! `SIGNOFF_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure.

use crate::browser_support::*;
use crate::common::*;
use fantoccini::{Client, Locator};
use signoff::admin::ClientSpec;
use url::Url;

const RP: &str = "rp";
const RP_SECRET: &str = "rp-secret-0123456789";

/// A third-party relying party living on `site`.
fn rp_client(site: &RpSite) -> ClientSpec {
    ClientSpec {
        id: RP.into(),
        secret: Some(RP_SECRET.into()),
        redirect_uris: vec![site.url("/callback")],
        post_logout_redirect_uris: vec![site.url("/signed-out")],
        frontchannel_logout_uri: Some(site.url("/frontchannel")),
        ..ClientSpec::default()
    }
}

/// An authorization request of `rp` at `issuer`.
fn rp_request(issuer: &str, site: &RpSite, scope: &str, state: &str) -> String {
    let mut url = Url::parse(&format!("{issuer}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", RP)
        .append_pair("redirect_uri", &site.url("/callback"))
        .append_pair("scope", scope)
        .append_pair("state", state)
        .append_pair("nonce", "n-browser")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// Click `css` and wait until the page it leads to has loaded (the old
/// document is marked first, so a reload of the same URL is seen).
async fn click_and_wait(c: &Client, css: &str) {
    js(
        c,
        "document.documentElement.dataset.stale = '1'; return null;",
    )
    .await;
    click(c, css).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state = c
            .execute(
                "return document.readyState === 'complete' && !document.documentElement.dataset.stale;",
                vec![],
            )
            .await;
        if matches!(state, Ok(serde_json::Value::Bool(true))) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new page after clicking {css}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Type alice's credentials into the login form and press "Sign in".
async fn sign_in(c: &Client, password: &str) {
    fill(c, "#username", ALICE).await;
    fill(c, "#password", password).await;
    click_and_wait(c, "button[type=submit]").await;
}

/// The authorization code the RP site received last (and its state).
fn last_code(site: &RpSite) -> (String, String) {
    let hit = site.hits("/callback").pop().expect("a callback");
    let q = query_map(&hit);
    let code = q
        .get("code")
        .unwrap_or_else(|| panic!("no code in {hit}"))
        .clone();
    (code, q.get("state").cloned().unwrap_or_default())
}

#[tokio::test]
async fn sign_in_and_consent_work_without_javascript_and_show_errors_and_focus() {
    let Some(tools) =
        tools("sign_in_and_consent_work_without_javascript_and_show_errors_and_focus")
    else {
        return;
    };
    let server = TestServer::start().await;
    let site = RpSite::start("127.0.0.1").await;
    server.add_client(rp_client(&site)).await;
    let request = rp_request(&server.base, &site, "openid email", "st-browser");
    let options = Options {
        no_javascript: true,
        ..Options::default()
    };
    let site2 = site.clone();
    with_browser(&tools, options, move |c| async move {
        c.goto(&request).await.unwrap();
        wait_for_path(&c, "/login").await;
        assert_eq!(text(&c, "h1").await, "Sign in");
        assert_eq!(text(&c, "main .card p.muted").await, "to continue to rp");
        assert_eq!(
            focused_id(&c).await,
            "username",
            "the username field has focus"
        );
        screenshot(&c, "login").await;

        // Empty fields: the browser's own validation (required) stops the
        // submission; the page is not replaced.
        js(
            &c,
            "document.documentElement.dataset.stale = '1'; return null;",
        )
        .await;
        click(&c, "button[type=submit]").await;
        assert_eq!(
            js(
                &c,
                "return [document.documentElement.dataset.stale, \
                 document.getElementById('username').validity.valueMissing, \
                 document.querySelector('form').checkValidity()];"
            )
            .await,
            serde_json::json!(["1", true, false])
        );

        // A wrong password: one message, the username kept, focus on the
        // password field, both fields marked invalid.
        sign_in(&c, "wrong password").await;
        assert_eq!(
            text(&c, "[role=alert]").await,
            "The username or password is incorrect."
        );
        let kept = c.find(Locator::Css("#username")).await.unwrap();
        assert_eq!(kept.prop("value").await.unwrap().as_deref(), Some(ALICE));
        assert_eq!(focused_id(&c).await, "password");
        assert_eq!(
            js(
                &c,
                "return document.getElementById('password').getAttribute('aria-invalid');"
            )
            .await,
            "true"
        );
        screenshot(&c, "login-error").await;

        // The right password: the consent page names the app and each scope.
        sign_in(&c, ALICE_PASSWORD).await;
        wait_for_path(&c, "/consent").await;
        assert_eq!(text(&c, "h1").await, "Allow rp to access your account?");
        let scopes = c.find_all(Locator::Css("ul.scopes li")).await.unwrap();
        let mut shown = Vec::new();
        for li in scopes {
            shown.push(li.text().await.unwrap());
        }
        assert_eq!(
            shown,
            [
                "Know who you are (your account identifier)",
                "See your email address"
            ]
        );
        assert_eq!(text(&c, "main .card p.muted").await, "Signed in as alice");
        screenshot(&c, "consent").await;

        click_and_wait(&c, "button[value=approve]").await;
        wait_for_path(&c, "/callback").await;
        assert_eq!(text(&c, "h1").await, "Signed in at the application");
        // JavaScript was off throughout: the RP's page shows its noscript.
        assert_eq!(text(&c, "#noscript").await, "JavaScript is off");
    })
    .await;

    let (code, state) = last_code(&site2);
    assert_eq!(state, "st-browser");
    let tokens =
        token_json(redeem(&server, RP, Some(RP_SECRET), &code, &site2.url("/callback")).await)
            .await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["nonce"], "n-browser");
    assert_eq!(claims["email"], "alice@example.com");
}

#[tokio::test]
async fn denying_consent_sends_access_denied_to_the_application() {
    let Some(tools) = tools("denying_consent_sends_access_denied_to_the_application") else {
        return;
    };
    let server = TestServer::start().await;
    let site = RpSite::start("127.0.0.1").await;
    server.add_client(rp_client(&site)).await;
    let request = rp_request(&server.base, &site, "openid", "st-deny");
    let site2 = site.clone();
    with_browser(&tools, Options::default(), move |c| async move {
        c.goto(&request).await.unwrap();
        wait_for_path(&c, "/login").await;
        sign_in(&c, ALICE_PASSWORD).await;
        wait_for_path(&c, "/consent").await;
        click_and_wait(&c, "button[value=deny]").await;
        wait_for_path(&c, "/callback").await;
    })
    .await;
    let hit = site2.hits("/callback").pop().unwrap();
    let q = query_map(&hit);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-deny");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn account_page_lists_sessions_and_signs_out_one_then_all() {
    let Some(tools) = tools("account_page_lists_sessions_and_signs_out_one_then_all") else {
        return;
    };
    let server = TestServer::start().await;
    let account = server.url("/account");
    // Another device of alice's: a second session, used by `app`.
    let phone = server.browser();
    code_in(
        &phone,
        &server,
        &auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let base = server.base.clone();
    let phone_check = auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE) + "&prompt=none";

    with_browser(&tools, Options::default(), {
        let account = account.clone();
        move |c| async move {
            c.goto(&account).await.unwrap();
            wait_for_path(&c, "/account").await;
            assert_eq!(text(&c, "h1").await, "Sign in to your account");
            assert_eq!(focused_id(&c).await, "username");
            sign_in(&c, ALICE_PASSWORD).await;
            wait_for_path(&c, "/account").await;
            assert_eq!(text(&c, "h1").await, "Your sessions");
            assert_eq!(text(&c, "main .card p.muted").await, "Signed in as alice");
            let rows = c.find_all(Locator::Css("li.session")).await.unwrap();
            assert_eq!(rows.len(), 2, "this browser and the phone");
            // The current session comes first and says so.
            let first = rows[0].text().await.unwrap();
            assert!(
                first.contains("HeadlessChrome") && first.contains("(this device)"),
                "{first}"
            );
            let other = rows[1].text().await.unwrap();
            assert!(
                other.contains("Unknown device") && other.contains("Applications: app"),
                "{other}"
            );
            assert!(!other.contains("(this device)"), "{other}");
            screenshot(&c, "account").await;

            // Sign the phone out.
            click_and_wait(&c, "li.session:nth-child(2) button").await;
            wait_for_path(&c, "/account").await;
            let rows = c.find_all(Locator::Css("li.session")).await.unwrap();
            assert_eq!(rows.len(), 1);
            assert!(rows[0].text().await.unwrap().contains("(this device)"));

            // Then everything, this browser included.
            click_and_wait(&c, "form[action$='/account/sessions/end-all'] button").await;
            assert_eq!(text(&c, "h1").await, "You have signed out");
            c.goto(&account).await.unwrap();
            wait_for_path(&c, "/account").await;
            assert_eq!(text(&c, "h1").await, "Sign in to your account");
        }
    })
    .await;

    // The phone's session ended when the browser said so.
    let (_, landing) = phone.go(&server, &phone_check).await;
    assert_eq!(
        landing.param("error").as_deref(),
        Some("login_required"),
        "{base}"
    );
}

#[tokio::test]
async fn rp_initiated_logout_asks_first_then_loads_frontchannel_iframes_and_returns() {
    let Some(tools) =
        tools("rp_initiated_logout_asks_first_then_loads_frontchannel_iframes_and_returns")
    else {
        return;
    };
    let server = TestServer::start().await;
    let site = RpSite::start("127.0.0.1").await;
    server.add_client(rp_client(&site)).await;
    let request = rp_request(&server.base, &site, "openid", "st-1");
    let mut logout = Url::parse(&server.url("/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("client_id", RP)
        .append_pair("post_logout_redirect_uri", &site.url("/signed-out"))
        .append_pair("state", "bye-1");
    let silent = rp_request(&server.base, &site, "openid", "st-2") + "&prompt=none";
    let site2 = site.clone();
    let token_endpoint = server.url("/token");
    let issuer = server.state.config.issuer_str().to_owned();

    with_browser(&tools, Options::default(), move |c| async move {
        c.goto(&request).await.unwrap();
        wait_for_path(&c, "/login").await;
        sign_in(&c, ALICE_PASSWORD).await;
        wait_for_path(&c, "/consent").await;
        click_and_wait(&c, "button[value=approve]").await;
        wait_for_path(&c, "/callback").await;
        // The RP redeems its code: the ID token names the session.
        let (code, _) = last_code(&site2);
        let tokens: serde_json::Value = http_client()
            .post(&token_endpoint)
            .basic_auth(RP, Some(RP_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", site2.url("/callback").as_str()),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sid = jwt_claims(tokens["id_token"].as_str().expect("an ID token"))["sid"]
            .as_str()
            .unwrap()
            .to_owned();

        c.goto(logout.as_str()).await.unwrap();
        wait_for_path(&c, "/logout").await;
        assert_eq!(text(&c, "h1").await, "Sign out?");
        assert_eq!(text(&c, "main .card p.muted").await, "Signed in as alice");
        assert!(text(&c, "main .card").await.contains(
            "rp asks to sign you out of this sign-in service and of every application you signed in to with it."
        ));
        screenshot(&c, "logout").await;

        click_and_wait(&c, "button[value=logout]").await;
        // The signed-out page loads the RP's front-channel iframe, then moves
        // on to the registered post-logout URI with the state.
        let frames = site2.wait_for("/frontchannel", 1).await;
        // Front-Channel Logout 1.0 §2: iss and sid of the ended session.
        let frame = query_map(&frames[0]);
        assert_eq!(frame["iss"], issuer);
        assert_eq!(frame["sid"], sid);
        assert_eq!(site2.destinations("/frontchannel"), ["iframe"], "loaded as a frame");
        let back = wait_for_path(&c, "/signed-out").await;
        assert_eq!(query_map(&back)["state"], "bye-1");
        assert_eq!(text(&c, "h1").await, "Signed out of the application");

        // Signed out for real: a silent request is refused.
        c.goto(&silent).await.unwrap();
        let refused = wait_for_path(&c, "/callback").await;
        assert_eq!(query_map(&refused)["error"], "login_required");
    })
    .await;
}

/// Sign in through `rp` (login and consent), then leave the OP: go to the
/// RP's own page and press its button, which POSTs an authorization request
/// to the OP from another site. The SSO session must be found: a code comes
/// back at once, without the login page.
async fn cross_site_post_finds_the_session(c: Client, issuer: String, site: RpSite) {
    c.goto(&rp_request(&issuer, &site, "openid", "st-first"))
        .await
        .unwrap();
    wait_for_path(&c, "/login").await;
    sign_in(&c, ALICE_PASSWORD).await;
    wait_for_path(&c, "/consent").await;
    click_and_wait(&c, "button[value=approve]").await;
    wait_for_path(&c, "/callback").await;

    site.post_form(
        &format!("{issuer}/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", RP),
            ("redirect_uri", &site.url("/callback")),
            ("scope", "openid"),
            ("state", "st-cross-site"),
            ("nonce", "n-cross-site"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    c.goto(&site.url("/start")).await.unwrap();
    wait_for_path(&c, "/start").await;
    click_and_wait(&c, "#continue").await;
    let landed = c.current_url().await.unwrap();
    assert_eq!(
        landed.path(),
        "/callback",
        "the cross-site POST did not find the session: the browser is at {landed}"
    );
    assert_eq!(query_map(&landed)["state"], "st-cross-site");
    assert!(query_map(&landed).contains_key("code"), "{landed}");
}

#[tokio::test]
async fn cross_site_form_post_to_authorize_finds_the_session_under_an_https_issuer() {
    let Some(tools) =
        tools("cross_site_form_post_to_authorize_finds_the_session_under_an_https_issuer")
    else {
        return;
    };
    let mut front = TlsFront::bind().await;
    let issuer = front.issuer();
    let server = TestServer::with(move |c| c.issuer = issuer).await;
    front.forward_to(server.base.trim_start_matches("http://").to_owned());
    // The RP's site is 127.0.0.1, the OP's localhost: different sites.
    let site = RpSite::start("127.0.0.1").await;
    server.add_client(rp_client(&site)).await;
    let options = Options {
        trust_spki: Some(front.spki.clone()),
        ..Options::default()
    };
    let issuer = server.state.config.issuer_str().to_owned();
    with_browser(&tools, options, move |c| {
        cross_site_post_finds_the_session(c, issuer, site)
    })
    .await;
}

#[tokio::test]
async fn cross_site_form_post_to_authorize_finds_the_session_under_an_http_issuer() {
    let Some(tools) =
        tools("cross_site_form_post_to_authorize_finds_the_session_under_an_http_issuer")
    else {
        return;
    };
    let server = TestServer::with(|c| {
        c.issuer = Url::parse(&format!("http://localhost:{}", c.bind.port())).unwrap();
    })
    .await;
    let site = RpSite::start("127.0.0.1").await;
    server.add_client(rp_client(&site)).await;
    let issuer = server.state.config.issuer_str().to_owned();
    with_browser(&tools, Options::default(), move |c| {
        cross_site_post_finds_the_session(c, issuer, site)
    })
    .await;
}

#[tokio::test]
async fn chromium_keeps_the_https_session_cookie_host_prefixed_and_gets_a_new_one_at_sign_in() {
    let Some(tools) = tools(
        "chromium_keeps_the_https_session_cookie_host_prefixed_and_gets_a_new_one_at_sign_in",
    ) else {
        return;
    };
    let mut front = TlsFront::bind().await;
    let issuer = front.issuer();
    let server = TestServer::with(move |c| c.issuer = issuer).await;
    front.forward_to(server.base.trim_start_matches("http://").to_owned());
    let site = RpSite::start("127.0.0.1").await;
    server.add_client(rp_client(&site)).await;
    let issuer = server.state.config.issuer_str().to_owned();
    let options = Options {
        trust_spki: Some(front.spki.clone()),
        ..Options::default()
    };
    with_browser(&tools, options, move |c| async move {
        let session_cookie = |c: Client| async move {
            c.goto(&format!(
                "{}/account",
                c.current_url()
                    .await
                    .unwrap()
                    .origin()
                    .ascii_serialization()
            ))
            .await
            .unwrap();
            let cookies = c.get_all_cookies().await.unwrap();
            assert!(
                cookies.iter().all(|k| k.name().starts_with("__Host-")),
                "every cookie is __Host-: {cookies:?}"
            );
            cookies
                .into_iter()
                .find(|k| k.name() == "__Host-signoff_session")
                .expect("the session cookie")
        };
        c.goto(&rp_request(&issuer, &site, "openid", "st-1"))
            .await
            .unwrap();
        wait_for_path(&c, "/login").await;
        sign_in(&c, ALICE_PASSWORD).await;
        wait_for_path(&c, "/consent").await;
        click_and_wait(&c, "button[value=approve]").await;
        wait_for_path(&c, "/callback").await;
        c.goto(&format!("{issuer}/account")).await.unwrap();
        let first = session_cookie(c.clone()).await;
        assert_eq!(first.secure(), Some(true));
        assert_eq!(first.http_only(), Some(true));
        assert_eq!(first.path(), Some("/"));
        // The cookie crate's SameSite is not re-exported by fantoccini.
        assert_eq!(
            format!("{:?}", first.same_site()),
            "Some(None)",
            "SameSite=None"
        );

        // Signing in again (prompt=login) replaces the value.
        c.goto(&(rp_request(&issuer, &site, "openid", "st-2") + "&prompt=login"))
            .await
            .unwrap();
        wait_for_path(&c, "/login").await;
        sign_in(&c, ALICE_PASSWORD).await;
        wait_for_path(&c, "/callback").await;
        c.goto(&format!("{issuer}/account")).await.unwrap();
        let second = session_cookie(c.clone()).await;
        assert_ne!(
            first.value(),
            second.value(),
            "a new session cookie at sign-in"
        );
    })
    .await;
}

/// Check the page the browser is on; `what` names it in failures.
async fn audit(c: &Client, what: &str, failures: &mut Vec<String>) {
    for p in accessibility_problems(c).await {
        failures.push(format!("{what}: {p}"));
    }
    for p in focus_problems(c).await {
        failures.push(format!("{what}: {p}"));
    }
}

/// Every hosted page a person meets, at 320 CSS px wide, in the light or the
/// dark colour scheme.
async fn audit_every_page(c: Client, base: String, site: RpSite, dark: bool) {
    let failures = &mut Vec::new();
    assert_eq!(
        js(&c, "return window.innerWidth;").await,
        320,
        "a 320 px viewport"
    );
    c.goto(&format!("{base}/account")).await.unwrap();
    wait_for_path(&c, "/account").await;
    assert_eq!(
        js(
            &c,
            "return matchMedia('(prefers-color-scheme: dark)').matches;"
        )
        .await,
        dark,
        "the colour scheme asked for"
    );
    audit(&c, "account sign-in", failures).await;

    c.goto(&rp_request(&base, &site, "openid email", "st"))
        .await
        .unwrap();
    wait_for_path(&c, "/login").await;
    audit(&c, "login", failures).await;
    if !dark {
        screenshot(&c, "login-320").await;
    }
    sign_in(&c, "wrong password").await;
    audit(&c, "login with an error", failures).await;
    sign_in(&c, ALICE_PASSWORD).await;
    wait_for_path(&c, "/consent").await;
    audit(&c, "consent", failures).await;
    click_and_wait(&c, "button[value=approve]").await;
    wait_for_path(&c, "/callback").await;

    c.goto(&format!("{base}/account")).await.unwrap();
    wait_for_path(&c, "/account").await;
    audit(&c, "account sessions", failures).await;

    let mut logout = Url::parse(&format!("{base}/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("client_id", RP)
        .append_pair("post_logout_redirect_uri", &site.url("/signed-out"));
    c.goto(logout.as_str()).await.unwrap();
    wait_for_path(&c, "/logout").await;
    audit(&c, "logout confirmation", failures).await;
    click_and_wait(&c, "button[value=stay]").await;
    assert_eq!(text(&c, "h1").await, "You are still signed in");
    audit(&c, "still signed in", failures).await;

    c.goto(&format!("{base}/authorize?client_id=nobody"))
        .await
        .unwrap();
    wait_for_path(&c, "/authorize").await;
    assert_eq!(text(&c, "h1").await, "Unknown application");
    audit(&c, "error page", failures).await;

    assert!(
        failures.is_empty(),
        "accessibility problems:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_page_is_accessible_at_320_px_in_light_and_dark_schemes() {
    let Some(tools) = tools("every_page_is_accessible_at_320_px_in_light_and_dark_schemes") else {
        return;
    };
    for dark in [false, true] {
        let server = TestServer::start().await;
        let site = RpSite::start("127.0.0.1").await;
        server.add_client(rp_client(&site)).await;
        let options = Options {
            window: Some((320, 640)),
            dark,
            ..Options::default()
        };
        let base = server.base.clone();
        with_browser(&tools, options, move |c| {
            audit_every_page(c, base, site, dark)
        })
        .await;
    }
}
