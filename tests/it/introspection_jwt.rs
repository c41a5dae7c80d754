//! JWT Response for OAuth Token Introspection (RFC 9701): with `Accept:
//! application/token-introspection+jwt` the response is a JWT signed with a
//! key of our JWKS.

use crate::common::*;
use crate::lifecycle::*;
use reqwest::StatusCode;
use serde_json::Value;

const MEDIA_TYPE: &str = "application/token-introspection+jwt";

async fn introspect_as_jwt(server: &TestServer, token: &str) -> reqwest::Response {
    server
        .http
        .post(server.url("/introspect"))
        .basic_auth(FIRST, Some(FIRST_SECRET))
        .header("accept", MEDIA_TYPE)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

/// Verify `jwt` against the published JWKS (RS256, RFC 9701 §6's default):
/// its header and claims.
async fn verify(server: &TestServer, jwt: &str) -> (Value, Value) {
    let jwks: Value = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = josekit::jwt::decode_header(jwt).expect("a JWS header");
    let kid = header.claim("kid").and_then(Value::as_str).expect("a kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"));
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string()).unwrap();
    let verifier = josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap();
    let (payload, header) =
        josekit::jws::deserialize_compact(jwt, &verifier).expect("signed by a key of the JWKS");
    (
        serde_json::to_value(header.claims_set()).unwrap(),
        serde_json::from_slice(&payload).unwrap(),
    )
}

#[tokio::test]
async fn signed_introspection_response_verifies_against_the_jwks() {
    let server = lifecycle_server().await;
    let token = opaque_login(&server).await.access_token();
    let response = introspect_as_jwt(&server, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], MEDIA_TYPE);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let jwt = response.text().await.unwrap();
    let (header, claims) = verify(&server, &jwt).await;
    assert_eq!(header["typ"], "token-introspection+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], server.base.as_str());
    // RFC 9701 §5: the audience is the caller.
    assert_eq!(claims["aud"], FIRST);
    assert!(claims["iat"].is_i64());
    let inner = &claims["token_introspection"];
    assert_eq!(inner["active"], true, "{claims}");
    assert_eq!(inner["client_id"], FIRST, "{claims}");
    // The same answer as the JSON response.
    let plain: Value = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(FIRST, Some(FIRST_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inner["sub"], plain["sub"]);
    assert_eq!(inner["exp"], plain["exp"]);
}

#[tokio::test]
async fn inactive_token_is_a_signed_active_false() {
    let server = lifecycle_server().await;
    let response = introspect_as_jwt(&server, "no-such-token").await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, claims) = verify(&server, &response.text().await.unwrap()).await;
    assert_eq!(
        claims["token_introspection"],
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn without_the_media_type_the_response_stays_json() {
    let server = lifecycle_server().await;
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(RS, Some(RS_SECRET))
        .header("accept", "application/json")
        .form(&[("token", "no-such-token")])
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn errors_stay_json_when_a_jwt_is_asked_for() {
    let server = lifecycle_server().await;
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(RS, Some("wrong-secret"))
        .header("accept", MEDIA_TYPE)
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn discovery_lists_the_introspection_signing_algorithm() {
    let server = lifecycle_server().await;
    let doc: Value = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["introspection_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
}
