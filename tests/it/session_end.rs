//! Every way an SSO session ends goes through one path that records why and
//! tells the relying parties (Back-Channel Logout): a disabled user, a
//! session that idles out or reaches its absolute lifetime (the expiry
//! sweep), and an RP-initiated logout that arrives after the session ran out
//! of time.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signoff::clock::Clock;
use signoff::config::Config;
use signoff::revocation::{Event, Kind};

use crate::common::{ALICE, Landing, TestServer, assert_oauth_error, auth_url, jwt_claims};
use crate::logout_support::*;

async fn server_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::with(|c| {
        c.logout.worker_interval = Duration::from_millis(100);
        c.logout.retry_base = Duration::from_secs(30);
        c.sessions.idle_ttl = Duration::from_secs(3600);
        adjust(c);
    })
    .await
}

/// Two RPs with back-channel endpoints, and alice signed in to both in one
/// browser: rp1 without offline access, rp2 with it.
async fn two_rps(server: &TestServer) -> (TestRp, TestRp, crate::common::Browser, Value, Value) {
    let rp1 = TestRp::start().await;
    let rp2 = TestRp::start().await;
    server.add_client(rp_client("rp1", &rp1)).await;
    server.add_client(rp_client("rp2", &rp2)).await;
    let browser = server.browser();
    let t1 = sign_in(server, &browser, "rp1", "openid").await;
    let t2 = sign_in(server, &browser, "rp2", "openid offline_access").await;
    (rp1, rp2, browser, t1, t2)
}

fn field<'a>(tokens: &'a Value, name: &str) -> &'a str {
    tokens[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {tokens}"))
}

fn sid_of(tokens: &Value) -> String {
    jwt_claims(field(tokens, "id_token"))["sid"]
        .as_str()
        .expect("sid")
        .to_owned()
}

/// Each RP received one logout token for `sid`.
async fn assert_told(server: &TestServer, rps: [(&TestRp, &str); 2], sid: &str) {
    for (rp, client_id) in rps {
        let got = rp.wait_for(1).await;
        assert_eq!(got.len(), 1, "{client_id} told once");
        let claims = validate_logout_token(server, &got[0].logout_token(), client_id).await;
        assert_eq!(claims["sid"], sid, "{client_id}");
    }
}

/// The reason `session_ended` recorded for `sid`.
async fn end_reason(server: &TestServer, sid: &str) -> String {
    let events: Vec<Event> = server.logged_events().await;
    let ended: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == Kind::SessionEnded && e.session_id.as_deref() == Some(sid))
        .collect();
    assert_eq!(ended.len(), 1, "one session_ended for {sid}: {events:?}");
    ended[0].reason.clone().expect("a reason")
}

