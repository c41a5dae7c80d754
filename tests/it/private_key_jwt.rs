//! `private_key_jwt` client authentication (RFC 7523 §2.2/§3, OpenID Core
//! §9): a client registered with its public keys (a JWK Set or a jwks_uri)
//! authenticates with a signed, short-lived, single-use assertion at every
//! endpoint that authenticates clients. The openidconnect crate has no
//! private_key_jwt, so the assertions are built here with josekit.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::*;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader};
use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff::admin::ClientSpec;
use signoff::clock::Clock;

const PKJ: &str = "pkj";
const PKJ_REDIRECT: &str = "https://pkj.example.com/cb";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client's ES256 key pair (private JWK), kid k1.
fn key_pair(kid: &str) -> Jwk {
    let pair = jws::ES256.generate_key_pair().unwrap();
    // Private and public members both, so the public half can be taken.
    let mut jwk = pair.to_jwk_key_pair();
    jwk.set_key_id(kid);
    jwk
}

fn public_jwks(private: &Jwk) -> String {
    let mut public = private.to_public_key().unwrap();
    public.set_key_id(private.key_id().unwrap());
    json!({ "keys": [Value::Object(public.as_ref().clone())] }).to_string()
}

static JTI: AtomicU64 = AtomicU64::new(0);

/// Valid claims for `PKJ` at `server`, now.
fn claims(server: &TestServer) -> Value {
    let now = server.clock.now();
    json!({
        "iss": PKJ,
        "sub": PKJ,
        "aud": server.base,
        "iat": now,
        "exp": now + 60,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::SeqCst)),
    })
}

fn sign_es256(key: &Jwk, claims: &Value) -> String {
    let signer = jws::ES256.signer_from_jwk(key).unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id(key.key_id().unwrap());
    jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
}

struct Rig {
    server: TestServer,
    key: Jwk,
}

impl Rig {
    async fn start() -> Self {
        let server = TestServer::start().await;
        let key = key_pair("k1");
        server
            .add_client(ClientSpec {
                id: PKJ.into(),
                jwks: Some(public_jwks(&key)),
                redirect_uris: vec![PKJ_REDIRECT.into()],
                scopes: vec!["openid api.read".into()],
                grant_types: vec!["authorization_code".into(), "client_credentials".into()],
                ..ClientSpec::default()
            })
            .await;
        Rig { server, key }
    }

    fn assertion(&self) -> String {
        sign_es256(&self.key, &claims(&self.server))
    }

