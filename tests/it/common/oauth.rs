//! What a relying party does and checks: authorization URLs, code
//! redemption, token and error responses.

use reqwest::StatusCode;
use url::Url;

use super::*;

/// A standard authorization URL for `client_id` with PKCE.
pub fn auth_url(
    server: &TestServer,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    challenge: &str,
) -> String {
    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// RFC 7636 Appendix B verifier and challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Parse a JSON error body and check its `error` code.
pub async fn assert_oauth_error(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status(), status, "unexpected status");
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "unexpected error body {body}");
    body
}

/// The query parameters of a URL, by name (the last value wins).
pub fn query_map(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// Run an authorization request as alice in `browser` (signing in and
/// approving consent when asked) and return the code it ends with.
pub async fn code_in(browser: &Browser, server: &TestServer, auth_url: &str) -> String {
    let landing = browser
        .authorize(server, auth_url, ALICE, ALICE_PASSWORD)
        .await;
    landing
        .param("code")
        .unwrap_or_else(|| panic!("expected a code: {landing:?}"))
}

/// Redeem `code` with the RFC 7636 Appendix B verifier; `secret` of `None`
/// authenticates as a public client (client_id in the body).
pub async fn redeem(
    server: &TestServer,
    client_id: &str,
    secret: Option<&str>,
    code: &str,
    redirect_uri: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", VERIFIER),
    ];
    match secret {
        Some(secret) => server.token_request(client_id, secret, &form).await,
        None => {
            let mut form = form.to_vec();
            form.push(("client_id", client_id));
            server
                .http
                .post(server.url("/token"))
                .form(&form)
                .send()
                .await
                .expect("token request")
        }
    }
}

/// A successful token response as JSON.
pub async fn token_json(response: reqwest::Response) -> serde_json::Value {
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("JSON token response");
    assert_eq!(status, StatusCode::OK, "token request failed: {body}");
    body
}

/// The standard `service` client's client_credentials grant (RFC 6749
/// §4.4): the token response.
pub async fn service_token(server: &TestServer) -> serde_json::Value {
    token_json(
        server
            .token_request(
                SERVICE,
                SERVICE_SECRET,
                &[("grant_type", "client_credentials")],
            )
            .await,
    )
    .await
}

/// The payload of a compact JWS, not verified (code_flow.rs checks
/// signatures against the published JWKS).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a compact JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// GET /userinfo with `access_token` as a bearer token.
pub async fn userinfo(server: &TestServer, access_token: &str) -> reqwest::Response {
    server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo request")
}
