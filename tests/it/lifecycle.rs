//! Shared fixtures of the token lifecycle tests (token_lifecycle.rs,
//! refresh_rotation.rs, revocation.rs, introspection.rs): a JWT client with
//! registered audiences, a resource server that introspects, and the calls a
//! relying party and a resource server make.

use std::process::Output;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;
use signoff::admin::ClientSpec;
use signoff::random::OsRandom;
use signoff::{AppState, Config};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::common::*;

/// First-party confidential client with JWT access tokens (RFC 9068).
pub const JWT_APP: &str = "jwt-app";
pub const JWT_APP_SECRET: &str = "jwt-app-secret-0123456789";
pub const JWT_APP_REDIRECT: &str = "https://jwt.example.com/callback";
/// Its default audience, and a second resource it may ask for (RFC 8707).
pub const API: &str = "https://api.example.com";
pub const REPORTS_API: &str = "https://reports.example.com";
/// A resource server: client_credentials only, used to call /introspect,
/// registered for jwt-app's audiences and this service's.
pub const RS: &str = "rs";
pub const RS_SECRET: &str = "rs-secret-0123456789";

/// A server with the standard clients plus `jwt-app` and `rs`.
pub async fn lifecycle_server() -> TestServer {
    lifecycle_server_with(|_| {}).await
}

pub async fn lifecycle_server_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let server = TestServer::with(adjust).await;
    server
        .add_client(ClientSpec {
            id: JWT_APP.into(),
            secret: Some(JWT_APP_SECRET.into()),
            redirect_uris: vec![JWT_APP_REDIRECT.into()],
            first_party: true,
            access_token_format: Some("jwt".into()),
            audiences: vec![API.into(), REPORTS_API.into()],
            ..ClientSpec::default()
        })
        .await;
    server
        .add_client(ClientSpec {
            id: RS.into(),
            secret: Some(RS_SECRET.into()),
            scopes: vec!["introspect".into()],
            grant_types: vec!["client_credentials".into()],
            // RFC 7662 §4: the resource server of both APIs and of this
            // service's own audience (the issuer).
            introspect_audiences: vec![API.into(), REPORTS_API.into(), server.base.clone()],
            ..ClientSpec::default()
        })
        .await;
    server
}

/// What a code exchange returned, and the browser that holds the SSO cookie.
pub struct Login {
    pub browser: Browser,
    pub tokens: Value,
}

impl Login {
    pub fn access_token(&self) -> String {
        text(&self.tokens, "access_token")
    }

    pub fn refresh_token(&self) -> String {
        text(&self.tokens, "refresh_token")
    }
}

pub fn text(json: &Value, name: &str) -> String {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        .to_owned()
}

/// Sign alice in at a first-party client (no consent page) and redeem the
/// code. `resource` adds an RFC 8707 resource to the token request.
pub async fn login_at(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
    scope: &str,
) -> Login {
    let browser = server.browser();
    let code = code_in(
        &browser,
        server,
        &auth_url(server, client_id, redirect_uri, scope, CHALLENGE),
    )
    .await;
    let tokens =
        token_json(redeem(server, client_id, Some(secret), &code, redirect_uri).await).await;
    Login { browser, tokens }
}

/// alice at `jwt-app` with offline access: a JWT access token and a refresh token.
pub async fn jwt_login(server: &TestServer) -> Login {
    login_at(
        server,
        JWT_APP,
        JWT_APP_SECRET,
        JWT_APP_REDIRECT,
        "openid profile offline_access",
    )
    .await
}

/// alice at `first` with offline access: an opaque access token and a refresh token.
pub async fn opaque_login(server: &TestServer) -> Login {
    login_at(
        server,
        FIRST,
        FIRST_SECRET,
        FIRST_REDIRECT,
        "openid profile offline_access",
    )
    .await
}

