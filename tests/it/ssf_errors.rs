//! Every request the transmitter refuses, with the status SSF 1.0 §8.1
//! names for it, and no change made: no token, a token in the query, a
//! read-only token managing, a token without an ssf scope, an unknown or another
//! receiver's stream, broken input, one stream too many, an SSRF target.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::ssf_support::*;

async fn setup() -> (TestServer, String, Value) {
    let server = TestServer::with(|c| c.ssf.max_streams_per_client = 2).await;
    add_receivers(&server).await;
    let token = receiver_token(&server, RS).await;
    let stream = poll_stream(&server, &token).await;
    (server, token, stream)
}

async fn streams_of(server: &TestServer, token: &str) -> usize {
    let list: Value = server
        .http
        .get(server.url("/ssf/streams"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array().expect("a list").len()
}

#[tokio::test]
async fn a_request_without_a_token_gets_401_with_a_bearer_challenge() {
    let (server, token, stream) = setup().await;
    let response = server
        .http
        .post(server.url("/ssf/streams"))
        .json(&json!({ "delivery": { "method": POLL } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let endpoint = stream["delivery"]["endpoint_url"].as_str().unwrap();
    let poll = server
        .http
        .post(endpoint)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status(), StatusCode::UNAUTHORIZED);
    let bad = server
        .http
        .get(server.url("/ssf/streams"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(streams_of(&server, &token).await, 1);
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused_even_with_a_header() {
    let (server, token, _) = setup().await;
    let response = server
        .http
        .post(server.url("/ssf/streams"))
        .query(&[("access_token", token.as_str())])
        .bearer_auth(&token)
        .json(&json!({ "delivery": { "method": POLL } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(streams_of(&server, &token).await, 1);
}

#[tokio::test]
async fn a_read_only_token_cannot_create_a_stream_but_can_list() {
    let (server, token, _) = setup().await;
    let reader = receiver_token(&server, READER).await;
    let response =
        create_stream(&server, &reader, &json!({ "delivery": { "method": POLL } })).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(streams_of(&server, &reader).await, 0);
    assert_eq!(streams_of(&server, &token).await, 1);
}

#[tokio::test]
async fn a_token_without_an_ssf_scope_cannot_manage_streams() {
    let (server, token, _) = setup().await;
    // The standard service client holds no ssf scope.
    let service = service_token(&server).await;
    let response = create_stream(
        &server,
        service["access_token"].as_str().unwrap(),
        &json!({ "delivery": { "method": POLL } }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(streams_of(&server, &token).await, 1);
}

#[tokio::test]
async fn unknown_and_other_receivers_streams_are_404_everywhere() {
    let (server, token, stream) = setup().await;
    let id = stream["stream_id"].as_str().unwrap();
    let other = receiver_token(&server, OTHER).await;
    for (who, stream_id) in [(&token, "no-such-stream"), (&other, id)] {
        let read = server
            .http
            .get(server.url("/ssf/streams"))
            .query(&[("stream_id", stream_id)])
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), StatusCode::NOT_FOUND);
        let delete = server
            .http
            .delete(server.url("/ssf/streams"))
            .query(&[("stream_id", stream_id)])
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(delete.status(), StatusCode::NOT_FOUND);
        let patch = server
            .http
            .patch(server.url("/ssf/streams"))
            .bearer_auth(who)
            .json(&json!({ "stream_id": stream_id, "description": "x" }))
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), StatusCode::NOT_FOUND);
        let status = server
            .http
            .post(server.url("/ssf/status"))
            .bearer_auth(who)
            .json(&json!({ "stream_id": stream_id, "status": "disabled" }))
            .send()
            .await
            .unwrap();
        assert_eq!(status.status(), StatusCode::NOT_FOUND);
        let verify = server
            .http
            .post(server.url("/ssf/verify"))
            .bearer_auth(who)
            .json(&json!({ "stream_id": stream_id }))
            .send()
            .await
            .unwrap();
        assert_eq!(verify.status(), StatusCode::NOT_FOUND);
        let poll = server
            .http
            .post(server.url(&format!("/ssf/poll/{stream_id}")))
            .bearer_auth(who)
            .json(&json!({ "returnImmediately": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(poll.status(), StatusCode::NOT_FOUND);
    }
    // The other receiver sees none of RS's streams, and RS's is untouched.
    assert_eq!(streams_of(&server, &other).await, 0);
    assert_eq!(streams_of(&server, &token).await, 1);
}

#[tokio::test]
async fn broken_input_gets_400() {
    let (server, token, stream) = setup().await;
    let id = stream["stream_id"].as_str().unwrap();
    let send = |method: reqwest::Method, path: &str, body: &'static str| {
        server
            .http
            .request(method, server.url(path))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (method, path, body) in [
        (reqwest::Method::POST, "/ssf/streams", "{not json"),
        (reqwest::Method::POST, "/ssf/streams", "[1, 2]"),
        (
            reqwest::Method::POST,
            "/ssf/streams",
            r#"{"delivery": {"method": "urn:example:fax"}}"#,
        ),
        (
            reqwest::Method::POST,
            "/ssf/streams",
            r#"{"delivery": {"method": "urn:ietf:rfc:8935"}}"#,
        ),
        (
            reqwest::Method::POST,
            "/ssf/streams",
            r#"{"events_requested": "all"}"#,
        ),
        (
            reqwest::Method::PATCH,
            "/ssf/streams",
            r#"{"description": "no stream id"}"#,
        ),
        (
            reqwest::Method::POST,
            "/ssf/status",
            r#"{"status": "enabled"}"#,
        ),
        (reqwest::Method::POST, "/ssf/verify", "{"),
    ] {
        let response = send(method.clone(), path, body).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}"
        );
    }
    let bad_status = server
        .http
        .post(server.url("/ssf/status"))
        .bearer_auth(&token)
        .json(&json!({ "stream_id": id, "status": "sleeping" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_status.status(), StatusCode::BAD_REQUEST);
    let endpoint = stream["delivery"]["endpoint_url"].as_str().unwrap();
    let bad_poll = server
        .http
        .post(endpoint)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"ack": "not-a-list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_poll.status(), StatusCode::BAD_REQUEST);
    assert_eq!(streams_of(&server, &token).await, 1);
}

#[tokio::test]
async fn one_stream_more_than_allowed_gets_409() {
    let (server, token, _) = setup().await;
    poll_stream(&server, &token).await;
    let response = create_stream(&server, &token, &json!({ "delivery": { "method": POLL } })).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(streams_of(&server, &token).await, 2);
}

#[tokio::test]
async fn push_endpoints_on_private_or_plain_http_addresses_are_refused() {
    let (server, token, _) = setup().await;
    for url in [
        "http://127.0.0.1:9/events",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/events",
        "http://rs.example/events",
    ] {
        let response = create_stream(
            &server,
            &token,
            &json!({ "delivery": { "method": PUSH, "endpoint_url": url } }),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
    }
    assert_eq!(streams_of(&server, &token).await, 1);
}

/// RFC 9449 §7.2: a DPoP-bound token is not a bearer token; the feed takes
/// bearer tokens only, so a copy of a bound token is refused.
#[tokio::test]
async fn a_dpop_bound_token_is_refused_as_a_bearer_token() {
    let (server, _, _) = setup().await;
    let device = crate::dpop_support::Device::new();
    let proof = device.proof(&server, "POST", "/token");
    let response = crate::dpop_support::token_with_proof(
        &server,
        Some((RS, &secret(RS))),
        &[("grant_type", "client_credentials")],
        Some(&proof),
    )
    .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let bound = body["access_token"].as_str().unwrap();
    let read = server
        .http
        .get(server.url("/ssf/streams"))
        .bearer_auth(bound)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
}

/// A client registered again under a removed receiver's id starts with no
/// streams: the removed one's feed (its cursor, its push credentials) went
/// with it.
#[tokio::test]
async fn a_receiver_registered_again_under_a_removed_id_has_no_streams() {
    let (server, token, _) = setup().await;
    assert_eq!(streams_of(&server, &token).await, 1);
    assert!(
        signoff::revocation::remove_client(&server.state.revoker(), RS)
            .await
            .expect("remove")
    );
    server
        .add_client(signoff::admin::ClientSpec {
            id: RS.into(),
            secret: Some(secret(RS)),
            scopes: vec!["ssf.manage".into(), "ssf.read".into()],
            grant_types: vec!["client_credentials".into()],
            ..signoff::admin::ClientSpec::default()
        })
        .await;
    let token = receiver_token(&server, RS).await;
    assert_eq!(streams_of(&server, &token).await, 0);
}
