//! The hosted account page: its own CSRF-protected sign-in, the list of the
//! user's sessions, and ending one or all of them, which notifies the
//! relying parties like any logout.

use crate::common::{
    ALICE, ALICE_PASSWORD, Browser, HtmlForm, Landing, TestServer, parse_forms, set_field,
};
use crate::logout_support::*;
use reqwest::StatusCode;
use url::Url;

async fn setup() -> (TestServer, TestRp, TestRp) {
    let server = TestServer::with(|c| {
        c.logout.worker_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let rp1 = TestRp::start().await;
    let rp2 = TestRp::start().await;
    server.add_client(rp_client("rp1", &rp1)).await;
    server.add_client(rp_client("rp2", &rp2)).await;
    (server, rp1, rp2)
}

async fn account_page(server: &TestServer, browser: &Browser) -> (Url, String) {
    let (at, landing) = browser.go(server, &server.url("/account")).await;
    match landing {
        Landing::Page { status, body } => {
            assert_eq!(status, StatusCode::OK, "{body}");
            (at, body)
        }
        other => panic!("expected the account page: {other:?}"),
    }
}

fn form_with(at: &Url, body: &str, action_suffix: &str, field: Option<(&str, &str)>) -> HtmlForm {
    parse_forms(at, body)
        .into_iter()
        .find(|f| {
            f.action.ends_with(action_suffix)
                && field.is_none_or(|(k, v)| f.fields.iter().any(|(fk, fv)| fk == k && fv == v))
        })
        .unwrap_or_else(|| panic!("no form for {action_suffix} {field:?} in {body}"))
}

fn sid_of(tokens: &serde_json::Value) -> String {
    crate::common::jwt_claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_account_page_signs_in_with_csrf_protection() {
    let (server, _rp1, _rp2) = setup().await;
    let browser = server.browser();
    let (at, body) = account_page(&server, &browser).await;
    let mut login = parse_forms(&at, &body)
        .into_iter()
        .find(|f| f.has_password)
        .expect("a sign-in form");
    set_field(&mut login, "username", ALICE);
    set_field(&mut login, "password", ALICE_PASSWORD);

    // A forged form (another site cannot know the token) is refused.
    let mut forged = login.clone();
    set_field(
        &mut forged,
        "csrf_token",
        "forged-forged-forged-forged-forged-forged",
    );
    let (_, refused) = browser.post_form(&server, &forged).await;
    assert!(matches!(refused, Landing::Page { status, .. } if status == StatusCode::BAD_REQUEST));
    // So is a wrong password.
    let mut wrong = login.clone();
    set_field(&mut wrong, "password", "not the password");
    let (_, refused) = browser.post_form(&server, &wrong).await;
    assert!(matches!(refused, Landing::Page { status, .. } if status == StatusCode::UNAUTHORIZED));

    let (_, landing) = browser.post_form(&server, &login).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the account page");
    };
    assert!(body.contains("Your sessions"), "{body}");
    assert!(body.contains("(this device)"), "{body}");
    // The session it made is an SSO session: apps sign in without a prompt.
    assert_eq!(
        prompt_none(&server, &browser, "rp1").await,
        "consent_required"
    );
}

#[tokio::test]
async fn ending_another_device_notifies_its_apps_and_keeps_this_one() {
    let (server, rp1, rp2) = setup().await;
    let laptop = server.browser();
    let phone = server.browser();
    let on_laptop = sign_in(&server, &laptop, "rp1", "openid").await;
    let on_phone = sign_in(&server, &phone, "rp2", "openid").await;
    let phone_sid = sid_of(&on_phone);

    let (at, body) = account_page(&server, &laptop).await;
    assert!(
        body.contains(&phone_sid) && body.contains(&sid_of(&on_laptop)),
        "{body}"
    );
    assert!(body.contains("Applications: rp2"), "{body}");
    let end_phone = form_with(
        &at,
        &body,
        "/account/sessions/end",
        Some(("sid", &phone_sid)),
    );
    let (_, landing) = laptop.post_form(&server, &end_phone).await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the account page again");
    };
    assert!(!body.contains(&phone_sid), "{body}");

    let got = rp2.wait_for(1).await;
    let claims = validate_logout_token(&server, &got[0].logout_token(), "rp2").await;
    assert_eq!(claims["sid"], phone_sid);
    assert!(!is_active(&server, "rp2", on_phone["access_token"].as_str().unwrap()).await);
    assert_eq!(prompt_none(&server, &phone, "rp2").await, "login_required");
    // The laptop's session and tokens are untouched.
    assert!(is_active(&server, "rp1", on_laptop["access_token"].as_str().unwrap()).await);
    assert_eq!(prompt_none(&server, &laptop, "rp1").await, "code");
    assert!(rp1.received().is_empty());
}

#[tokio::test]
async fn signing_out_everywhere_from_the_account_page_notifies_every_app() {
    let (server, rp1, rp2) = setup().await;
    let laptop = server.browser();
    let phone = server.browser();
    // One session shared by two RPs, and another session on another device.
    let t1 = sign_in(&server, &laptop, "rp1", "openid").await;
    let t2 = sign_in(&server, &laptop, "rp2", "openid").await;
    let t3 = sign_in(&server, &phone, "rp2", "openid").await;

    let (at, body) = account_page(&server, &laptop).await;
    let all = form_with(&at, &body, "/account/sessions/end-all", None);
    let (_, landing) = laptop.post_form(&server, &all).await;
    let Landing::Page { status, body } = landing else {
        panic!("expected the signed-out page");
    };
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("You have signed out"), "{body}");

    rp1.wait_for(1).await;
    let got = rp2.wait_for(2).await;
    let mut sids: Vec<String> = Vec::new();
    for r in &got {
        let claims = validate_logout_token(&server, &r.logout_token(), "rp2").await;
        sids.push(claims["sid"].as_str().unwrap().to_owned());
    }
    sids.sort();
    let mut expected = vec![sid_of(&t2), sid_of(&t3)];
    expected.sort();
    assert_eq!(sids, expected);
    for (client, tokens) in [("rp1", &t1), ("rp2", &t2), ("rp2", &t3)] {
        assert!(!is_active(&server, client, tokens["access_token"].as_str().unwrap()).await);
    }
    assert_eq!(prompt_none(&server, &laptop, "rp1").await, "login_required");
    assert_eq!(prompt_none(&server, &phone, "rp2").await, "login_required");
    // Signed out: the account page asks to sign in again.
    let (_, body) = account_page(&server, &laptop).await;
    assert!(body.contains("Sign in to your account"), "{body}");
}

