//! Token revocation (RFC 7009) at POST /revoke: client authentication, the
//! hint honoured but not trusted, families, the JWT denylist, and the plain
//! 200 for anything that is not the caller's to revoke.

use crate::common::*;
use crate::lifecycle::*;
use reqwest::StatusCode;

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family_and_access_tokens() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let next =
        token_json(refresh(&server, JWT_APP, JWT_APP_SECRET, &login.refresh_token()).await).await;
    let newest = text(&next, "refresh_token");
    revoke_ok(
        &server,
        JWT_APP,
        JWT_APP_SECRET,
        &newest,
        Some("refresh_token"),
    )
    .await;
    assert_inactive(&server, &newest).await;
    assert_inactive(&server, &login.access_token()).await;
    assert_inactive(&server, &text(&next, "access_token")).await;
    assert_oauth_error(
        refresh(&server, JWT_APP, JWT_APP_SECRET, &newest).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_hint_does_not_stop_revocation() {
    let server = lifecycle_server().await;
    // A refresh token announced as an access token…
    let login = opaque_login(&server).await;
    revoke_ok(
        &server,
        FIRST,
        FIRST_SECRET,
        &login.refresh_token(),
        Some("access_token"),
    )
    .await;
    assert_inactive(&server, &login.refresh_token()).await;
    assert_inactive(&server, &login.access_token()).await;
    // …an opaque access token announced as a refresh token…
    let login = opaque_login(&server).await;
    revoke_ok(
        &server,
        FIRST,
        FIRST_SECRET,
        &login.access_token(),
        Some("refresh_token"),
    )
    .await;
    assert_inactive(&server, &login.access_token()).await;
    // (only the access token: RFC 7009 §2.1 leaves its family alone)
    assert_active(&server, &login.refresh_token()).await;
    // …and a JWT with a hint we do not know (§2.1: search anyway).
    let jwt = jwt_login(&server).await;
    revoke_ok(
        &server,
        JWT_APP,
        JWT_APP_SECRET,
        &jwt.access_token(),
        Some("id_token"),
    )
    .await;
    assert_inactive(&server, &jwt.access_token()).await;
}

#[tokio::test]
async fn revoked_opaque_access_token_is_gone() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    revoke_ok(&server, FIRST, FIRST_SECRET, &login.access_token(), None).await;
    assert_inactive(&server, &login.access_token()).await;
    assert_eq!(
        userinfo(&server, &login.access_token()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Revoking again is still a plain 200 (§2.2).
    revoke_ok(&server, FIRST, FIRST_SECRET, &login.access_token(), None).await;
}

#[tokio::test]
async fn revoked_jwt_access_token_is_denylisted_until_it_expires() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let access = login.access_token();
    revoke_ok(&server, JWT_APP, JWT_APP_SECRET, &access, None).await;
    assert_inactive(&server, &access).await;
    assert_eq!(
        userinfo(&server, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The signature is still good: only the denylist knows.
    verify_access_jwt(&server, &access).await;
    server.clock.advance(600);
    assert_inactive(&server, &access).await;
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_a_plain_200() {
    let server = lifecycle_server().await;
    let response = revoke(&server, FIRST, FIRST_SECRET, "no-such-token", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.text().await.unwrap().is_empty());
    revoke_ok(&server, FIRST, FIRST_SECRET, "a.b.c", Some("access_token")).await;
    let jwt = jwt_login(&server).await;
    server.clock.advance(600);
    revoke_ok(&server, JWT_APP, JWT_APP_SECRET, &jwt.access_token(), None).await;
    // Nothing to list: the token had expired anyway.
    let (_, claims) = verify_access_jwt(&server, &jwt.access_token()).await;
    let jti = text(&claims, "jti");
    assert!(
        !server
            .logged_events()
            .await
            .iter()
            .any(|e| e.jti.as_deref() == Some(jti.as_str())),
        "an expired JWT was put on the revocation list"
    );
}

#[tokio::test]
async fn another_clients_tokens_are_a_plain_200_and_stay_valid() {
    let server = lifecycle_server().await;
    let jwt = jwt_login(&server).await;
    let opaque = opaque_login(&server).await;
    // RFC 7009 §2.1: a client may revoke only its own tokens.
    for token in [
        jwt.access_token(),
        jwt.refresh_token(),
        opaque.access_token(),
    ] {
        revoke_ok(&server, APP, APP_SECRET, &token, None).await;
        assert_active(&server, &token).await;
    }
    revoke_ok(
        &server,
        APP,
        APP_SECRET,
        &opaque.refresh_token(),
        Some("refresh_token"),
    )
    .await;
    assert_active(&server, &opaque.refresh_token()).await;
    token_json(refresh(&server, JWT_APP, JWT_APP_SECRET, &jwt.refresh_token()).await).await;
}

#[tokio::test]
async fn missing_token_is_invalid_request() {
    let server = lifecycle_server().await;
    let response = server
        .http
        .post(server.url("/revoke"))
        .basic_auth(FIRST, Some(FIRST_SECRET))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn revocation_requires_client_authentication() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    let anonymous = server
        .http
        .post(server.url("/revoke"))
        .form(&[("token", login.access_token().as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(anonymous, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong = revoke(
        &server,
        FIRST,
        "not-the-secret",
        &login.access_token(),
        None,
    )
    .await;
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"signoff\""
    );
    assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_active(&server, &login.access_token()).await;
}

#[tokio::test]
async fn public_client_revokes_its_own_refresh_token() {
    let server = lifecycle_server().await;
    let browser = server.browser();
    let code = code_in(
        &browser,
        &server,
        &auth_url(
            &server,
            SPA,
            SPA_REDIRECT,
            "openid offline_access",
            CHALLENGE,
        ),
    )
    .await;
    let tokens = token_json(redeem(&server, SPA, None, &code, SPA_REDIRECT).await).await;
    let refresh_token = text(&tokens, "refresh_token");
    // RFC 7009 §2.1 with RFC 6749 §2.1: a public client identifies itself.
    let response = server
        .http
        .post(server.url("/revoke"))
        .form(&[("token", refresh_token.as_str()), ("client_id", SPA)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_inactive(&server, &refresh_token).await;
    assert_inactive(&server, &text(&tokens, "access_token")).await;
}

/// One disabled-client policy at every endpoint a client authenticates to
/// (RFC 6749 §5.2 `invalid_client`, 401 with a challenge), and a refused
/// call changes nothing: the refresh token is neither consumed nor revoked
/// by it. Enabling the client again does not bring its old tokens back
/// (disabling started a new token version).
#[tokio::test]
async fn a_disabled_client_is_invalid_client_at_token_revoke_and_introspect() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    let set_disabled = |id: &'static str, disabled: bool| {
        let rev = server.state.revoker();
        async move {
            let changed = if disabled {
                signoff::revocation::disable_client(&rev, id).await
            } else {
                signoff::revocation::enable_client(&rev, id).await
            };
            assert!(changed.unwrap().is_some());
        }
    };
    set_disabled(FIRST, true).await;
    let refused = [
        refresh(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await,
        revoke(
            &server,
            FIRST,
            FIRST_SECRET,
            &login.refresh_token(),
            Some("refresh_token"),
        )
        .await,
    ];
    for response in refused {
        assert!(response.headers().contains_key("www-authenticate"));
        assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    set_disabled(RS, true).await;
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(RS, Some(RS_SECRET))
        .form(&[("token", login.access_token().as_str())])
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("www-authenticate"));
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let row = signoff::store::grants::find_refresh_token(
        &server.state.db,
        &signoff::secrets::token_hash(&login.refresh_token()),
    )
    .await
    .unwrap()
    .expect("the refresh token row");
    assert_eq!((row.consumed_at, row.revoked_at), (None, None));
    assert!(
        !server
            .logged_events()
            .await
            .iter()
            .any(|e| e.kind == signoff::revocation::Kind::GrantRevoked),
        "a refused revocation was recorded"
    );

    set_disabled(RS, false).await;
    set_disabled(FIRST, false).await;
    assert_inactive(&server, &login.refresh_token()).await;
    assert_inactive(&server, &login.access_token()).await;
    refresh_fails(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await;
    // What the client obtains now is valid.
    let again = opaque_login(&server).await;
    assert_active(&server, &again.access_token()).await;
}
