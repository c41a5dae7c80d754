//! The Shared Signals transmitter (SSF 1.0, RFC 8936 poll with long
//! polling) over HTTP: discovery, streams made with a client_credentials
//! token, the SETs every way a session ends produces, acknowledgements, a
//! restart, and every refused request with its status.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff::admin::ClientSpec;

use crate::common::*;
use crate::lifecycle::second_instance;
use crate::logout_support::{end_session, post_logout_uri, redirect_uri, sign_in};
use crate::ssf_support::*;

/// A server with the receivers, a first-party relying party "rp" the tests
/// sign in to, and sessions swept often.
async fn setup() -> TestServer {
    let server = TestServer::with(|c| {
        c.revocation.session_sweep_interval = Duration::from_millis(100);
        c.sessions.idle_ttl = Duration::from_secs(3600);
        c.ssf.long_poll_timeout = Duration::from_secs(5);
    })
    .await;
    add_receivers(&server).await;
    server
        .add_client(ClientSpec {
            id: "rp".into(),
            secret: Some(crate::logout_support::secret("rp")),
            redirect_uris: vec![redirect_uri("rp")],
            post_logout_redirect_uris: vec![post_logout_uri("rp")],
            first_party: true,
            ..ClientSpec::default()
        })
        .await;
    server
}

/// A stream of RS with nothing left to deliver.
async fn drained_stream(server: &TestServer) -> (String, Value) {
    let token = receiver_token(server, RS).await;
    let stream = poll_stream(server, &token).await;
    drain(server, &token, &stream).await;
    (token, stream)
}