#[tokio::test]
async fn another_users_session_cannot_be_ended() {
    let (server, _rp1, rp2) = setup().await;
    server.add_user("bob", "bob-password-123").await;
    let alice = server.browser();
    sign_in(&server, &alice, "rp1", "openid").await;
    let bob = server.browser();
    let url = crate::common::auth_url(
        &server,
        "rp2",
        &redirect_uri("rp2"),
        "openid",
        crate::common::CHALLENGE,
    );
    let landing = bob
        .authorize(&server, &url, "bob", "bob-password-123")
        .await;
    let code = landing.param("code").expect("bob's code");
    let bobs = crate::common::token_json(
        crate::common::redeem(
            &server,
            "rp2",
            Some(&secret("rp2")),
            &code,
            &redirect_uri("rp2"),
        )
        .await,
    )
    .await;
    let bob_sid = sid_of(&bobs);

    let (at, body) = account_page(&server, &alice).await;
    assert!(!body.contains(&bob_sid));
    let mut form = form_with(&at, &body, "/account/sessions/end", None);
    set_field(&mut form, "sid", &bob_sid);
    let (_, landing) = alice.post_form(&server, &form).await;
    assert!(matches!(landing, Landing::Page { status, .. } if status == StatusCode::NOT_FOUND));
    assert_eq!(prompt_none(&server, &bob, "rp2").await, "code");
    assert!(rp2.received().is_empty());
}
