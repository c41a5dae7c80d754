//! Findings of the token back-end review, each pinned by a test: client
//! input that must get a standard error rather than a server error, and
//! protocol rules the token, revocation and introspection endpoints missed.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use reqwest::StatusCode;
use signoff::admin::ClientSpec;
use signoff::clock::Clock;

/// RFC 6749 §2.3.1 / Appendix A.1: a client_id is printable ASCII. One with
/// a NUL byte cannot name a client; PostgreSQL refuses NUL in text values, so
/// it must be turned away before the lookup, as `invalid_client` (§5.2).
#[tokio::test]
async fn client_id_with_a_nul_byte_is_refused_at_every_endpoint() {
    let server = TestServer::start().await;
    for path in ["/token", "/revoke", "/introspect"] {
        // client_secret_post / public client: client_id in the body.
        let response = server
            .http
            .post(server.url(path))
            .form(&[
                ("grant_type", "client_credentials"),
                ("token", "x"),
                ("client_id", "app\0"),
                ("client_secret", APP_SECRET),
            ])
            .send()
            .await
            .expect("request");
        // A NUL in any form value makes the request malformed (RFC 6749 §5.2).
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        // client_secret_basic: a NUL in the form-encoded user name.
        let credentials = STANDARD.encode(format!("app%00:{APP_SECRET}"));
        let response = server
            .http
            .post(server.url(path))
            .header("authorization", format!("Basic {credentials}"))
            .form(&[("grant_type", "client_credentials"), ("token", "x")])
            .send()
            .await
            .expect("request");
        assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
}

const REBORN: &str = "reborn";
const REBORN_SECRET: &str = "reborn-secret-0123456789";
const REBORN_REDIRECT: &str = "https://reborn.example.com/callback";

fn reborn_spec(secret: &str) -> ClientSpec {
    ClientSpec {
        id: REBORN.into(),
        secret: Some(secret.into()),
        redirect_uris: vec![REBORN_REDIRECT.into()],
        first_party: true,
        ..ClientSpec::default()
    }
}

/// Tokens are bound to the client they were issued to (RFC 6749 §4.1.3,
/// §6, §10.4). A client removed and registered again under the same id (a
/// new registration, possibly for someone else) must not inherit the old
/// registration's codes, access tokens or refresh tokens.
#[tokio::test]
async fn a_client_registered_again_under_a_removed_id_does_not_inherit_its_tokens() {
    let server = TestServer::start().await;
    server.add_client(reborn_spec(REBORN_SECRET)).await;
    let browser = server.browser();
    let scope = "openid offline_access";
    let code = code_in(
        &browser,
        &server,
        &auth_url(&server, REBORN, REBORN_REDIRECT, scope, CHALLENGE),
    )
    .await;
    let tokens =
        token_json(redeem(&server, REBORN, Some(REBORN_SECRET), &code, REBORN_REDIRECT).await)
            .await;
    let unused_code = code_in(
        &browser,
        &server,
        &auth_url(&server, REBORN, REBORN_REDIRECT, scope, CHALLENGE),
    )
    .await;
    let access_token = tokens["access_token"].as_str().expect("access token");
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");

    assert!(
        signoff::store::clients::remove(&server.state.db, REBORN)
            .await
            .expect("remove")
    );
    server.clock.advance(5);
    let new_secret = "reborn-new-owner-secret-0123";
    server.add_client(reborn_spec(new_secret)).await;

    let refreshed = server
        .token_request(
            REBORN,
            new_secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await;
    assert_oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let redeemed = redeem(
        &server,
        REBORN,
        Some(new_secret),
        &unused_code,
        REBORN_REDIRECT,
    )
    .await;
    assert_oauth_error(redeemed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let info = userinfo(&server, access_token).await;
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED, "old access token");
}

/// RFC 6749 §3.3: `scope` is one or more scope tokens; a value of nothing
/// but spaces is malformed, `invalid_scope` (§5.2), and the refresh token
/// presented with it is not spent on an access token without any scope.
#[tokio::test]
async fn a_scope_of_only_spaces_is_invalid_scope() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials"), ("scope", "  ")],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;

    let browser = server.browser();
    let code = code_in(
        &browser,
        &server,
        &auth_url(
            &server,
            FIRST,
            FIRST_REDIRECT,
            "openid offline_access",
            CHALLENGE,
        ),
    )
    .await;
    let tokens =
        token_json(redeem(&server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await;
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");
    let response = refresh_with_scope(&server, refresh_token, Some(" ")).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // The refresh token was not consumed by the refused request.
    let next = token_json(refresh_with_scope(&server, refresh_token, None).await).await;
    assert_eq!(next["scope"], "openid offline_access");
}

async fn refresh_with_scope(
    server: &TestServer,
    refresh_token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    form.extend(scope.map(|s| ("scope", s)));
    server.token_request(FIRST, FIRST_SECRET, &form).await
}

/// Maintenance removes expired tokens and long-ended sessions; a pruned
/// token or session is refused exactly like an expired or ended one.
#[tokio::test]
async fn pruning_dead_rows_revives_nothing() {
    let server = TestServer::start().await;
    let token = token_json(
        server
            .token_request(
                SERVICE,
                SERVICE_SECRET,
                &[("grant_type", "client_credentials")],
            )
            .await,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = server.browser();
    code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let sessions = signoff::store::sessions::not_ended(&server.state.db, None)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    let sid = sessions[0].id.clone();
    signoff::session::admin::revoke_session(
        &server.state.db,
        &signoff::random::OsRandom,
        &sid,
        server.clock.now(),
    )
    .await
    .unwrap();

    server.clock.advance(8 * 24 * 3600);
    let now = server.clock.now();
    let pruned = signoff::store::grants::prune_expired(&server.state.db, now)
        .await
        .unwrap();
    assert!(pruned >= 1, "the expired access token and code are gone");
    assert_eq!(
        signoff::store::sessions::prune_ended(&server.state.db, now - 7 * 24 * 3600)
            .await
            .unwrap(),
        1
    );
    assert!(
        signoff::store::sessions::find(&server.state.db, &sid)
            .await
            .unwrap()
            .is_none()
    );

    let introspected: serde_json::Value = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, serde_json::json!({ "active": false }));
    // The browser's session cookie names a session that no longer exists.
    let url = format!(
        "{}&prompt=none",
        auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE)
    );
    let (_, landing) = browser.go(&server, &url).await;
    assert_eq!(landing.param("error").as_deref(), Some("login_required"));
}
