//! Token introspection (RFC 7662) at POST /introspect: who may ask, what an
//! active token reveals, and `{"active": false}` for every way a token dies.

use crate::common::*;
use crate::lifecycle::*;
use reqwest::StatusCode;
use serde_json::Value;
use signoff::clock::Clock;

#[tokio::test]
async fn introspection_requires_a_confidential_client() {
    let server = lifecycle_server().await;
    let token = opaque_login(&server).await.access_token();
    let anonymous = server
        .http
        .post(server.url("/introspect"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(anonymous, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // RFC 7662 §4: a public client proves nothing about itself.
    let public = server
        .http
        .post(server.url("/introspect"))
        .form(&[("token", token.as_str()), ("client_id", SPA)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(public, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(RS, Some("not-the-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn missing_token_is_invalid_request() {
    let server = lifecycle_server().await;
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(RS, Some(RS_SECRET))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn active_jwt_access_token_reveals_its_claims() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let (_, claims) = verify_access_jwt(&server, &login.access_token()).await;
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(RS, Some(RS_SECRET))
        .form(&[("token", login.access_token().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["username"], ALICE);
    for claim in [
        "scope",
        "client_id",
        "exp",
        "iat",
        "sub",
        "aud",
        "iss",
        "jti",
        "sid",
    ] {
        assert_eq!(body[claim], claims[claim], "{claim} in {body}");
    }
    assert!(body.get("nbf").is_none(), "no nbf was issued: {body}");
}

#[tokio::test]
async fn active_opaque_and_refresh_tokens_reveal_their_facts() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    let now = server.clock.now();
    let access = assert_active(&server, &login.access_token()).await;
    assert_eq!(access["token_type"], "Bearer");
    assert_eq!(access["client_id"], FIRST);
    assert_eq!(access["username"], ALICE);
    assert_eq!(access["scope"], "openid profile offline_access");
    assert_eq!(access["iat"], now);
    assert_eq!(access["exp"], now + 600);
    assert_eq!(access["iss"], server.base.as_str());
    // The default audience of a client without registered audiences is
    // this service (the issuer), never the client.
    assert_eq!(access["aud"], server.base.as_str());
    assert!(access["sid"].is_string(), "{access}");
    let refresh = assert_active(&server, &login.refresh_token()).await;
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(refresh["sub"], access["sub"]);
    assert_eq!(refresh["sid"], access["sid"]);
    assert_eq!(refresh["exp"], now + 14 * 24 * 3600);
}

#[tokio::test]
async fn client_credentials_token_names_the_client() {
    let server = lifecycle_server().await;
    let tokens = token_json(
        server
            .token_request(
                SERVICE,
                SERVICE_SECRET,
                &[("grant_type", "client_credentials"), ("scope", "api.read")],
            )
            .await,
    )
    .await;
    let body = assert_active(&server, &text(&tokens, "access_token")).await;
    assert_eq!(body["sub"], SERVICE);
    assert_eq!(body["client_id"], SERVICE);
    assert_eq!(body["scope"], "api.read");
    assert!(body.get("username").is_none(), "{body}");
    assert!(body.get("sid").is_none(), "{body}");
}

#[tokio::test]
async fn the_hint_orders_the_search_but_both_kinds_are_found() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    for (token, hint, kind) in [
        (login.refresh_token(), "access_token", "refresh_token"),
        (login.access_token(), "refresh_token", "Bearer"),
        (login.access_token(), "something_else", "Bearer"),
    ] {
        let body: Value = server
            .http
            .post(server.url("/introspect"))
            // The token's own client: a refresh token is its business only.
            .basic_auth(FIRST, Some(FIRST_SECRET))
            .form(&[("token", token.as_str()), ("token_type_hint", hint)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["active"], true, "{hint}: {body}");
        assert_eq!(body["token_type"], kind);
    }
}

#[tokio::test]
async fn garbage_forged_and_foreign_tokens_are_inactive() {
    let server = lifecycle_server().await;
    assert_inactive(&server, "garbage").await;
    assert_inactive(&server, "a.b.c").await;
    let token = jwt_login(&server).await.access_token();
    // Change the payload, keep the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = jwt_claims(&token);
    claims["scope"] = "openid admin".into();
    use base64::Engine;
    let forged_payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_inactive(&server, &forged).await;
    // Another deployment's token, signed by a key we never published.
    let other = lifecycle_server().await;
    let foreign = jwt_login(&other).await.access_token();
    assert_inactive(&server, &foreign).await;
}

#[tokio::test]
async fn expired_tokens_are_inactive() {
    let server = lifecycle_server().await;
    let jwt = jwt_login(&server).await;
    let opaque = opaque_login(&server).await;
    server.clock.advance(600);
    assert_inactive(&server, &jwt.access_token()).await;
    assert_inactive(&server, &opaque.access_token()).await;
    assert_active(&server, &jwt.refresh_token()).await;
    server.clock.advance(14 * 24 * 3600);
    assert_inactive(&server, &jwt.refresh_token()).await;
}

#[tokio::test]
async fn consumed_refresh_token_is_inactive() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let next =
        token_json(refresh(&server, JWT_APP, JWT_APP_SECRET, &login.refresh_token()).await).await;
    assert_inactive(&server, &login.refresh_token()).await;
    assert_active(&server, &text(&next, "refresh_token")).await;
}

#[tokio::test]
async fn disabled_user_tokens_are_inactive() {
    let server = lifecycle_server().await;
    let jwt = jwt_login(&server).await;
    let opaque = opaque_login(&server).await;
    server.disable_user(ALICE).await;
    for token in [
        jwt.access_token(),
        jwt.refresh_token(),
        opaque.access_token(),
        opaque.refresh_token(),
    ] {
        assert_inactive(&server, &token).await;
    }
}

#[tokio::test]
async fn tokens_of_a_revoked_client_are_inactive() {
    let server = lifecycle_server().await;
    let jwt = jwt_login(&server).await;
    let opaque = opaque_login(&server).await;
    signoff::revocation::void_client_tokens(&server.state.revoker(), JWT_APP)
        .await
        .unwrap();
    assert_inactive(&server, &jwt.access_token()).await;
    assert_inactive(&server, &jwt.refresh_token()).await;
    assert_active(&server, &opaque.access_token()).await;
    // A later token of the same client is fine, in the same second too.
    let again = jwt_login(&server).await;
    assert_active(&server, &again.access_token()).await;
}

/// RFC 7662 §4: a client that is neither the token's client nor a resource
/// server for its audience learns nothing, not even that it is active.
#[tokio::test]
async fn an_unrelated_client_learns_nothing_about_another_clients_tokens() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    for token in [login.access_token(), login.refresh_token()] {
        let body = introspect_by(&server, APP, APP_SECRET, &token).await;
        assert_eq!(body, serde_json::json!({ "active": false }));
        // The token's own client may.
        let own = introspect_by(&server, FIRST, FIRST_SECRET, &token).await;
        assert_eq!(own["active"], true, "{own}");
    }
}

/// RFC 7662 §4: a resource server registered for some audiences sees the
/// access tokens issued for them, and no others.
#[tokio::test]
async fn a_resource_server_introspects_only_tokens_for_its_audiences() {
    let server = lifecycle_server().await;
    let reports = "reports-rs";
    let secret = "reports-rs-secret-0123456789";
    server
        .add_client(signoff::admin::ClientSpec {
            id: reports.into(),
            secret: Some(secret.into()),
            scopes: vec!["introspect".into()],
            grant_types: vec!["client_credentials".into()],
            introspect_audiences: vec![REPORTS_API.into()],
            ..signoff::admin::ClientSpec::default()
        })
        .await;
    let login = jwt_login(&server).await;
    // For API (jwt-app's default audience): not this resource server's.
    let body = introspect_by(&server, reports, secret, &login.access_token()).await;
    assert_eq!(body, serde_json::json!({ "active": false }));
    // Nor its refresh token, which is only ever its client's business.
    let body = introspect_by(&server, RS, RS_SECRET, &login.refresh_token()).await;
    assert_eq!(body, serde_json::json!({ "active": false }));
    // An access token for REPORTS_API (RFC 8707 resource) is.
    let tokens = refresh_for_resource(&server, &login.refresh_token(), REPORTS_API).await;
    let body = introspect_by(&server, reports, secret, &text(&tokens, "access_token")).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["aud"], REPORTS_API);
}

/// The username is a profile claim: an introspection response shows it
/// only for a token granted `profile`.
#[tokio::test]
async fn username_is_revealed_only_with_the_profile_scope() {
    let server = lifecycle_server().await;
    let login = login_at(&server, FIRST, FIRST_SECRET, FIRST_REDIRECT, "openid").await;
    let body = assert_active(&server, &login.access_token()).await;
    assert!(body.get("username").is_none(), "{body}");
    assert!(body["sub"].is_string(), "{body}");
}