/// jwt-app's refresh_token grant asking for an access token for `resource`
/// (RFC 8707 §2): the token response.
pub async fn refresh_for_resource(
    server: &TestServer,
    refresh_token: &str,
    resource: &str,
) -> serde_json::Value {
    token_json(
        server
            .token_request(
                JWT_APP,
                JWT_APP_SECRET,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                    ("resource", resource),
                ],
            )
            .await,
    )
    .await
}

/// The refresh_token grant (RFC 6749 §6).
pub async fn refresh(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    refresh_token: &str,
) -> reqwest::Response {
    server
        .token_request(
            client_id,
            secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
}

/// Whether `browser` still gets through /authorize without a password.
pub async fn sso_still_logs_in(server: &TestServer, browser: &Browser) -> bool {
    let (at, landing) = browser
        .go(
            server,
            &auth_url(server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
        )
        .await;
    match landing {
        Landing::Redirect(url) => {
            assert!(
                query_map(&url).contains_key("code"),
                "unexpected redirect {url}"
            );
            true
        }
        Landing::Page { body, .. } => {
            assert!(
                parse_forms(&at, &body).iter().any(|f| f.has_password),
                "expected the login page: {body}"
            );
            false
        }
    }
}

/// The refresh is refused with RFC 6749 §5.2 invalid_grant.
pub async fn refresh_fails(server: &TestServer, client_id: &str, secret: &str, token: &str) {
    assert_oauth_error(
        refresh(server, client_id, secret, token).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

/// POST /introspect (RFC 7662 §2.1) as every party here that may see a
/// token (RFC 7662 §4: the resource server `rs` for access tokens, the
/// token's own client for refresh tokens): the first active answer, else
/// `{"active": false}`. Inactive therefore means inactive for everyone
/// entitled to ask, not merely hidden from one of them.
pub async fn introspect(server: &TestServer, token: &str) -> Value {
    introspect_at(&server.base, &server.http, token).await
}

/// The same against the instance serving `base`.
pub async fn introspect_at(base: &str, http: &reqwest::Client, token: &str) -> Value {
    let mut last = Value::Null;
    for (client_id, secret) in [
        (RS, RS_SECRET),
        (JWT_APP, JWT_APP_SECRET),
        (FIRST, FIRST_SECRET),
    ] {
        let response = http
            .post(format!("{base}/introspect"))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspection request");
        assert_eq!(response.status(), StatusCode::OK, "introspection failed");
        last = response.json().await.expect("introspection JSON");
        if last["active"] == true {
            return last;
        }
    }
    last
}

/// POST /introspect as `client_id` (the client a refresh token was issued
/// to is the one that may see it, RFC 7662 §4).
pub async fn introspect_by(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    token: &str,
) -> Value {
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection request");
    assert_eq!(response.status(), StatusCode::OK, "introspection failed");
    response.json().await.expect("introspection JSON")
}

/// Introspection says active, and the response is about this user's token.
pub async fn assert_active(server: &TestServer, token: &str) -> Value {
    let body = introspect(server, token).await;
    assert_eq!(body["active"], true, "expected an active token: {body}");
    body
}

/// RFC 7662 §2.2: an inactive token yields `active: false` and nothing else.
pub async fn assert_inactive(server: &TestServer, token: &str) {
    let body = introspect(server, token).await;
    assert_eq!(
        body,
        serde_json::json!({ "active": false }),
        "expected an inactive token"
    );
}

/// Introspection says inactive, once a revocation made elsewhere (the CLI,
/// another instance) has reached this server's revocation view: polled, with
/// a deadline far above the bound (docs/logout-strategies.md has the
/// measured one).
pub async fn assert_becomes_inactive(server: &TestServer, token: &str) {
    assert_becomes_inactive_at(&server.base, &server.http, token).await
}

/// The same against the instance serving `base`.
pub async fn assert_becomes_inactive_at(base: &str, http: &reqwest::Client, token: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let body = introspect_at(base, http, token).await;
        if body == serde_json::json!({ "active": false }) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the token is still active after 10 s: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An integer claim.
pub fn text_i64(json: &Value, name: &str) -> i64 {
    json[name]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer {name} in {json}"))
}

/// POST /revoke (RFC 7009 §2.1) with HTTP Basic client credentials.
pub async fn revoke(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    token: &str,
    hint: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    server
        .http
        .post(server.url("/revoke"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .expect("revocation request")
}

/// Revoke and expect RFC 7009 §2.2's plain 200.
pub async fn revoke_ok(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    token: &str,
    hint: Option<&str>,
) {
    let response = revoke(server, client_id, secret, token, hint).await;
    assert_eq!(response.status(), StatusCode::OK, "revocation refused");
}

/// Verify a JWT access token the way a resource server does (RFC 9068 §4):
/// `typ` at+jwt, a `kid` published in /jwks, a valid signature. Returns the
/// header and claims; expiry is the caller's business.
pub async fn verify_access_jwt(server: &TestServer, token: &str) -> (Value, Value) {
    let jwks: Value = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .expect("jwks request")
        .json()
        .await
        .expect("jwks JSON");
    let header = josekit::jwt::decode_header(token).expect("a JWS header");
    assert_eq!(header.claim("typ"), Some(&Value::from("at+jwt")));
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .expect("a kid")
        .to_owned();
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .expect("an alg")
        .to_owned();
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} is not published in {jwks}"));
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string()).expect("a JWK");
    let (payload, header) = match alg.as_str() {
        "RS256" => josekit::jws::deserialize_compact(
            token,
            &josekit::jws::RS256
                .verifier_from_jwk(&jwk)
                .expect("RS256 key"),
        ),
        "ES256" => josekit::jws::deserialize_compact(
            token,
            &josekit::jws::ES256
                .verifier_from_jwk(&jwk)
                .expect("ES256 key"),
        ),
        "EdDSA" => josekit::jws::deserialize_compact(
            token,
            &josekit::jws::EdDSA
                .verifier_from_jwk(&jwk)
                .expect("EdDSA key"),
        ),
        other => panic!("unexpected alg {other}"),
    }
    .expect("the signature verifies against the published key");
    let header: Value = serde_json::to_value(header.claims_set()).expect("header JSON");
    let claims: Value = serde_json::from_slice(&payload).expect("claims JSON");
    (header, claims)
}

/// Run the real `signoff` binary against the server's database, as an
/// administrator would from another shell (another process).
pub async fn signoff_cli(server: &TestServer, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"));
    command
        .args(args)
        .env("SIGNOFF_DATABASE_URL", &server.state.config.database_url)
        .env("SIGNOFF_MASTER_KEY", TEST_MASTER_KEY)
        .env("SIGNOFF_LOG", "warn")
        .env_remove("SIGNOFF_CONFIG");
    // Off the runtime's threads: the server under test keeps serving.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the CLI task")
        .expect("run the signoff binary");
    assert!(
        output.status.success(),
        "signoff {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A second instance of the same deployment: same configuration (issuer
/// included) and database, its own connection pool, key store, revocation
/// view and port. It shares the test's clock so that both instances agree
/// on "now" (`second_instance_with_clock` gives it its own).
pub struct Instance {
    pub base: String,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn second_instance(server: &TestServer) -> Instance {
    second_instance_with_clock(server, server.clock.clone()).await
}

pub async fn second_instance_with_clock(
    server: &TestServer,
    clock: signoff::clock::MockClock,
) -> Instance {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = server.state.config.clone();
    let db = signoff::store::connect(&config.database_url)
        .await
        .expect("connect");
    let state = AppState::new(config, db, Arc::new(clock), Arc::new(OsRandom))
        .await
        .expect("second instance state");
    let (tx, rx) = oneshot::channel::<()>();
    let serving = state.clone();
    tokio::spawn(async move {
        let _ = signoff::serve(listener, serving, async {
            let _ = rx.await;
        })
        .await;
    });
    Instance {
        base: format!("http://{addr}"),
        state,
        shutdown: Some(tx),
    }
}
