//! Subjects of a Shared Signals stream (SSF 1.0 §8.1.3) over HTTP: the add
//! and remove subject endpoints, `default_subjects` ALL and NONE, which
//! SETs a stream then gets (verification always), the errors §8.1.3.2
//! lists, and two bounds of the poll endpoint: a read-only token cannot
//! acknowledge, a receiver cannot hold more than its share of long polls.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff::config::DefaultSubjects;

use crate::common::*;
use crate::ssf_support::*;

const BOB: &str = "bob";

/// A server whose streams cover `default` subjects, with the receivers and
/// a second user, bob.
async fn setup(default: DefaultSubjects, max_subjects: u64) -> TestServer {
    let server = TestServer::with(|c| {
        c.ssf.default_subjects = default;
        c.ssf.max_subjects_per_stream = max_subjects;
        c.ssf.long_poll_timeout = Duration::from_secs(5);
        c.ssf.max_long_polls_per_client = 1;
    })
    .await;
    add_receivers(&server).await;
    server.add_user(BOB, "bob's long enough password").await;
    server
}

/// POST `body` to the add (`add`) or remove subject endpoint.
async fn subject_call(
    server: &TestServer,
    token: Option<&str>,
    add: bool,
    body: &Value,
) -> StatusCode {
    let meta = metadata(server).await;
    let field = if add {
        "add_subject_endpoint"
    } else {
        "remove_subject_endpoint"
    };
    let endpoint = meta[field].as_str().expect(field).to_owned();
    let mut request = server.http.post(endpoint).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status()
}

fn iss_sub(server: &TestServer, sub: &str) -> Value {
    json!({ "format": "iss_sub", "iss": server.base.as_str(), "sub": sub })
}

/// Long-poll and acknowledge until a SET satisfying `last` arrives; every
/// SET's claims up to it.
async fn collect_until(
    server: &TestServer,
    token: &str,
    stream: &Value,
    last: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut ack: Vec<String> = Vec::new();
    let mut all = Vec::new();
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the awaited SET never arrived; got {all:?}"
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
        let mut done = false;
        for set in sets.values() {
            let claims = verified_set(server, set.as_str().unwrap());
            done |= last(&claims);
            all.push(claims);
        }
        if done {
            return all;
        }
    }
}

/// The user `sub` a SET is about, if any.
fn user_of(claims: &Value) -> Option<String> {
    let sub_id = &claims["sub_id"];
    sub_id["sub"]
        .as_str()
        .or_else(|| sub_id["user"]["sub"].as_str())
        .map(str::to_owned)
}

#[tokio::test]
async fn the_metadata_advertises_the_subject_endpoints_and_the_configured_default_subjects() {
    let server = setup(DefaultSubjects::None, 100).await;
    let meta = metadata(&server).await;
    assert_eq!(meta["default_subjects"], "NONE");
    assert_eq!(
        meta["add_subject_endpoint"],
        server.url("/ssf/subjects/add")
    );
    assert_eq!(
        meta["remove_subject_endpoint"],
        server.url("/ssf/subjects/remove")
    );
}

#[tokio::test]
async fn with_default_subjects_none_a_stream_gets_only_the_events_of_the_user_it_added() {
    let server = setup(DefaultSubjects::None, 100).await;
    let token = receiver_token(&server, RS).await;
    let stream = poll_stream(&server, &token).await;
    drain(&server, &token, &stream).await;
    let alice = server.user_id(ALICE).await;
    let bob = server.user_id(BOB).await;
    let body = json!({ "stream_id": stream["stream_id"], "subject": iss_sub(&server, &alice) });
    assert_eq!(
        subject_call(&server, Some(&token), true, &body).await,
        StatusCode::OK
    );
    // Bob's revocation is logged first: were it delivered, it would come
    // before alice's.
    server.logout_everywhere(BOB).await;
    server.logout_everywhere(ALICE).await;
    let got = collect_until(&server, &token, &stream, |c| {
        user_of(c).as_deref() == Some(alice.as_str())
    })
    .await;
    assert!(
        got.iter()
            .all(|c| user_of(c).as_deref() != Some(bob.as_str())),
        "a SET about bob reached a stream that covers alice only: {got:?}"
    );
}