async fn refresh_status(
    server: &TestServer,
    client_id: &str,
    refresh_token: &str,
) -> reqwest::Response {
    server
        .token_request(
            client_id,
            &secret(client_id),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
}

#[tokio::test]
async fn disabling_a_user_ends_their_session_and_tells_each_relying_party() {
    let server = server_with(|_| {}).await;
    let (rp1, rp2, browser, t1, t2) = two_rps(&server).await;
    let sid = sid_of(&t1);
    let done = server.disable_user(ALICE).await;
    assert_eq!(done.ended.len(), 1);
    assert_told(&server, [(&rp1, "rp1"), (&rp2, "rp2")], &sid).await;
    assert_eq!(end_reason(&server, &sid).await, "user_disabled");
    // The SSO cookie no longer signs in…
    assert_eq!(
        prompt_none(&server, &browser, "rp1").await,
        "login_required"
    );
    // …no token of the user is alive, offline access included…
    for (client_id, token) in [
        ("rp1", field(&t1, "access_token")),
        ("rp2", field(&t2, "access_token")),
        ("rp2", field(&t2, "refresh_token")),
    ] {
        assert!(!is_active(&server, client_id, token).await, "{client_id}");
    }
    // …and the refresh token fails.
    assert_oauth_error(
        refresh_status(&server, "rp2", field(&t2, "refresh_token")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_session_that_idles_out_is_ended_and_its_relying_parties_told() {
    let server = server_with(|c| {
        c.revocation.session_sweep_interval = Duration::from_millis(100);
    })
    .await;
    let (rp1, rp2, _browser, t1, t2) = two_rps(&server).await;
    let sid = sid_of(&t1);
    assert!(is_active(&server, "rp1", field(&t1, "access_token")).await);
    server.clock.advance(3600);
    // The sweep ends it like any logout.
    assert_told(&server, [(&rp1, "rp1"), (&rp2, "rp2")], &sid).await;
    assert_eq!(end_reason(&server, &sid).await, "idle_timeout");
    // Tokens bound to the session are over…
    assert!(!is_active(&server, "rp1", field(&t1, "access_token")).await);
    // …but offline access outlives the browser session (OpenID Core §11).
    let response = refresh_status(&server, "rp2", field(&t2, "refresh_token")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_used_past_its_idle_lifetime_ends_at_its_absolute_one() {
    let server = server_with(|c| {
        c.sessions.absolute_ttl = Duration::from_secs(7200);
        c.revocation.session_sweep_interval = Duration::from_millis(100);
    })
    .await;
    let (rp1, rp2, browser, t1, _t2) = two_rps(&server).await;
    let sid = sid_of(&t1);
    // Activity slides the idle expiry, never past the absolute one.
    for _ in 0..2 {
        server.clock.advance(3000);
        assert_eq!(prompt_none(&server, &browser, "rp1").await, "code");
    }
    assert!(rp1.received().is_empty(), "not ended while in use");
    server.clock.advance(1200);
    assert_told(&server, [(&rp1, "rp1"), (&rp2, "rp2")], &sid).await;
    assert_eq!(end_reason(&server, &sid).await, "absolute_timeout");
}

#[tokio::test]
async fn rp_initiated_logout_after_idle_expiry_completes_and_tells_the_relying_parties() {
    // The sweep would come by only in an hour: the logout finds the session
    // expired but not ended.
    let server = server_with(|c| {
        c.revocation.session_sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let (rp1, rp2, browser, t1, _t2) = two_rps(&server).await;
    let sid = sid_of(&t1);
    server.clock.advance(3601);
    let (_, landing) = end_session(
        &server,
        &browser,
        &[
            ("id_token_hint", field(&t1, "id_token")),
            ("post_logout_redirect_uri", &post_logout_uri("rp1")),
            ("state", "after-expiry"),
        ],
    )
    .await;
    let Landing::Redirect(to) = landing else {
        panic!("expected the redirect back to the RP: {landing:?}");
    };
    assert!(to.as_str().starts_with(&post_logout_uri("rp1")), "{to}");
    assert_eq!(
        crate::common::query_map(&to)
            .get("state")
            .map(String::as_str),
        Some("after-expiry")
    );
    assert_told(&server, [(&rp1, "rp1"), (&rp2, "rp2")], &sid).await;
    assert_eq!(end_reason(&server, &sid).await, "idle_timeout");
    // Logging out again ends nothing more and still completes.
    let (_, again) = end_session(
        &server,
        &browser,
        &[
            ("id_token_hint", field(&t1, "id_token")),
            ("post_logout_redirect_uri", &post_logout_uri("rp1")),
        ],
    )
    .await;
    assert!(matches!(again, Landing::Redirect(_)), "{again:?}");
    end_reason(&server, &sid).await;
}

#[tokio::test]
async fn another_user_signing_in_on_the_browser_ends_the_first_session_as_replaced() {
    let server = server_with(|_| {}).await;
    let (rp1, rp2, browser, t1, _t2) = two_rps(&server).await;
    let sid = sid_of(&t1);
    server.add_user("bob", "bob's long password").await;
    let url = format!(
        "{}&prompt=login",
        auth_url(
            &server,
            "rp1",
            &redirect_uri("rp1"),
            "openid",
            crate::common::CHALLENGE
        )
    );
    let landing = browser
        .authorize(&server, &url, "bob", "bob's long password")
        .await;
    assert!(landing.param("code").is_some(), "{landing:?}");
    assert_told(&server, [(&rp1, "rp1"), (&rp2, "rp2")], &sid).await;
    assert_eq!(end_reason(&server, &sid).await, "replaced");
    let when = server
        .logged_events()
        .await
        .into_iter()
        .find(|e| e.session_id.as_deref() == Some(sid.as_str()))
        .map(|e| e.created_at);
    assert_eq!(when, Some(server.clock.now()));
}

/// A code issued just before its session ended yields no ID token, even
/// for a client whose logout policy lets its grants outlive the session.
#[tokio::test]
async fn code_of_an_ended_session_is_refused() {
    use crate::common::{ALICE_PASSWORD, CHALLENGE, redeem};
    use signoff::admin::ClientSpec;
    let server = server_with(|_| {}).await;
    let redirect = "http://127.0.0.1:7009/callback";
    server
        .add_client(ClientSpec {
            id: "keeper".into(),
            secret: Some("keeper-secret-0123456789".into()),
            redirect_uris: vec![redirect.into()],
            first_party: true,
            logout_revokes: Some("nothing".into()),
            ..ClientSpec::default()
        })
        .await;
    let browser = server.browser();
    let landing = browser
        .authorize(
            &server,
            &auth_url(&server, "keeper", redirect, "openid", CHALLENGE),
            ALICE,
            ALICE_PASSWORD,
        )
        .await;
    let code = landing.param("code").expect("a code");
    let alice = server.user_id(ALICE).await;
    let ended = signoff::revocation::end_user_sessions(
        &server.state.revoker(),
        &alice,
        signoff::revocation::EndReason::Account,
    )
    .await
    .expect("end the session");
    assert_eq!(ended.len(), 1);
    let response = redeem(
        &server,
        "keeper",
        Some("keeper-secret-0123456789"),
        &code,
        redirect,
    )
    .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}