    async fn post(&self, path: &str, assertion: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut form = form.to_vec();
        form.push(("client_assertion_type", ASSERTION_TYPE));
        form.push(("client_assertion", assertion));
        self.server
            .http
            .post(self.server.url(path))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn token(&self, assertion: &str) -> reqwest::Response {
        self.post(
            "/token",
            assertion,
            &[("grant_type", "client_credentials"), ("scope", "api.read")],
        )
        .await
    }
}

#[tokio::test]
async fn valid_assertion_authenticates_at_token_introspection_revocation_and_par() {
    let rig = Rig::start().await;
    let tokens = token_json(rig.token(&rig.assertion()).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    let introspected: Value = rig
        .post("/introspect", &rig.assertion(), &[("token", access)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["client_id"], PKJ);
    let revoked = rig
        .post("/revoke", &rig.assertion(), &[("token", access)])
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let after: Value = rig
        .post("/introspect", &rig.assertion(), &[("token", access)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["active"], false);
    let pushed = rig
        .post(
            "/par",
            &rig.assertion(),
            &[
                ("response_type", "code"),
                ("redirect_uri", PKJ_REDIRECT),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(pushed.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn audience_may_be_the_token_endpoint_or_a_list_naming_us() {
    let rig = Rig::start().await;
    let token_endpoint = rig.server.url("/token");
    for aud in [
        json!(token_endpoint),
        json!(["https://other.example", rig.server.base]),
    ] {
        let mut c = claims(&rig.server);
        c["aud"] = aud.clone();
        let response = rig.token(&sign_es256(&rig.key, &c)).await;
        assert_eq!(response.status(), StatusCode::OK, "aud {aud}");
    }
}

#[tokio::test]
async fn replayed_assertion_is_refused() {
    let rig = Rig::start().await;
    let assertion = rig.assertion();
    token_json(rig.token(&assertion).await).await;
    let again = rig.token(&assertion).await;
    assert_oauth_error(again, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // The jti is spent at every endpoint, not per endpoint.
    let elsewhere = rig.post("/introspect", &assertion, &[("token", "x")]).await;
    assert_oauth_error(elsewhere, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

fn unsigned(header: &Value, claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!("{}.{}.", b64(header), b64(claims))
}

#[tokio::test]
async fn bad_assertions_are_invalid_client() {
    let rig = Rig::start().await;
    let server = &rig.server;
    let now = server.clock.now();
    let with = |name: &str, value: Value| {
        let mut c = claims(server);
        c[name] = value;
        sign_es256(&rig.key, &c)
    };
    let without = |name: &str| {
        let mut c = claims(server);
        c.as_object_mut().unwrap().remove(name);
        sign_es256(&rig.key, &c)
    };
    let hs256 = {
        let signer = jws::HS256
            .signer_from_bytes(b"0123456789abcdef0123456789abcdef")
            .unwrap();
        let mut header = JwsHeader::new();
        header.set_key_id("k1");
        jws::serialize_compact(claims(server).to_string().as_bytes(), &header, &signer).unwrap()
    };
    let cases: Vec<(&str, String)> = vec![
        ("wrong aud", with("aud", json!("https://elsewhere.example"))),
        ("wrong iss", with("iss", json!("app"))),
        ("sub is another client", with("sub", json!("app"))),
        ("expired", with("exp", json!(now - 3600))),
        ("lives too long", with("exp", json!(now + 24 * 3600))),
        ("no exp", without("exp")),
        ("no jti", without("jti")),
        (
            "alg none",
            unsigned(&json!({"alg": "none"}), &claims(server)),
        ),
        ("HS256", hs256),
        ("unknown kid", sign_es256(&key_pair("k2"), &claims(server))),
        (
            "right kid, wrong key",
            sign_es256(&key_pair("k1"), &claims(server)),
        ),
        ("not a JWT", "garbage".into()),
    ];
    for (what, assertion) in cases {
        let response = rig.token(&assertion).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{what}: {body}");
    }
    // A valid assertion still works afterwards: the refusals spent nothing.
    token_json(rig.token(&rig.assertion()).await).await;
}

#[tokio::test]
async fn a_refused_assertion_is_in_the_audit_trail_of_its_client() {
    let rig = Rig::start().await;
    let failures = || async {
        signoff::store::audit::list(&rig.server.state.db, None, None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "client_auth" && e.outcome == "failure")
            .collect::<Vec<_>>()
    };
    token_json(rig.token(&rig.assertion()).await).await;
    assert!(failures().await.is_empty(), "a success is not a failure");
    let forged = sign_es256(&key_pair("k1"), &claims(&rig.server));
    assert_eq!(rig.token(&forged).await.status(), StatusCode::UNAUTHORIZED);
    let rows = failures().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].client_id.as_deref(), Some(PKJ));
}

#[tokio::test]
async fn wrong_assertion_type_or_two_methods_are_refused() {
    let rig = Rig::start().await;
    let response = rig
        .server
        .http
        .post(rig.server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &rig.assertion()),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let response = rig
        .server
        .http
        .post(rig.server.url("/token"))
        .basic_auth(PKJ, Some("whatever"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &rig.assertion()),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn key_client_without_credentials_is_not_a_public_client() {
    let rig = Rig::start().await;
    let response = rig
        .server
        .http
        .post(rig.server.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", PKJ)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Nor may a secret client switch to assertions it has no keys for.
    let mut c = claims(&rig.server);
    c["iss"] = json!(APP);
    c["sub"] = json!(APP);
    let response = rig.token(&sign_es256(&rig.key, &c)).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

/// A JWK Set served over HTTP on a loopback port.
async fn serve_jwks(jwks: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { ([("content-type", "application/json")], jwks) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/jwks")
}

async fn jwks_uri_server(allow_private: bool) -> (TestServer, Jwk) {
    let server = TestServer::with(|c| c.client_auth.allow_private_jwks_uri = allow_private).await;
    let key = key_pair("k1");
    let uri = serve_jwks(public_jwks(&key)).await;
    server
        .add_client(ClientSpec {
            id: PKJ.into(),
            jwks_uri: Some(uri),
            scopes: vec!["api.read".into()],
            grant_types: vec!["client_credentials".into()],
            ..ClientSpec::default()
        })
        .await;
    (server, key)
}

async fn token_with(server: &TestServer, assertion: &str) -> reqwest::Response {
    server
        .http
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_are_fetched_from_a_jwks_uri() {
    let (server, key) = jwks_uri_server(true).await;
    let response = token_with(&server, &sign_es256(&key, &claims(&server))).await;
    token_json(response).await;
    assert_eq!(server.state.client_jwks.len(), 1);
}

#[tokio::test]
async fn jwks_uri_on_a_private_address_is_not_fetched_by_default() {
    let (server, key) = jwks_uri_server(false).await;
    let response = token_with(&server, &sign_es256(&key, &claims(&server))).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert!(server.state.client_jwks.is_empty());
}

#[tokio::test]
async fn registration_refuses_private_keys_and_mixed_methods() {
    let server = TestServer::start().await;
    let key = key_pair("k1");
    let private = json!({ "keys": [Value::Object(key.as_ref().clone())] }).to_string();
    for spec in [
        ClientSpec {
            id: "bad1".into(),
            jwks: Some(private),
            grant_types: vec!["client_credentials".into()],
            ..ClientSpec::default()
        },
        ClientSpec {
            id: "bad2".into(),
            jwks: Some(public_jwks(&key)),
            secret: Some("a-secret-of-enough-length".into()),
            grant_types: vec!["client_credentials".into()],
            ..ClientSpec::default()
        },
        ClientSpec {
            id: "bad3".into(),
            jwks_uri: Some("http://pkj.example.com/jwks".into()),
            grant_types: vec!["client_credentials".into()],
            ..ClientSpec::default()
        },
    ] {
        let id = spec.id.clone();
        let result = signoff::admin::add_client(&server.state.revoker(), spec).await;
        assert!(result.is_err(), "{id} was accepted");
    }
}

#[tokio::test]
async fn discovery_lists_private_key_jwt_and_its_algorithms() {
    let server = TestServer::start().await;
    let doc: Value = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for endpoint in ["token", "introspection", "revocation"] {
        let methods = &doc[format!("{endpoint}_endpoint_auth_methods_supported")];
        assert!(
            methods
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == "private_key_jwt"),
            "{endpoint}: {methods}"
        );
        assert_eq!(
            doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            json!(["RS256", "PS256", "ES256", "EdDSA"])
        );
    }
}
