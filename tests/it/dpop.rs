//! DPoP (RFC 9449), the device binding of docs/logout-strategies.md: tokens
//! bound to a key the client holds, a public client's refresh token useless
//! without that key, proofs checked (§4.3), used once and, when configured,
//! carrying a server nonce (§8); `/userinfo` and introspection honour the
//! binding (§7, §6.2).

use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff::admin::ClientSpec;
use signoff::clock::Clock;

use crate::common::*;
use crate::dpop_support::*;
use crate::lifecycle::*;

#[tokio::test]
async fn discovery_lists_the_proof_algorithms() {
    let server = TestServer::start().await;
    let discovery: Value = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256", "PS256"])
    );
}

#[tokio::test]
async fn a_proof_binds_the_jwt_access_token_and_introspection_shows_cnf() {
    let server = lifecycle_server().await;
    let device = Device::new();
    let browser = server.browser();
    let code = code_in(
        &browser,
        &server,
        &auth_url(
            &server,
            JWT_APP,
            JWT_APP_REDIRECT,
            "openid profile offline_access",
            CHALLENGE,
        ),
    )
    .await;
    let proof = device.proof(&server, "POST", "/token");
    let tokens = token_json(
        token_with_proof(
            &server,
            Some((JWT_APP, JWT_APP_SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", JWT_APP_REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            Some(&proof),
        )
        .await,
    )
    .await;
    assert_eq!(tokens["token_type"], "DPoP");
    let access = text(&tokens, "access_token");
    let (_, claims) = verify_access_jwt(&server, &access).await;
    assert_eq!(claims["cnf"]["jkt"], device.jkt(), "{claims}");
    let introspected = introspect(&server, &access).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"]["jkt"], device.jkt());
}

#[tokio::test]
async fn an_opaque_token_stores_its_binding_for_introspection() {
    let server = lifecycle_server().await;
    let device = Device::new();
    let tokens = spa_login(&server, &device).await;
    assert_eq!(tokens["token_type"], "DPoP");
    let introspected = introspect(&server, &text(&tokens, "access_token")).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"]["jkt"], device.jkt());
}

#[tokio::test]
async fn a_stolen_public_refresh_token_fails_without_the_key_and_the_holder_keeps_refreshing() {
    let server = TestServer::start().await;
    let device = Device::new();
    let thief = Device::new();
    let tokens = spa_login(&server, &device).await;
    let refresh_token = text(&tokens, "refresh_token");
    // RFC 9449 §5: without a proof, or with a proof by another key, the
    // token is refused, and neither attempt consumes it nor revokes the
    // family.
    for attempt in [None, Some(&thief)] {
        assert_oauth_error(
            spa_refresh(&server, &refresh_token, attempt).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }
    let rotated = token_json(spa_refresh(&server, &refresh_token, Some(&device)).await).await;
    assert_eq!(rotated["token_type"], "DPoP");
    // The successor is bound to the same key.
    let successor = text(&rotated, "refresh_token");
    assert_oauth_error(
        spa_refresh(&server, &successor, Some(&thief)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let again = token_json(spa_refresh(&server, &successor, Some(&device)).await).await;
    assert_eq!(again["token_type"], "DPoP");
}

#[tokio::test]
async fn a_rotated_public_refresh_token_replayed_without_the_key_revokes_nothing() {
    let server =
        TestServer::with(|c| c.tokens.refresh_reuse_grace = std::time::Duration::ZERO).await;
    let device = Device::new();
    let thief = Device::new();
    let tokens = spa_login(&server, &device).await;
    let stolen = text(&tokens, "refresh_token");
    let rotated = token_json(spa_refresh(&server, &stolen, Some(&device)).await).await;
    // The consumed token presented again without the key would be reuse
    // (RFC 9700 §4.14.2), but it proves nothing (RFC 9449 §5): refused,
    // and the family lives on.
    for attempt in [None, Some(&thief)] {
        assert_oauth_error(
            spa_refresh(&server, &stolen, attempt).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }
    let access = text(&rotated, "access_token");
    let proof = device.proof_for_token(&server, "GET", "/userinfo", &access);
    assert_eq!(
        userinfo_with(&server, "DPoP", &access, Some(&proof))
            .await
            .status(),
        StatusCode::OK
    );
    token_json(spa_refresh(&server, &text(&rotated, "refresh_token"), Some(&device)).await).await;
    // Reuse by the holder of the key is still reuse: the family dies.
    assert_oauth_error(
        spa_refresh(&server, &stolen, Some(&device)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let proof = device.proof_for_token(&server, "GET", "/userinfo", &access);
    assert_eq!(
        userinfo_with(&server, "DPoP", &access, Some(&proof))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_confidential_refresh_token_is_bound_by_client_authentication_and_its_access_token_by_the_proof()
 {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    // RFC 9449 §5: the client's authentication binds its refresh token; a
    // proof binds only the new access token, to the proof's key.
    let device = Device::new();
    let proof = device.proof(&server, "POST", "/token");
    let bound = token_json(
        token_with_proof(
            &server,
            Some((JWT_APP, JWT_APP_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &login.refresh_token()),
            ],
            Some(&proof),
        )
        .await,
    )
    .await;
    assert_eq!(bound["token_type"], "DPoP");
    let (_, claims) = verify_access_jwt(&server, &text(&bound, "access_token")).await;
    assert_eq!(claims["cnf"]["jkt"], device.jkt());
    let unbound = token_json(
        refresh(
            &server,
            JWT_APP,
            JWT_APP_SECRET,
            &text(&bound, "refresh_token"),
        )
        .await,
    )
    .await;
    assert_eq!(unbound["token_type"], "Bearer");
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let server = TestServer::start().await;
    let device = Device::new();
    let proof = device.proof(&server, "POST", "/token");
    let first = token_json(service_token_with(&server, Some(&proof)).await).await;
    assert_eq!(first["token_type"], "DPoP");
    assert_oauth_error(
        service_token_with(&server, Some(&proof)).await,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
    )
    .await;
}

#[tokio::test]
async fn a_proof_for_another_request_or_outside_its_window_is_refused() {
    let server = TestServer::start().await;
    let device = Device::new();
    let now = server.clock.now();
    let window = server.state.config.dpop.proof_window.as_secs() as i64;
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut c = device.claims(&server, "POST", "/token");
        change(&mut c);
        c
    };
    let cases: Vec<(&str, Value)> = vec![
        ("another method", claims(&|c| c["htm"] = json!("GET"))),
        (
            "another endpoint",
            claims(&|c| c["htu"] = json!(server.url("/userinfo"))),
        ),
        (
            "another server",
            claims(&|c| c["htu"] = json!("https://op.example.com/token")),
        ),
        ("too old", claims(&|c| c["iat"] = json!(now - window - 1))),
        (
            "from the future",
            claims(&|c| c["iat"] = json!(now + window + 1)),
        ),
        (
            "no jti",
            claims(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
    ];
    for (case, claims) in cases {
        let response = service_token_with(&server, Some(&device.sign(&claims))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{case}: {body}");
    }
    // The edges of the window are inside it; a query in htu is ignored.
    for (case, claims) in [
        ("oldest", claims(&|c| c["iat"] = json!(now - window))),
        ("newest", claims(&|c| c["iat"] = json!(now + window))),
        (
            "with a query",
            claims(&|c| c["htu"] = json!(server.url("/token?x=1"))),
        ),
    ] {
        let response = service_token_with(&server, Some(&device.sign(&claims))).await;
        assert_eq!(response.status(), StatusCode::OK, "{case}");
    }
}

#[tokio::test]
async fn malformed_proofs_are_refused() {
    let server = TestServer::start().await;
    let device = Device::new();
    let other = Device::new();
    let claims = || device.claims(&server, "POST", "/token");
    let typ = ("typ", json!("dpop+jwt"));
    let cases: Vec<(&str, String)> = vec![
        (
            "private key in the jwk",
            device.sign_with_header(&claims(), &[typ.clone(), ("jwk", device.private_jwk())]),
        ),
        (
            "another typ",
            device.sign_with_header(
                &claims(),
                &[("typ", json!("JWT")), ("jwk", device.public_jwk())],
            ),
        ),
        (
            "no jwk",
            device.sign_with_header(&claims(), std::slice::from_ref(&typ)),
        ),
        (
            "signed by another key",
            device.sign_with_header(&claims(), &[typ.clone(), ("jwk", other.public_jwk())]),
        ),
        ("alg none", unsigned(&claims(), &device.public_jwk())),
        ("not a JWT", "not-a-jwt".into()),
        ("too large", "a".repeat(9000)),
    ];
    for (case, proof) in cases {
        let response = service_token_with(&server, Some(&proof)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{case}: {body}");
    }
    // RFC 9449 §4.3 item 1: one DPoP header only.
    let response = server
        .http
        .post(server.url("/token"))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .header("DPoP", device.proof(&server, "POST", "/token"))
        .header("DPoP", device.proof(&server, "POST", "/token"))
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
}

/// An `alg: none` JWT with a dpop+jwt header.
fn unsigned(claims: &Value, jwk: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk});
    format!("{}.{}.", b64(&header), b64(claims))
}

#[tokio::test]
async fn a_required_nonce_is_asked_for_accepted_and_rotated() {
    let server = TestServer::with(|c| c.dpop.require_nonce = true).await;
    let device = Device::new();
    // RFC 9449 §8: without a nonce, `use_dpop_nonce` and the nonce to use.
    let response =
        service_token_with(&server, Some(&device.proof(&server, "POST", "/token"))).await;
    let nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    let response = service_token_with(
        &server,
        Some(&device.proof_with_nonce(&server, "/token", &nonce)),
    )
    .await;
    assert!(response.headers().contains_key("dpop-nonce"));
    assert_eq!(token_json(response).await["token_type"], "DPoP");
    // Two rotation periods later the nonce is stale and a new one is given.
    let rotation = server.state.config.dpop.nonce_rotation.as_secs() as i64;
    server.clock.advance(2 * rotation);
    let response = service_token_with(
        &server,
        Some(&device.proof_with_nonce(&server, "/token", &nonce)),
    )
    .await;
    let fresh = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, nonce);
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    let response = service_token_with(
        &server,
        Some(&device.proof_with_nonce(&server, "/token", &fresh)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn userinfo_takes_a_bound_token_only_with_a_proof_by_its_key() {
    let server = TestServer::start().await;
    let device = Device::new();
    let thief = Device::new();
    let tokens = spa_login(&server, &device).await;
    let token = text(&tokens, "access_token");
    let proof = |d: &Device| d.proof_for_token(&server, "GET", "/userinfo", &token);
    let cases: Vec<(&str, &str, Option<String>, &str)> = vec![
        ("as a bearer token", "Bearer", None, "invalid_token"),
        (
            "as a bearer token with a proof",
            "Bearer",
            Some(proof(&device)),
            "invalid_token",
        ),
        ("DPoP without a proof", "DPoP", None, "invalid_dpop_proof"),
        (
            "a proof by another key",
            "DPoP",
            Some(proof(&thief)),
            "invalid_token",
        ),
        (
            "a proof without ath",
            "DPoP",
            Some(device.proof(&server, "GET", "/userinfo")),
            "invalid_dpop_proof",
        ),
        (
            "a proof for the token endpoint",
            "DPoP",
            Some(device.proof_for_token(&server, "POST", "/token", &token)),
            "invalid_dpop_proof",
        ),
    ];
    for (case, scheme, proof, error) in cases {
        let response = userinfo_with(&server, scheme, &token, proof.as_deref()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        // RFC 9449 §7.1: a DPoP challenge naming the error.
        let challenge = challenges(&response);
        assert!(
            challenge.contains("DPoP") && challenge.contains(&format!("error=\"{error}\"")),
            "{case}: {challenge}"
        );
    }
    let good = proof(&device);
    let response = userinfo_with(&server, "DPoP", &token, Some(&good)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], server.user_id(ALICE).await);
    // The same proof again is a replay.
    let response = userinfo_with(&server, "DPoP", &token, Some(&good)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenges(&response).contains("invalid_dpop_proof"));
}

#[tokio::test]
async fn an_unbound_token_is_refused_with_the_dpop_scheme() {
    let server = TestServer::start().await;
    let login = crate::lifecycle::opaque_login(&server).await;
    let device = Device::new();
    let token = login.access_token();
    let proof = device.proof_for_token(&server, "GET", "/userinfo", &token);
    let response = userinfo_with(&server, "DPoP", &token, Some(&proof)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenges(&response).contains("error=\"invalid_token\""));
    // As a bearer token it still works.
    assert_eq!(userinfo(&server, &token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_dpop_bound_client_is_refused_without_a_proof() {
    let server = TestServer::start().await;
    server
        .add_client(ClientSpec {
            id: "bound".into(),
            secret: Some("bound-secret-0123456789".into()),
            scopes: vec!["api.read".into()],
            grant_types: vec!["client_credentials".into()],
            dpop_bound_access_tokens: true,
            ..ClientSpec::default()
        })
        .await;
    let basic = Some(("bound", "bound-secret-0123456789"));
    let form = [("grant_type", "client_credentials")];
    assert_oauth_error(
        token_with_proof(&server, basic, &form, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let device = Device::new();
    let proof = device.proof(&server, "POST", "/token");
    let tokens = token_json(token_with_proof(&server, basic, &form, Some(&proof)).await).await;
    assert_eq!(tokens["token_type"], "DPoP");
}

#[tokio::test]
async fn cli_registers_a_dpop_bound_client() {
    let server = TestServer::start().await;
    let output = signoff_cli(
        &server,
        &[
            "client",
            "add",
            "--id",
            "device-app",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:7003/callback",
            "--dpop-bound",
        ],
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let client = signoff::store::clients::find(&server.state.db, "device-app")
        .await
        .unwrap()
        .expect("the client");
    assert!(client.dpop_bound_access_tokens);
}

#[tokio::test]
async fn browsers_may_send_proofs_and_read_nonces() {
    let server = TestServer::start().await;
    let origin = "https://spa.example.com";
    // CORS preflight: the DPoP request header is allowed.
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/token"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "dpop")
        .send()
        .await
        .unwrap();
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("dpop"), "{allowed}");
    // The response exposes DPoP-Nonce to the page's script.
    let response = server
        .http
        .post(server.url("/token"))
        .header("Origin", origin)
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("dpop-nonce"), "{exposed}");
}

#[tokio::test]
async fn nonces_and_spent_proofs_hold_across_instances() {
    let server = TestServer::with(|c| c.dpop.require_nonce = true).await;
    let other = second_instance(&server).await;
    let device = Device::new();
    let at = |base: &str, proof: &str| {
        server
            .http
            .post(format!("{base}/token"))
            .basic_auth(SERVICE, Some(SERVICE_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .header("DPoP", proof.to_owned())
            .send()
    };
    // A nonce handed out by one instance is good at the other.
    let response = at(&server.base, &device.proof(&server, "POST", "/token"))
        .await
        .unwrap();
    let nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    let proof = device.proof_with_nonce(&server, "/token", &nonce);
    let tokens = token_json(at(&other.base, &proof).await.unwrap()).await;
    assert_eq!(tokens["token_type"], "DPoP");
    // The proof spent there is spent here too.
    assert_oauth_error(
        at(&server.base, &proof).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
    )
    .await;
}