#[tokio::test]
async fn with_default_subjects_all_a_removed_user_gets_no_events_but_verification_still_arrives() {
    let server = setup(DefaultSubjects::All, 100).await;
    let token = receiver_token(&server, RS).await;
    let stream = poll_stream(&server, &token).await;
    drain(&server, &token, &stream).await;
    let alice = server.user_id(ALICE).await;
    let bob = server.user_id(BOB).await;
    // Removed as an opaque identifier: alice's sub.
    let body = json!({
        "stream_id": stream["stream_id"],
        "subject": { "format": "opaque", "id": alice },
    });
    assert_eq!(
        subject_call(&server, Some(&token), false, &body).await,
        StatusCode::NO_CONTENT
    );
    server.logout_everywhere(ALICE).await;
    server.logout_everywhere(BOB).await;
    let got = collect_until(&server, &token, &stream, |c| {
        user_of(c).as_deref() == Some(bob.as_str())
    })
    .await;
    assert!(
        got.iter()
            .all(|c| user_of(c).as_deref() != Some(alice.as_str())),
        "a SET about removed alice was delivered: {got:?}"
    );
    // SSF 1.0 §8.1.4: verification is about the stream, never filtered.
    let verify = server
        .http
        .post(server.url("/ssf/verify"))
        .bearer_auth(&token)
        .json(&json!({ "stream_id": stream["stream_id"], "state": "s-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), StatusCode::NO_CONTENT);
    let claims = await_set(&server, &token, &stream, VERIFICATION, |_| true).await;
    assert_eq!(claims["events"][VERIFICATION]["state"], "s-1");
}

#[tokio::test]
async fn adding_a_subject_by_email_covers_the_user_with_that_email() {
    let server = setup(DefaultSubjects::None, 100).await;
    let token = receiver_token(&server, RS).await;
    let stream = poll_stream(&server, &token).await;
    drain(&server, &token, &stream).await;
    let bob = server.user_id(BOB).await;
    let body = json!({
        "stream_id": stream["stream_id"],
        "subject": { "format": "email", "email": "Bob@Example.com" },
        "verified": true,
    });
    assert_eq!(
        subject_call(&server, Some(&token), true, &body).await,
        StatusCode::OK
    );
    server.logout_everywhere(ALICE).await;
    server.logout_everywhere(BOB).await;
    let got = collect_until(&server, &token, &stream, |c| {
        user_of(c).as_deref() == Some(bob.as_str())
    })
    .await;
    let alice = server.user_id(ALICE).await;
    assert!(
        got.iter()
            .all(|c| user_of(c).as_deref() != Some(alice.as_str()))
    );
}

#[tokio::test]
async fn subject_requests_are_refused_with_the_statuses_ssf_8_1_3_lists() {
    let server = setup(DefaultSubjects::None, 2).await;
    let token = receiver_token(&server, RS).await;
    let other = receiver_token(&server, OTHER).await;
    let reader = receiver_token(&server, READER).await;
    let stream = poll_stream(&server, &token).await;
    let id = stream["stream_id"].clone();
    let good = |sub: &str| json!({ "stream_id": id, "subject": iss_sub(&server, sub) });
    let cases: Vec<(Option<&str>, Value, StatusCode)> = vec![
        (None, good("u1"), StatusCode::UNAUTHORIZED),
        (Some(&reader), good("u1"), StatusCode::FORBIDDEN),
        // Another receiver's stream is as unknown as a missing one.
        (Some(&other), good("u1"), StatusCode::NOT_FOUND),
        (
            Some(&token),
            json!({ "stream_id": "no-such-stream", "subject": iss_sub(&server, "u1") }),
            StatusCode::NOT_FOUND,
        ),
        (
            Some(&token),
            json!({ "stream_id": id }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(&token),
            json!({ "stream_id": id, "subject": { "format": "phone_number", "phone_number": "+1555" } }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(&token),
            json!({ "stream_id": id, "subject": { "format": "iss_sub", "iss": "https://elsewhere.example", "sub": "u1" } }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(&token),
            json!({ "stream_id": id, "subject": { "format": "opaque", "id": "x".repeat(300) } }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(&token),
            json!({ "stream_id": id, "subject": iss_sub(&server, "u1"), "verified": "yes" }),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (token, body, status) in cases {
        assert_eq!(
            subject_call(&server, token, true, &body).await,
            status,
            "{body}"
        );
        assert_eq!(
            subject_call(&server, token, false, &body).await,
            if status == StatusCode::OK {
                StatusCode::NO_CONTENT
            } else {
                status
            },
            "{body}"
        );
    }
    // ssf.max_subjects_per_stream = 2: a third subject is refused; adding
    // one already there again is not a new one.
    for sub in ["u1", "u2", "u2"] {
        assert_eq!(
            subject_call(&server, Some(&token), true, &good(sub)).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        subject_call(&server, Some(&token), true, &good("u3")).await,
        StatusCode::BAD_REQUEST
    );
    // Removing one makes room again.
    assert_eq!(
        subject_call(&server, Some(&token), false, &good("u1")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        subject_call(&server, Some(&token), true, &good("u3")).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_read_only_token_can_poll_but_cannot_acknowledge() {
    let server = setup(DefaultSubjects::All, 100).await;
    let token = receiver_token(&server, RS).await;
    let stream = poll_stream(&server, &token).await;
    let read_only = token_json(
        server
            .token_request(
                RS,
                &secret(RS),
                &[("grant_type", "client_credentials"), ("scope", "ssf.read")],
            )
            .await,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let endpoint = stream["delivery"]["endpoint_url"].as_str().unwrap();
    let send = |body: Value| {
        server
            .http
            .post(endpoint)
            .bearer_auth(&read_only)
            .json(&body)
            .send()
    };
    let peek = send(json!({ "returnImmediately": true })).await.unwrap();
    assert_eq!(peek.status(), StatusCode::OK);
    let ack = send(json!({ "returnImmediately": true, "ack": [format!("{}.1.0", stream["stream_id"].as_str().unwrap())] }))
        .await
        .unwrap();
    assert_eq!(ack.status(), StatusCode::FORBIDDEN);
    let errs =
        send(json!({ "returnImmediately": true, "setErrs": { "x": { "err": "invalid_key" } } }))
            .await
            .unwrap();
    assert_eq!(errs.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_receiver_holding_its_most_long_polls_gets_429_for_one_more() {
    // ssf.max_long_polls_per_client = 1.
    let server = setup(DefaultSubjects::All, 100).await;
    let token = receiver_token(&server, RS).await;
    let stream = poll_stream(&server, &token).await;
    drain(&server, &token, &stream).await;
    let endpoint = stream["delivery"]["endpoint_url"].as_str().unwrap();
    let long_poll = || {
        server
            .http
            .post(endpoint)
            .bearer_auth(&token)
            .json(&json!({ "returnImmediately": false }))
            .send()
    };
    // Both are held until the 5 s timeout unless refused: one must be.
    let (a, b) = tokio::join!(long_poll(), long_poll());
    let mut statuses = [a.unwrap().status(), b.unwrap().status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
}
