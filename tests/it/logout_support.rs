//! Shared by the logout tests: a test relying party (a small axum server
//! that receives back-channel logout requests and front-channel loads),
//! logout token validation against the published JWKS, and helpers to sign
//! in to several RPs in one browser session.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::Value;
use signoff::admin::ClientSpec;
use tokio::net::TcpListener;

use crate::common::{
    ALICE, ALICE_PASSWORD, Browser, CHALLENGE, TestServer, auth_url, redeem, token_json,
};

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// One request the relying party received.
#[derive(Debug, Clone)]
pub struct Received {
    pub content_type: String,
    pub body: String,
}

impl Received {
    pub fn logout_token(&self) -> String {
        form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
            .expect("a logout_token parameter")
    }
}

#[derive(Clone, Default)]
struct RpState {
    backchannel: Arc<Mutex<Vec<Received>>>,
    frontchannel: Arc<Mutex<Vec<String>>>,
    status: Arc<AtomicU16>,
}

/// A relying party's logout endpoints on 127.0.0.1.
pub struct TestRp {
    pub addr: SocketAddr,
    state: RpState,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestRp {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind RP");
        Self::serve(listener, RpState::default())
    }

    /// An RP whose address is known but which is not running yet:
    /// connections are refused until `come_up`.
    pub async fn down() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind RP");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        TestRp {
            addr,
            state: RpState::default(),
            server: None,
        }
    }

    pub async fn come_up(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind RP");
        let mut up = Self::serve(listener, self.state.clone());
        self.server = up.server.take();
    }

    fn serve(listener: TcpListener, state: RpState) -> Self {
        let addr = listener.local_addr().expect("addr");
        state
            .status
            .compare_exchange(0, 200, Ordering::SeqCst, Ordering::SeqCst)
            .ok();
        let app = Router::new()
            .route("/backchannel", post(backchannel))
            .route("/frontchannel", get(frontchannel))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestRp {
            addr,
            state,
            server: Some(server),
        }
    }

    /// The HTTP status the back-channel endpoint answers with.
    pub fn answer_with(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.backchannel.lock().unwrap().clone()
    }

    /// Wait (bounded) until `n` back-channel requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the RP at {} received {} back-channel requests, expected {n}",
            self.addr,
            self.received().len()
        );
    }
}

impl Drop for TestRp {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

async fn backchannel(State(s): State<RpState>, headers: HeaderMap, body: String) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let status = StatusCode::from_u16(s.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK);
    if status.is_success() {
        s.backchannel
            .lock()
            .unwrap()
            .push(Received { content_type, body });
    }
    status
}

async fn frontchannel(State(s): State<RpState>, RawQuery(q): RawQuery) -> &'static str {
    s.frontchannel.lock().unwrap().push(q.unwrap_or_default());
    "signed out"
}

/// A confidential client with back-channel (and optionally front-channel)
/// logout at `rp`, and a post-logout redirect URI.
pub fn rp_client(id: &str, rp: &TestRp) -> ClientSpec {
    ClientSpec {
        id: id.into(),
        secret: Some(secret(id)),
        redirect_uris: vec![redirect_uri(id)],
        post_logout_redirect_uris: vec![post_logout_uri(id)],
        backchannel_logout_uri: Some(rp.url("/backchannel")),
        ..ClientSpec::default()
    }
}

pub fn secret(id: &str) -> String {
    format!("{id}-secret-0123456789")
}

pub fn redirect_uri(id: &str) -> String {
    format!("http://127.0.0.1:7100/{id}/callback")
}

pub fn post_logout_uri(id: &str) -> String {
    format!("http://127.0.0.1:7100/{id}/signed-out")
}

