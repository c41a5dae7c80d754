//! Push delivery (RFC 8935): a receiver that is down while revocations
//! happen gets every SET once it is back, in log order, each accepted once;
//! the receiver's authorization_header is sent and never stored in plain.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::common::*;
use crate::ssf_support::*;

const RECEIVER_AUTH: &str = "Bearer push-receiver-secret-42";

#[derive(Clone, Default)]
struct Receiver {
    /// The status it answers with.
    status: Arc<AtomicU16>,
    /// SETs it accepted (answered 202), with their content type.
    accepted: Arc<Mutex<Vec<(String, String)>>>,
    refused: Arc<Mutex<usize>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let status = StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap();
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v == RECEIVER_AUTH);
    if !authorized {
        return StatusCode::UNAUTHORIZED;
    }
    if status == StatusCode::ACCEPTED {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        r.accepted
            .lock()
            .unwrap()
            .push((content_type, String::from_utf8_lossy(&body).into_owned()));
    } else {
        *r.refused.lock().unwrap() += 1;
    }
    status
}

async fn start_receiver() -> (Receiver, String) {
    let r = Receiver::default();
    r.status.store(503, Ordering::SeqCst);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/events", post(receive))
        .with_state(r.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (r, format!("http://{addr}/events"))
}

#[tokio::test]
async fn a_push_receiver_that_was_down_gets_everything_in_order_once() {
    let server = TestServer::with(|c| c.ssf.push_allow_private = true).await;
    add_receivers(&server).await;
    let (receiver, url) = start_receiver().await;
    let token = receiver_token(&server, RS).await;
    let response = create_stream(
        &server,
        &token,
        &json!({
            "delivery": { "method": PUSH, "endpoint_url": url, "authorization_header": RECEIVER_AUTH },
            "events_requested": [TOKENS_REVOKED],
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let stream: Value = response.json().await.unwrap();
    assert!(stream["delivery"].get("authorization_header").is_none());
    let id = stream["stream_id"].as_str().unwrap();
    let row = signoff::store::ssf_streams::find(&server.state.db, id)
        .await
        .unwrap()
        .unwrap();
    let sealed = row.authorization_header.expect("stored sealed");
    assert!(!sealed.contains("push-receiver-secret"));

    // Down: three revocations happen.
    let mut versions = Vec::new();
    for _ in 0..3 {
        versions.push(server.logout_everywhere(ALICE).await.version);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while *receiver.refused.lock().unwrap() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no push attempted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Up again: the retry (on the server's clock) delivers everything.
    receiver.status.store(202, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got: Vec<i64> = receiver
            .accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, set)| {
                verified_set(&server, set)["events"][TOKENS_REVOKED]["version"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        if got.len() >= versions.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {got:?} of {versions:?} delivered"
        );
        server.clock.advance(1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more comes: every accepted SET was acknowledged.
    server.logout_everywhere(ALICE).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.accepted.lock().unwrap().len() < versions.len() + 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fourth SET never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let accepted = receiver.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), versions.len() + 1, "no duplicates");
    let claims: Vec<Value> = accepted
        .iter()
        .map(|(_, s)| verified_set(&server, s))
        .collect();
    for (content_type, _) in &accepted {
        assert_eq!(content_type, "application/secevent+jwt");
    }
    let txns: Vec<i64> = claims
        .iter()
        .map(|c| c["txn"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        txns.windows(2).all(|w| w[0] < w[1]),
        "in log order: {txns:?}"
    );
    let got: Vec<i64> = claims
        .iter()
        .take(versions.len())
        .map(|c| c["events"][TOKENS_REVOKED]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(got, versions);
    for c in &claims {
        assert_eq!(c["aud"], RS);
    }
}

/// RFC 8935 §2.3: only a 400 refuses a SET. A receiver answering 401 (its
/// credentials expired) or 404 (its endpoint moved) has said nothing about
/// the SET: it is kept and pushed again once the receiver is fixed.
#[tokio::test]
async fn a_push_receiver_answering_401_or_404_loses_nothing() {
    for status in [401u16, 404] {
        let server = TestServer::with(|c| c.ssf.push_allow_private = true).await;
        add_receivers(&server).await;
        let (receiver, url) = start_receiver().await;
        receiver.status.store(status, Ordering::SeqCst);
        let token = receiver_token(&server, RS).await;
        let response = create_stream(
            &server,
            &token,
            &json!({
                "delivery": { "method": PUSH, "endpoint_url": url, "authorization_header": RECEIVER_AUTH },
                "events_requested": [TOKENS_REVOKED],
            }),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let version = server.logout_everywhere(ALICE).await.version;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while *receiver.refused.lock().unwrap() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no push attempted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        receiver.status.store(202, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while receiver.accepted.lock().unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the SET refused with {status} was never pushed again"
            );
            server.clock.advance(1);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let accepted = receiver.accepted.lock().unwrap().clone();
        let claims = verified_set(&server, &accepted[0].1);
        assert_eq!(claims["events"][TOKENS_REVOKED]["version"], version);
    }
}
