//! The audience of access tokens (RFC 9068 §3, RFC 8707): by default this
//! service's resource identifier (the issuer, or `tokens.default_audience`),
//! never the client id (which would make an access token pass for an ID
//! token); and /userinfo serves only tokens meant for this service.

use reqwest::StatusCode;
use signoff::admin::ClientSpec;

use crate::common::*;
use crate::lifecycle::*;

const JWT_PLAIN: &str = "jwt-plain";
const JWT_PLAIN_SECRET: &str = "jwt-plain-secret-0123456789";

/// A first-party JWT client with no registered audience.
async fn add_jwt_plain(server: &TestServer) {
    server
        .add_client(ClientSpec {
            id: JWT_PLAIN.into(),
            secret: Some(JWT_PLAIN_SECRET.into()),
            redirect_uris: vec![FIRST_REDIRECT.into()],
            first_party: true,
            access_token_format: Some("jwt".into()),
            ..ClientSpec::default()
        })
        .await;
}

async fn plain_access_token(server: &TestServer) -> String {
    login_at(
        server,
        JWT_PLAIN,
        JWT_PLAIN_SECRET,
        FIRST_REDIRECT,
        "openid profile",
    )
    .await
    .access_token()
}

fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn default_audience_is_the_issuer_not_the_client() {
    let server = TestServer::start().await;
    add_jwt_plain(&server).await;
    let token = plain_access_token(&server).await;
    let claims = jwt_claims(&token);
    assert_eq!(claims["aud"], server.base.as_str(), "{claims}");
    assert_ne!(claims["aud"], JWT_PLAIN);
    // Meant for this service: /userinfo serves it.
    assert_eq!(userinfo(&server, &token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn configured_default_audience_is_used_and_served_by_userinfo() {
    let ours = "https://id.example.com/resource";
    let server = TestServer::with(|c| c.tokens.default_audience = Some(ours.into())).await;
    add_jwt_plain(&server).await;
    let token = plain_access_token(&server).await;
    assert_eq!(jwt_claims(&token)["aud"], ours);
    assert_eq!(userinfo(&server, &token).await.status(), StatusCode::OK);
}

/// RFC 8707 §2, RFC 6750 §3.1: a token minted for another resource is
/// refused at /userinfo with invalid_token; the same client's token for
/// this service (resource = the issuer) is served.
#[tokio::test]
async fn userinfo_refuses_a_token_for_another_resource() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let response = refresh_for_resource(&server, &login.refresh_token(), REPORTS_API).await;
    let for_reports = text(&response, "access_token");
    assert_eq!(jwt_claims(&for_reports)["aud"], REPORTS_API);
    let refused = userinfo(&server, &for_reports).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        www_authenticate(&refused).contains("error=\"invalid_token\""),
        "{}",
        www_authenticate(&refused)
    );

    let response = token_json(
        server
            .token_request(
                JWT_APP,
                JWT_APP_SECRET,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &text(&response, "refresh_token")),
                    ("resource", &server.base),
                ],
            )
            .await,
    )
    .await;
    let for_us = text(&response, "access_token");
    assert_eq!(jwt_claims(&for_us)["aud"], server.base.as_str());
    assert_eq!(userinfo(&server, &for_us).await.status(), StatusCode::OK);
}
