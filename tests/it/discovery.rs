//! Provider metadata (OpenID Connect Discovery 1.0 §3-4, RFC 8414 §2-3) and
//! the JWK Set it points to (RFC 7517 §5).

use crate::common::*;
use reqwest::StatusCode;

const ENDPOINTS: &[&str] = &[
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
];

async fn metadata(server: &TestServer, path: &str) -> serde_json::Value {
    let response = server.http.get(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

fn assert_consistent(server: &TestServer, doc: &serde_json::Value) {
    // Discovery §3 / RFC 8414 §3.3: identical to the issuer the client used.
    assert_eq!(doc["issuer"], server.base.as_str());
    for name in ENDPOINTS {
        let url = doc[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} missing: {doc}"));
        assert!(url.starts_with(&server.base), "{name} = {url}");
    }
    // Every URL-valued member (revocation, introspection, …) is ours too.
    for (name, value) in doc.as_object().unwrap() {
        if name.ends_with("_endpoint") || name.ends_with("_uri") {
            let url = value.as_str().unwrap_or_default();
            assert!(url.starts_with(&server.base), "{name} = {url}");
        }
    }
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn openid_configuration_names_the_issuer_and_its_endpoints() {
    let server = TestServer::start().await;
    let doc = metadata(&server, "/.well-known/openid-configuration").await;
    assert_consistent(&server, &doc);
    let subject_types = doc["subject_types_supported"].as_array().unwrap();
    assert!(!subject_types.is_empty());
    let algs = doc["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    // OpenID Core §15.1: RS256 is always offered.
    assert!(algs.iter().any(|a| a == "RS256"), "{doc}");
}

#[tokio::test]
async fn oauth_authorization_server_metadata_matches() {
    let server = TestServer::start().await;
    let oauth = metadata(&server, "/.well-known/oauth-authorization-server").await;
    assert_consistent(&server, &oauth);
    let oidc = metadata(&server, "/.well-known/openid-configuration").await;
    assert_eq!(oauth["issuer"], oidc["issuer"]);
    assert_eq!(oauth["token_endpoint"], oidc["token_endpoint"]);
}

#[tokio::test]
async fn jwks_keys_carry_kid_use_and_alg() {
    let server = TestServer::start().await;
    let doc = metadata(&server, "/.well-known/openid-configuration").await;
    let response = server
        .http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let jwks: serde_json::Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().expect("a keys array");
    assert!(!keys.is_empty());
    let mut kids = Vec::new();
    for key in keys {
        let kid = key["kid"].as_str().unwrap_or_else(|| panic!("kid: {key}"));
        assert!(!kid.is_empty());
        kids.push(kid.to_owned());
        assert_eq!(key["use"], "sig", "{key}");
        let alg = key["alg"].as_str().unwrap_or_else(|| panic!("alg: {key}"));
        assert!(
            ["RS256", "ES256", "EdDSA"].contains(&alg),
            "unexpected alg {alg}"
        );
        // Public halves only: no RSA/EC/OKP private members.
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private}: {key}"
            );
        }
    }
    let total = kids.len();
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), total, "kids are unique");
    // Each advertised ID token algorithm has a key.
    for alg in doc["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
    {
        assert!(keys.iter().any(|k| &k["alg"] == alg), "no key for {alg}");
    }
}

#[tokio::test]
async fn id_token_kid_is_in_the_jwks() {
    let server = TestServer::start().await;
    let code = code_in(
        &server.browser(),
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let tokens =
        token_json(redeem(&server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    use base64::Engine;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let jwks: serde_json::Value = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} not published", header["kid"]));
    assert_eq!(key["alg"], header["alg"]);
    assert_eq!(jwt_claims(id_token)["iss"], server.base.as_str());
}

/// A server whose issuer has a path, as behind a reverse proxy at /auth.
async fn server_under_path() -> (TestServer, String) {
    let server = TestServer::with(|cfg| cfg.issuer = cfg.issuer.join("/auth").unwrap()).await;
    let issuer = format!("{}/auth", server.base);
    (server, issuer)
}

#[tokio::test]
async fn issuer_with_a_path_serves_openid_configuration_under_it() {
    let (server, issuer) = server_under_path().await;
    // Discovery §4.1: the issuer followed by /.well-known/openid-configuration.
    let doc = metadata(&server, "/auth/.well-known/openid-configuration").await;
    assert_eq!(doc["issuer"], issuer.as_str());
    for name in ENDPOINTS {
        let url = doc[name].as_str().unwrap();
        assert!(url.starts_with(&format!("{issuer}/")), "{name} = {url}");
    }
    let jwks = server
        .http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
}

#[tokio::test]
async fn issuer_with_a_path_serves_rfc8414_metadata_at_the_inserted_path() {
    let (server, issuer) = server_under_path().await;
    // RFC 8414 §3.1: the well-known segment goes between host and path.
    let doc = metadata(&server, "/.well-known/oauth-authorization-server/auth").await;
    assert_eq!(doc["issuer"], issuer.as_str());
}

#[tokio::test]
async fn issuer_with_a_path_runs_the_code_flow() {
    let (server, issuer) = server_under_path().await;
    let url = auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE).replacen(
        &server.base,
        &issuer,
        1,
    );
    let code = code_in(&server.browser(), &server, &url).await;
    let response = server
        .http
        .post(format!("{issuer}/token"))
        .basic_auth(FIRST, Some(FIRST_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", FIRST_REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let tokens = token_json(response).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["iss"],
        issuer.as_str()
    );
}

#[tokio::test]
async fn discovery_advertises_no_acr_claim_and_no_userinfo_signing() {
    // No token carries `acr`, and /userinfo answers plain JSON only: neither
    // is advertised (OpenID Discovery 1.0 §3: only what is supported).
    let server = TestServer::start().await;
    let doc = metadata(&server, "/.well-known/openid-configuration").await;
    let claims = doc["claims_supported"].as_array().unwrap();
    assert!(!claims.iter().any(|c| c == "acr"), "{claims:?}");
    assert!(claims.iter().any(|c| c == "sub"), "{claims:?}");
    assert!(doc.get("userinfo_signing_alg_values_supported").is_none());
}
