//! The whole authorization code flow, driven by the `openidconnect` crate as
//! an independent relying party: discovery, PKCE, the hosted login and
//! consent pages, code exchange, ID token verification, userinfo.

use crate::common::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

#[tokio::test]
async fn relying_party_completes_code_flow_with_pkce() {
    let server = TestServer::start().await;
    let http = http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(APP.into()),
        Some(ClientSecret::new(APP_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(APP_REDIRECT.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = server.browser();
    let (login_url, login_page) = browser.go(&server, url.as_str()).await;
    let Landing::Page { status, body } = login_page else {
        panic!("expected the login page")
    };
    assert_eq!(status, 200);
    assert!(body.contains("Sign in"), "{body}");
    let (consent_url, consent_page) = browser
        .login(&server, &login_url, &body, ALICE, ALICE_PASSWORD)
        .await;
    let Landing::Page { body, .. } = consent_page else {
        panic!("expected the consent page")
    };
    assert!(
        body.contains("See your email address"),
        "consent lists the scopes: {body}"
    );
    let (_, landing) = browser
        .consent(&server, &consent_url, &body, "approve")
        .await;
    let redirect = landing.redirect();
    assert!(redirect.as_str().starts_with(APP_REDIRECT));
    let params: std::collections::HashMap<_, _> = redirect.query_pairs().into_owned().collect();
    assert_eq!(params.get("state"), Some(csrf.secret()));
    // RFC 9207: the response names its issuer.
    assert_eq!(params.get("iss"), Some(&server.base));

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("ID token verifies");
    assert_eq!(claims.issuer().as_str(), server.base);
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&client.id_token_verifier()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert!(
        tokens.refresh_token().is_none(),
        "no offline_access, no refresh token"
    );

    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject(), claims.subject());
    assert_eq!(
        userinfo.preferred_username().map(|u| u.as_str()),
        Some(ALICE)
    );

    // SSO: a second client in the same browser gets a code without a password.
    let landing = browser
        .authorize(
            &server,
            &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
            ALICE,
            "wrong password",
        )
        .await;
    assert!(landing.param("code").is_some(), "SSO login: {landing:?}");
}

#[tokio::test]
async fn public_client_and_other_algorithms_verify() {
    let server = TestServer::start().await;
    for (id, alg) in [("es-client", "ES256"), ("ed-client", "EdDSA")] {
        server
            .add_client(signoff::admin::ClientSpec {
                id: id.into(),
                secret: None,
                redirect_uris: vec![SPA_REDIRECT.into()],
                first_party: true,
                id_token_alg: Some(alg.into()),
                ..Default::default()
            })
            .await;
    }
    let http = http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let browser = server.browser();
    for (id, alg) in [
        ("es-client", "ES256"),
        ("ed-client", "EdDSA"),
        (SPA, "RS256"),
    ] {
        let client =
            CoreClient::from_provider_metadata(metadata.clone(), ClientId::new(id.into()), None)
                .set_redirect_uri(RedirectUrl::new(SPA_REDIRECT.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .url();
        let landing = browser
            .authorize(&server, url.as_str(), ALICE, ALICE_PASSWORD)
            .await;
        let code = landing.param("code").expect("code");
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("exchange");
        let id_token = tokens.id_token().unwrap();
        let verifier = client.id_token_verifier().set_allowed_algs(vec![
            serde_json::from_value(serde_json::json!(alg)).unwrap(),
        ]);
        let claims = id_token.claims(&verifier, &nonce).expect("verifies");
        assert_eq!(claims.audiences()[0].as_str(), id);
        let expected = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected), "{alg} at_hash");
    }
}
