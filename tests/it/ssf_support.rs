//! Fixtures of the Shared Signals tests (ssf.rs, ssf_push.rs): receivers
//! registered as client_credentials clients, their streams, long polls, and
//! SETs checked against the published keys.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff::admin::ClientSpec;

use crate::common::*;

/// A receiver that manages its streams.
pub const RS: &str = "rs-feed";
/// A receiver whose token may only read (`ssf.read`).
pub const READER: &str = "rs-reader";
/// Another receiver, which must never see RS's streams.
pub const OTHER: &str = "rs-other";
pub const POLL: &str = "urn:ietf:rfc:8936";
pub const PUSH: &str = "urn:ietf:rfc:8935";
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const TOKENS_REVOKED: &str = "urn:signoff:secevent:tokens-revoked";
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

pub fn secret(id: &str) -> String {
    format!("{id}-secret-0123456789")
}

/// Register the three receivers on `server`.
pub async fn add_receivers(server: &TestServer) {
    for (id, scopes) in [
        (RS, vec!["ssf.manage", "ssf.read"]),
        (READER, vec!["ssf.read"]),
        (OTHER, vec!["ssf.manage"]),
    ] {
        server
            .add_client(ClientSpec {
                id: id.into(),
                secret: Some(secret(id)),
                scopes: scopes.into_iter().map(Into::into).collect(),
                grant_types: vec!["client_credentials".into()],
                ..ClientSpec::default()
            })
            .await;
    }
}

/// A client_credentials access token of receiver `id`.
pub async fn receiver_token(server: &TestServer, id: &str) -> String {
    let body = token_json(
        server
            .token_request(id, &secret(id), &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The transmitter metadata.
pub async fn metadata(server: &TestServer) -> Value {
    let response = server
        .http
        .get(server.url("/.well-known/ssf-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// POST a stream configuration; the response.
pub async fn create_stream(server: &TestServer, token: &str, config: &Value) -> reqwest::Response {
    let endpoint = metadata(server).await["configuration_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .http
        .post(endpoint)
        .bearer_auth(token)
        .json(config)
        .send()
        .await
        .unwrap()
}

/// A poll stream of RS asking for every event type; its configuration.
pub async fn poll_stream(server: &TestServer, token: &str) -> Value {
    let response = create_stream(
        server,
        token,
        &json!({ "delivery": { "method": POLL }, "description": "test receiver" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// One RFC 8936 poll of `stream`: the response body.
pub async fn poll(server: &TestServer, token: &str, stream: &Value, body: &Value) -> Value {
    let endpoint = stream["delivery"]["endpoint_url"].as_str().unwrap();
    let response = server
        .http
        .post(endpoint)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Poll with `returnImmediately` and acknowledge until nothing is left:
/// every SET's verified claims, in delivery order.
pub async fn drain(server: &TestServer, token: &str, stream: &Value) -> Vec<Value> {
    let mut all = Vec::new();
    let mut ack: Vec<String> = Vec::new();
    loop {
        let body = poll(
            server,
            token,
            stream,
            &json!({ "ack": ack, "returnImmediately": true }),
        )
        .await;
        let sets = body["sets"].as_object().expect("sets").clone();
        ack = sets.keys().cloned().collect();
        for (jti, set) in &sets {
            let claims = verified_set(server, set.as_str().unwrap());
            assert_eq!(claims["jti"], jti.as_str());
            all.push(claims);
        }
        if sets.is_empty() {
            return all;
        }
    }
}

/// Long-poll (acknowledging what arrives) until a SET of `event_type`
/// satisfying `wanted` arrives; its claims. Panics after 20 s.
pub async fn await_set(
    server: &TestServer,
    token: &str,
    stream: &Value,
    event_type: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut ack: Vec<String> = Vec::new();
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {event_type} arrived"
        );
        let body = poll(
            server,
            token,
            stream,
            &json!({ "ack": ack, "returnImmediately": false, "maxEvents": 50 }),
        )
        .await;
        let sets = body["sets"].as_object().expect("sets").clone();
        ack = sets.keys().cloned().collect();
        for set in sets.values() {
            let claims = verified_set(server, set.as_str().unwrap());
            if claims["events"].get(event_type).is_some() && wanted(&claims) {
                return claims;
            }
        }
    }
}

/// RFC 8417 as SSF 1.0 §4 profiles it: `typ: secevent+jwt`, signed by a
/// published key, `iss`, `iat`, `jti`, `sub_id`, exactly one event, no
/// `sub` and no `exp`. The claims.
pub fn verified_set(server: &TestServer, set: &str) -> Value {
    let header = josekit::jwt::decode_header(set).expect("JWS header");
    assert_eq!(
        header.claim("typ").and_then(Value::as_str),
        Some("secevent+jwt")
    );
    assert_eq!(header.claim("alg").and_then(Value::as_str), Some("RS256"));
    let kid = header.claim("kid").and_then(Value::as_str).expect("kid");
    let key = server.state.keys.by_kid(kid).expect("a published key");
    let (payload, _) =
        josekit::jws::deserialize_compact(set, key.verifier()).expect("a valid signature");
    let claims: Value = serde_json::from_slice(&payload).expect("JSON claims");
    assert_eq!(claims["iss"], server.base.as_str());
    assert!(claims["iat"].is_i64());
    assert!(claims["jti"].is_string());
    assert!(claims["sub_id"].is_object(), "sub_id: {claims}");
    assert!(claims.get("sub").is_none() && claims.get("exp").is_none());
    assert_eq!(claims["events"].as_object().expect("events").len(), 1);
    claims
}

/// The sid of an ID token.
pub fn sid_of(tokens: &Value) -> String {
    jwt_claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .expect("sid")
        .to_owned()
}

/// Whether a session-revoked SET is about session `sid`.
pub fn about_session(sid: &str) -> impl Fn(&Value) -> bool + '_ {
    move |claims| claims["sub_id"]["session"]["id"] == sid
}