/// Sign in to `client_id` in `browser` (SSO when the browser already has a
/// session) and redeem the code: the token response.
pub async fn sign_in(
    server: &TestServer,
    browser: &Browser,
    client_id: &str,
    scope: &str,
) -> Value {
    let url = auth_url(
        server,
        client_id,
        &redirect_uri(client_id),
        scope,
        CHALLENGE,
    );
    let landing = browser.authorize(server, &url, ALICE, ALICE_PASSWORD).await;
    let code = landing
        .param("code")
        .unwrap_or_else(|| panic!("expected a code: {landing:?}"));
    token_json(
        redeem(
            server,
            client_id,
            Some(&secret(client_id)),
            &code,
            &redirect_uri(client_id),
        )
        .await,
    )
    .await
}

/// What `prompt=none` answers for `client_id` in `browser`: the `error`, or
/// "code" when it still finds a session.
pub async fn prompt_none(server: &TestServer, browser: &Browser, client_id: &str) -> String {
    let url = format!(
        "{}&prompt=none",
        auth_url(
            server,
            client_id,
            &redirect_uri(client_id),
            "openid",
            CHALLENGE
        )
    );
    let (_, landing) = browser.go(server, &url).await;
    if landing.param("code").is_some() {
        return "code".into();
    }
    landing
        .param("error")
        .unwrap_or_else(|| panic!("prompt=none gave neither code nor error: {landing:?}"))
}

/// RFC 7662 introspection of `token` by client `client_id`.
pub async fn introspect(server: &TestServer, client_id: &str, token: &str) -> Value {
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(client_id, Some(secret(client_id)))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection");
    assert_eq!(response.status(), 200);
    response.json().await.expect("introspection JSON")
}

pub async fn is_active(server: &TestServer, client_id: &str, token: &str) -> bool {
    introspect(server, client_id, token).await["active"] == Value::Bool(true)
}

/// Verify a logout token's signature against the server's /jwks and check
/// Back-Channel Logout 1.0 §2.4/§2.6: typ, iss, aud, iat/exp, jti, events,
/// sid, no nonce. Returns the claims.
pub async fn validate_logout_token(server: &TestServer, token: &str, client_id: &str) -> Value {
    validate_logout_token_at(&server.base, token, client_id).await
}

/// `validate_logout_token` against the issuer at `base`.
pub async fn validate_logout_token_at(base: &str, token: &str, client_id: &str) -> Value {
    let header = josekit::jwt::decode_header(token).expect("JWS header");
    assert_eq!(
        header.claim("typ").and_then(Value::as_str),
        Some("logout+jwt"),
        "typ"
    );
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .expect("kid")
        .to_owned();
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .expect("alg")
        .to_owned();
    let jwks: Value = crate::common::http_client()
        .get(format!("{base}/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks JSON");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let jwk = Jwk::from_bytes(serde_json::to_vec(jwk).unwrap()).expect("JWK");
    let verifier: Box<dyn JwsVerifier> = match alg.as_str() {
        "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap()),
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap()),
        "EdDSA" => Box::new(josekit::jws::EdDSA.verifier_from_jwk(&jwk).unwrap()),
        other => panic!("unexpected alg {other}"),
    };
    let (payload, _) =
        josekit::jws::deserialize_compact(token, verifier.as_ref()).expect("signature verifies");
    let claims: Value = serde_json::from_slice(&payload).expect("claims");
    assert_eq!(claims["iss"], base, "iss");
    assert_eq!(claims["aud"], client_id, "aud");
    assert!(claims["events"][EVENT].is_object(), "events: {claims}");
    assert!(claims["sid"].is_string(), "sid: {claims}");
    assert!(claims["sub"].is_string(), "sub: {claims}");
    assert!(claims["jti"].is_string(), "jti: {claims}");
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce");
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(exp > iat, "exp after iat");
    claims
}

/// Start a logout for `browser` and follow it: the final URL or page.
pub async fn end_session(
    server: &TestServer,
    browser: &Browser,
    params: &[(&str, &str)],
) -> (url::Url, crate::common::Landing) {
    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    browser.go(server, url.as_str()).await
}