#[tokio::test]
async fn the_transmitter_metadata_names_working_endpoints_only() {
    let server = setup().await;
    let meta = metadata(&server).await;
    assert_eq!(meta["spec_version"], "1_0");
    assert_eq!(meta["issuer"], server.base.as_str());
    assert_eq!(meta["jwks_uri"], server.url("/jwks"));
    assert_eq!(meta["configuration_endpoint"], server.url("/ssf/streams"));
    assert_eq!(meta["status_endpoint"], server.url("/ssf/status"));
    assert_eq!(meta["verification_endpoint"], server.url("/ssf/verify"));
    assert_eq!(meta["delivery_methods_supported"], json!([PUSH, POLL]));
    assert_eq!(meta["default_subjects"], "ALL");
    assert_eq!(
        meta["authorization_schemes"],
        json!([{ "spec_urn": "urn:ietf:rfc:6749" }])
    );
    // SSF 1.0 §8.1.3: subjects can be added and removed.
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
async fn an_issuer_with_a_path_serves_the_metadata_at_the_rfc_8615_location() {
    let server = TestServer::with(|c| {
        let base = c.issuer.as_str().trim_end_matches('/').to_owned();
        c.issuer = url::Url::parse(&format!("{base}/auth")).unwrap();
    })
    .await;
    let response = server
        .http
        .get(server.url("/.well-known/ssf-configuration/auth"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let meta: Value = response.json().await.unwrap();
    assert_eq!(meta["issuer"], server.url("/auth"));
    assert_eq!(
        meta["configuration_endpoint"],
        server.url("/auth/ssf/streams")
    );
}

#[tokio::test]
async fn a_created_stream_is_configured_by_the_transmitter_and_readable() {
    let server = setup().await;
    let token = receiver_token(&server, RS).await;
    let response = create_stream(
        &server,
        &token,
        &json!({
            "delivery": { "method": POLL },
            "events_requested": [SESSION_REVOKED, "urn:example:unknown"],
            // Transmitter-supplied: ignored.
            "iss": "https://evil.example",
            "aud": "someone-else",
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let stream: Value = response.json().await.unwrap();
    let id = stream["stream_id"].as_str().unwrap();
    assert_eq!(stream["iss"], server.base.as_str());
    assert_eq!(stream["aud"], RS);
    assert_eq!(stream["events_delivered"], json!([SESSION_REVOKED]));
    assert_eq!(
        stream["delivery"]["endpoint_url"],
        server.url(&format!("/ssf/poll/{id}"))
    );
    let read: Value = server
        .http
        .get(server.url("/ssf/streams"))
        .query(&[("stream_id", id)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, stream);
    // PATCH changes what it names; PUT replaces the rest.
    let patched: Value = server
        .http
        .patch(server.url("/ssf/streams"))
        .bearer_auth(&token)
        .json(&json!({ "stream_id": id, "description": "patched" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["description"], "patched");
    assert_eq!(patched["events_delivered"], json!([SESSION_REVOKED]));
    let replaced: Value = server
        .http
        .put(server.url("/ssf/streams"))
        .bearer_auth(&token)
        .json(&json!({ "stream_id": id, "delivery": { "method": POLL }, "events_requested": [ACCOUNT_DISABLED] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(replaced.get("description").is_none());
    assert_eq!(replaced["events_delivered"], json!([ACCOUNT_DISABLED]));
    let deleted = server
        .http
        .delete(server.url("/ssf/streams"))
        .query(&[("stream_id", id)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = server
        .http
        .get(server.url("/ssf/streams"))
        .query(&[("stream_id", id)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_long_poll_receives_session_revoked_for_an_rp_initiated_logout() {
    let server = setup().await;
    let (token, stream) = drained_stream(&server).await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "rp", "openid").await;
    let sid = sid_of(&tokens);
    // The poll is held before the logout happens.
    let waiting = {
        let base_token = token.clone();
        let stream = stream.clone();
        let http = server.http.clone();
        tokio::spawn(async move {
            let endpoint = stream["delivery"]["endpoint_url"]
                .as_str()
                .unwrap()
                .to_owned();
            http.post(endpoint)
                .bearer_auth(base_token)
                .json(&json!({ "returnImmediately": false }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let (_, landing) = end_session(
        &server,
        &browser,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", &post_logout_uri("rp")),
        ],
    )
    .await;
    landing.redirect();
    let body = waiting.await.unwrap();
    let sets = body["sets"].as_object().expect("sets");
    let claims: Vec<Value> = sets
        .values()
        .map(|s| verified_set(&server, s.as_str().unwrap()))
        .collect();
    // The held poll normally returns with the event; on a loaded machine the
    // logout may take longer than the hold, and then the event is read by
    // the following polls (nothing was acknowledged).
    let revoked = match claims
        .iter()
        .find(|c| c["events"].get(SESSION_REVOKED).is_some())
    {
        Some(found) => found.clone(),
        None => {
            await_set(&server, &token, &stream, SESSION_REVOKED, |c| {
                c["sub_id"]["session"]["id"] == sid.as_str()
            })
            .await
        }
    };
    assert_eq!(revoked["aud"], RS);
    assert_eq!(revoked["sub_id"]["format"], "complex");
    assert_eq!(revoked["sub_id"]["session"]["id"], sid.as_str());
    assert_eq!(revoked["sub_id"]["user"]["format"], "iss_sub");
    assert_eq!(
        revoked["sub_id"]["user"]["sub"],
        server.user_id(ALICE).await.as_str()
    );
    let event = &revoked["events"][SESSION_REVOKED];
    assert_eq!(event["initiating_entity"], "user");
    assert_eq!(event["reason_admin"]["en"], "rp_initiated");
    assert!(event["event_timestamp"].is_i64());
}

#[tokio::test]
async fn logging_out_everywhere_reaches_a_long_polling_receiver() {
    let server = setup().await;
    let (token, stream) = drained_stream(&server).await;
    let tokens = sign_in(&server, &server.browser(), "rp", "openid").await;
    let sid = sid_of(&tokens);
    let revocation = server.logout_everywhere(ALICE).await;
    let revoked = await_set(
        &server,
        &token,
        &stream,
        SESSION_REVOKED,
        about_session(&sid),
    )
    .await;
    assert_eq!(
        revoked["events"][SESSION_REVOKED]["reason_admin"]["en"],
        "logout_everywhere"
    );
    let alice = server.user_id(ALICE).await;
    let voided = await_set(&server, &token, &stream, TOKENS_REVOKED, |c| {
        c["events"][TOKENS_REVOKED]["scope"] == "user"
    })
    .await;
    assert_eq!(voided["sub_id"]["sub"], alice.as_str());
    assert_eq!(
        voided["events"][TOKENS_REVOKED]["version"],
        revocation.version
    );
}

#[tokio::test]
async fn disabling_a_user_reaches_a_long_polling_receiver() {
    let server = setup().await;
    let (token, stream) = drained_stream(&server).await;
    let tokens = sign_in(&server, &server.browser(), "rp", "openid").await;
    let sid = sid_of(&tokens);
    server.disable_user(ALICE).await;
    let alice = server.user_id(ALICE).await;
    let disabled = await_set(&server, &token, &stream, ACCOUNT_DISABLED, |_| true).await;
    assert_eq!(disabled["sub_id"]["format"], "iss_sub");
    assert_eq!(disabled["sub_id"]["sub"], alice.as_str());
    let revoked = await_set(
        &server,
        &token,
        &stream,
        SESSION_REVOKED,
        about_session(&sid),
    )
    .await;
    assert_eq!(
        revoked["events"][SESSION_REVOKED]["reason_admin"]["en"],
        "user_disabled"
    );
}

#[tokio::test]
async fn a_session_that_expires_reaches_a_long_polling_receiver() {
    let server = setup().await;
    let (_, stream) = drained_stream(&server).await;
    let tokens = sign_in(&server, &server.browser(), "rp", "openid").await;
    let sid = sid_of(&tokens);
    server.clock.advance(3601);
    // The receiver's token expired with the hour too.
    let token = receiver_token(&server, RS).await;
    let revoked = await_set(
        &server,
        &token,
        &stream,
        SESSION_REVOKED,
        about_session(&sid),
    )
    .await;
    let event = &revoked["events"][SESSION_REVOKED];
    assert_eq!(event["reason_admin"]["en"], "idle_timeout");
    assert_eq!(event["initiating_entity"], "policy");
}

#[tokio::test]
async fn unacknowledged_sets_come_again_and_acknowledged_ones_never() {
    let server = setup().await;
    let (token, stream) = drained_stream(&server).await;
    let tokens = sign_in(&server, &server.browser(), "rp", "openid").await;
    let sid = sid_of(&tokens);
    server.logout_everywhere(ALICE).await;
    // Wait for the log to reach the stream without acknowledging anything.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let first = loop {
        let body = poll(
            &server,
            &token,
            &stream,
            &json!({ "returnImmediately": true }),
        )
        .await;
        if body["sets"].as_object().unwrap().len() >= 2 {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "no SETs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let again = poll(
        &server,
        &token,
        &stream,
        &json!({ "returnImmediately": true }),
    )
    .await;
    let jtis =
        |b: &Value| -> Vec<String> { b["sets"].as_object().unwrap().keys().cloned().collect() };
    assert_eq!(jtis(&first), jtis(&again));
    // maxEvents bounds a response and says more are waiting.
    let one = poll(
        &server,
        &token,
        &stream,
        &json!({ "returnImmediately": true, "maxEvents": 1 }),
    )
    .await;
    assert_eq!(one["sets"].as_object().unwrap().len(), 1);
    assert_eq!(one["moreAvailable"], true);
    // Acknowledge one, report the other as an error: neither comes again.
    let all = jtis(&first);
    let (acked, refused) = all.split_at(1);
    let errs: serde_json::Map<String, Value> = refused
        .iter()
        .map(|j| {
            (
                j.clone(),
                json!({ "err": "invalid_request", "description": "test" }),
            )
        })
        .collect();
    let body = poll(
        &server,
        &token,
        &stream,
        &json!({ "ack": acked, "setErrs": errs, "returnImmediately": true }),
    )
    .await;
    assert_eq!(body["sets"], json!({}), "{body}");
    assert!(sid.len() > 1);
}

#[tokio::test]
async fn sets_committed_before_a_restart_are_delivered_after_it() {
    let server = setup().await;
    let (token, stream) = drained_stream(&server).await;
    let tokens = sign_in(&server, &server.browser(), "rp", "openid").await;
    let sid = sid_of(&tokens);
    server.logout_everywhere(ALICE).await;
    // Another instance started afterwards on the same database: the cursor
    // and the log are in the database, not in the first instance.
    let later = second_instance(&server).await;
    let id = stream["stream_id"].as_str().unwrap();
    let endpoint = format!("{}/ssf/poll/{id}", later.base);
    let body: Value = server
        .http
        .post(endpoint)
        .bearer_auth(&token)
        .json(&json!({ "returnImmediately": false }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let found = body["sets"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| verified_set(&server, s.as_str().unwrap()))
        .any(|c| about_session(&sid)(&c));
    assert!(found, "{body}");
}

#[tokio::test]
async fn a_verification_request_is_answered_with_the_receivers_state() {
    let server = setup().await;
    let (token, stream) = drained_stream(&server).await;
    let id = stream["stream_id"].as_str().unwrap();
    let response = server
        .http
        .post(server.url("/ssf/verify"))
        .bearer_auth(&token)
        .json(&json!({ "stream_id": id, "state": "xyz-123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Queued before the 204: the next poll has it.
    let sets = drain(&server, &token, &stream).await;
    assert_eq!(sets.len(), 1, "{sets:?}");
    let verification = &sets[0];
    assert_eq!(verification["events"][VERIFICATION]["state"], "xyz-123");
    assert_eq!(
        verification["sub_id"],
        json!({ "format": "opaque", "id": id })
    );
    // Acknowledged by the drain: it is gone.
    assert!(drain(&server, &token, &stream).await.is_empty());
}

#[tokio::test]
async fn a_paused_stream_holds_events_and_a_disabled_one_drops_them() {
    let server = setup().await;
    let (token, stream) = drained_stream(&server).await;
    let id = stream["stream_id"].as_str().unwrap();
    let set_status = |status: &'static str| {
        let http = server.http.clone();
        let url = server.url("/ssf/status");
        let token = token.clone();
        let id = id.to_owned();
        async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "stream_id": id, "status": status }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(set_status("paused").await["status"], "paused");
    server.logout_everywhere(ALICE).await;
    assert!(drain(&server, &token, &stream).await.is_empty());
    set_status("enabled").await;
    let held = await_set(&server, &token, &stream, TOKENS_REVOKED, |_| true).await;
    assert_eq!(held["events"][TOKENS_REVOKED]["scope"], "user");
    set_status("disabled").await;
    server.logout_everywhere(ALICE).await;
    set_status("enabled").await;
    assert!(drain(&server, &token, &stream).await.is_empty());
    let status: Value = server
        .http
        .get(server.url("/ssf/status"))
        .query(&[("stream_id", id)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "enabled");
}
