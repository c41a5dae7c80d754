//! RFC 8252 §7.3: a public (native) client registered with a loopback IP
//! redirect URI may use any port at request time; confidential clients and
//! every other part of the URI are matched exactly.

use crate::common::*;
use reqwest::StatusCode;
use signoff::admin::ClientSpec;

const NATIVE: &str = "native";
const NATIVE_V4: &str = "http://127.0.0.1/cb";
const NATIVE_V6: &str = "http://[::1]/cb";

async fn with_native_client() -> TestServer {
    let server = TestServer::start().await;
    server
        .add_client(ClientSpec {
            id: NATIVE.into(),
            secret: None,
            redirect_uris: vec![NATIVE_V4.into(), NATIVE_V6.into()],
            ..ClientSpec::default()
        })
        .await;
    server
}

#[tokio::test]
async fn public_client_gets_a_code_at_any_loopback_port_and_redeems_it_with_that_uri() {
    let server = with_native_client().await;
    for presented in [
        "http://127.0.0.1:53111/cb",
        "http://[::1]:8123/cb",
        NATIVE_V4,
    ] {
        let browser = server.browser();
        let url = auth_url(&server, NATIVE, presented, "openid", CHALLENGE);
        let landing = browser
            .authorize(&server, &url, ALICE, ALICE_PASSWORD)
            .await;
        let target = landing.redirect();
        assert!(target.as_str().starts_with(presented), "{target}");
        let code = query_map(&target)["code"].clone();
        // RFC 6749 §4.1.3: the token request repeats the URI of the request,
        // port included.
        let tokens = token_json(redeem(&server, NATIVE, None, &code, presented).await).await;
        assert!(tokens["id_token"].is_string(), "{tokens}");
    }
}

#[tokio::test]
async fn code_for_one_loopback_port_is_not_redeemed_with_another() {
    let server = with_native_client().await;
    let browser = server.browser();
    let presented = "http://127.0.0.1:53111/cb";
    let url = auth_url(&server, NATIVE, presented, "openid", CHALLENGE);
    let code = code_in(&browser, &server, &url).await;
    let response = redeem(&server, NATIVE, None, &code, "http://127.0.0.1:53112/cb").await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn loopback_port_freedom_does_not_extend_to_path_host_or_scheme() {
    let server = with_native_client().await;
    for presented in [
        "http://127.0.0.1:53111/cb/other",
        "http://127.0.0.1:53111/cb?x=1",
        "http://localhost:53111/cb",
        "https://127.0.0.1:53111/cb",
        "http://127.0.0.2:53111/cb",
    ] {
        let url = auth_url(&server, NATIVE, presented, "openid", CHALLENGE);
        let response = server.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{presented}");
        assert!(response.headers().get("location").is_none(), "{presented}");
    }
}

#[tokio::test]
async fn confidential_client_loopback_uri_is_matched_exactly() {
    let server = TestServer::start().await;
    // APP_REDIRECT is http://127.0.0.1:7001/callback, registered to the
    // confidential client `app`.
    let other_port = APP_REDIRECT.replace(":7001", ":7009");
    let url = auth_url(&server, APP, &other_port, "openid", CHALLENGE);
    let response = server.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    // The registered one still works.
    let url = auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE);
    let response = server.http.get(&url).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
}
