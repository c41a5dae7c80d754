//! "Log out everywhere" (token versioning: a token version per user) and
//! "revoke every token of a client": effective however the change is made
//! (this process at once, the CLI in another process and another instance
//! on the same database once the revocation log reaches this instance's
//! view), and for credentials still in flight (an unredeemed code, a refresh
//! inside its grace period).

use crate::common::*;
use crate::lifecycle::*;
use reqwest::StatusCode;
use signoff::admin::ClientSpec;

#[tokio::test]
async fn token_versioning_logout_everywhere_voids_every_token_and_session() {
    let server = lifecycle_server().await;
    let jwt = jwt_login(&server).await;
    let opaque = opaque_login(&server).await;
    assert!(sso_still_logs_in(&server, &jwt.browser).await);
    server.logout_everywhere(ALICE).await;
    for login in [&jwt, &opaque] {
        assert_inactive(&server, &login.access_token()).await;
        assert_inactive(&server, &login.refresh_token()).await;
        assert_eq!(
            userinfo(&server, &login.access_token()).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert!(!sso_still_logs_in(&server, &login.browser).await);
    }
    refresh_fails(&server, JWT_APP, JWT_APP_SECRET, &jwt.refresh_token()).await;
    refresh_fails(&server, FIRST, FIRST_SECRET, &opaque.refresh_token()).await;
    // A login right after it, in the same second, carries the new version.
    let again = jwt_login(&server).await;
    assert_active(&server, &again.access_token()).await;
    token_json(refresh(&server, JWT_APP, JWT_APP_SECRET, &again.refresh_token()).await).await;
}

#[tokio::test]
async fn logout_everywhere_from_the_cli_in_another_process() {
    let server = lifecycle_server().await;
    let jwt = jwt_login(&server).await;
    let opaque = opaque_login(&server).await;
    assert_active(&server, &jwt.access_token()).await;
    let output = signoff_cli(&server, &["user", "logout-everywhere", ALICE]).await;
    assert!(String::from_utf8_lossy(&output.stdout).contains("void"));
    assert_becomes_inactive(&server, &jwt.access_token()).await;
    assert_becomes_inactive(&server, &opaque.access_token()).await;
    refresh_fails(&server, JWT_APP, JWT_APP_SECRET, &jwt.refresh_token()).await;
    refresh_fails(&server, FIRST, FIRST_SECRET, &opaque.refresh_token()).await;
    assert!(!sso_still_logs_in(&server, &jwt.browser).await);
}

#[tokio::test]
async fn logout_everywhere_on_one_instance_holds_on_the_other() {
    let server = lifecycle_server().await;
    let other = second_instance(&server).await;
    let login = jwt_login(&server).await;
    let access = login.access_token();
    assert_eq!(
        introspect_at(&other.base, &server.http, &access).await["active"],
        true
    );
    // The change is made through the second instance; it counts there at
    // once, and here once this instance's view has read it from the log.
    let alice = server.user_id(ALICE).await;
    signoff::revocation::logout_everywhere(
        &other.state.revoker(),
        &alice,
        signoff::revocation::Initiator::Admin,
    )
    .await
    .unwrap();
    assert_eq!(
        introspect_at(&other.base, &server.http, &access).await,
        serde_json::json!({ "active": false })
    );
    assert_becomes_inactive(&server, &access).await;
    refresh_fails(&server, JWT_APP, JWT_APP_SECRET, &login.refresh_token()).await;
}

#[tokio::test]
async fn revocation_on_one_instance_holds_on_the_other() {
    let server = lifecycle_server().await;
    let other = second_instance(&server).await;
    let jwt = jwt_login(&server).await;
    let opaque = opaque_login(&server).await;
    for (client, secret, token) in [
        (JWT_APP, JWT_APP_SECRET, jwt.access_token()),
        (FIRST, FIRST_SECRET, opaque.access_token()),
    ] {
        let response = server
            .http
            .post(format!("{}/revoke", other.base))
            .basic_auth(client, Some(secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_becomes_inactive(&server, &token).await;
    }
}

#[tokio::test]
async fn client_revoke_tokens_from_the_cli_voids_only_that_client() {
    let server = lifecycle_server().await;
    let jwt = jwt_login(&server).await;
    let opaque = opaque_login(&server).await;
    let service = service_token(&server).await;
    let service_token = text(&service, "access_token");
    signoff_cli(&server, &["client", "revoke-tokens", JWT_APP]).await;
    signoff_cli(&server, &["client", "revoke-tokens", SERVICE]).await;
    assert_becomes_inactive(&server, &jwt.access_token()).await;
    assert_becomes_inactive(&server, &jwt.refresh_token()).await;
    refresh_fails(&server, JWT_APP, JWT_APP_SECRET, &jwt.refresh_token()).await;
    assert_becomes_inactive(&server, &service_token).await;
    // alice's tokens at another client are untouched.
    assert_active(&server, &opaque.access_token()).await;
    token_json(refresh(&server, FIRST, FIRST_SECRET, &opaque.refresh_token()).await).await;
}

/// A code for alice at `client_id` (first-party), not yet redeemed.
async fn unredeemed_code(server: &TestServer, client_id: &str, redirect_uri: &str) -> String {
    code_in(
        &server.browser(),
        server,
        &auth_url(
            server,
            client_id,
            redirect_uri,
            "openid offline_access",
            CHALLENGE,
        ),
    )
    .await
}

#[tokio::test]
async fn code_issued_before_client_revoke_tokens_is_refused_after_it() {
    let server = lifecycle_server().await;
    let code = unredeemed_code(&server, JWT_APP, JWT_APP_REDIRECT).await;
    signoff_cli(&server, &["client", "revoke-tokens", JWT_APP]).await;
    // The authorization was made under the client's previous version.
    assert_oauth_error(
        redeem(
            &server,
            JWT_APP,
            Some(JWT_APP_SECRET),
            &code,
            JWT_APP_REDIRECT,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn code_issued_before_logout_everywhere_is_refused_after_it() {
    let server = lifecycle_server().await;
    // A client whose grants outlive the session (logout_revokes = nothing):
    // only the user's token version stands between the old code and new
    // tokens.
    server
        .add_client(ClientSpec {
            id: "keeper".into(),
            secret: Some("keeper-secret-0123".into()),
            redirect_uris: vec!["https://keeper.example.com/cb".into()],
            first_party: true,
            logout_revokes: Some("nothing".into()),
            ..ClientSpec::default()
        })
        .await;
    let code = unredeemed_code(&server, "keeper", "https://keeper.example.com/cb").await;
    server.logout_everywhere(ALICE).await;
    assert_oauth_error(
        redeem(
            &server,
            "keeper",
            Some("keeper-secret-0123"),
            &code,
            "https://keeper.example.com/cb",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn grace_period_does_not_hand_out_tokens_voided_since() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let rotated =
        token_json(refresh(&server, JWT_APP, JWT_APP_SECRET, &login.refresh_token()).await).await;
    signoff_cli(&server, &["client", "revoke-tokens", JWT_APP]).await;
    // The CLI is another process: its revocation counts here once the view
    // has read it from the log (within the propagation bound).
    view_caught_up(&server.state).await;
    // A retry within the grace period would return the successor pair,
    // which the revocation has voided: the retry is refused instead.
    refresh_fails(&server, JWT_APP, JWT_APP_SECRET, &login.refresh_token()).await;
    refresh_fails(
        &server,
        JWT_APP,
        JWT_APP_SECRET,
        &text(&rotated, "refresh_token"),
    )
    .await;
}
