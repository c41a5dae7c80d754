//! The guard's revocation feed against the SSF transmitter double (see
//! guard_support): stream set-up and verification, each revocation event of
//! the contract, refused SETs, fail-closed past the freshness bound and
//! recovery, a forgotten stream, a restarted guard, and entry expiry.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::*;
use crate::guard_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff_guard::{Phase, WhenStale};

/// Poll `check` until it holds, for at most 5 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn text(token: &str, claim: &str) -> String {
    jwt_claims(token)[claim].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn receiver_creates_verifies_long_polls_and_acknowledges_its_stream() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    assert_eq!(guard.status().phase, Phase::Live);
    {
        let book = rig.double.book.lock().unwrap();
        assert_eq!(book.created, 1);
        let stream = book.streams.values().next().unwrap();
        assert_eq!(
            stream.aud, GUARD,
            "the stream belongs to the guard's client"
        );
        assert_eq!(stream.verification_states.len(), 1);
        assert!(stream.verification_states[0].len() >= 16, "a random state");
        assert!(!book.return_immediately.is_empty());
        assert!(
            book.return_immediately.iter().all(|r| !r),
            "long polls only"
        );
    }
    // The verification SET is acknowledged with the next poll.
    eventually("the verification SET acknowledged", || {
        rig.double.acked().len() == 1
    })
    .await;
    guard.shutdown().await;
    assert_eq!(
        rig.double.book.lock().unwrap().deleted,
        1,
        "SSF §8.1.1.5: stream deleted at shutdown"
    );
}

#[tokio::test]
async fn each_revocation_event_rejects_exactly_the_tokens_it_names() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let iss = rig.issuer.clone();
    let now = rig.now();
    let until = now + 3600;

    // Session: a second login (another browser, another sid) is unaffected.
    let a = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(text(&a, "sid"), text(&b, "sid"));
    assert_eq!(status_of(&api, &a).await, StatusCode::OK);
    rig.double.publish(
        SESSION_REVOKED,
        json!({ "format": "complex", "user": user_subject(&iss, &text(&a, "sub")),
                "session": { "format": "opaque", "id": text(&a, "sid") } }),
        json!({ "event_timestamp": now, "initiating_entity": "user", "reason_admin": { "en": "rp_initiated" } }),
    );
    eventually_status(&api, &a, StatusCode::UNAUTHORIZED).await;
    assert!(challenge(&call(&api, "/me", Some(&a)).await).contains("revoked"));
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);

    // Grant (refresh-token family) and single token (jti).
    for (scope, claim, field) in [("grant", "gid", "grant_id"), ("token", "jti", "jti")] {
        let target = rig.login(WEB).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let other = rig.login(WEB).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(status_of(&api, &target).await, StatusCode::OK);
        rig.double.publish(
            TOKENS_REVOKED,
            user_subject(&iss, &text(&target, "sub")),
            json!({ "scope": scope, field: text(&target, claim), "retain_until": until }),
        );
        eventually_status(&api, &target, StatusCode::UNAUTHORIZED).await;
        assert_eq!(status_of(&api, &other).await, StatusCode::OK, "{scope}");
    }

    // User version ("log out everywhere"): tokens below the new version die,
    // tokens carrying it live; a token without `ver` counts as version 0.
    let base = jwt_claims(&b);
    let crafted = |changes: Value| {
        let mut c = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c["jti"] = json!(format!("crafted-{}", rand_suffix()));
        rig.sign_access_token("at+jwt", &c)
    };
    let bob_old = crafted(json!({ "sub": "bob", "ver": 0, "sid": "bob-s" }));
    let bob_unversioned = crafted(json!({ "sub": "bob", "sid": "bob-s2" }));
    let bob_new = crafted(json!({ "sub": "bob", "ver": 1, "sid": "bob-s3" }));
    rig.double.publish(
        TOKENS_REVOKED,
        user_subject(&iss, "bob"),
        json!({ "scope": "user", "version": 1, "retain_until": until }),
    );
    eventually_status(&api, &bob_old, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        status_of(&api, &bob_unversioned).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_of(&api, &bob_new).await, StatusCode::OK);

    // Client version (`client revoke-tokens`).
    let c_old =
        crafted(json!({ "client_id": "crafted-client", "cver": 0, "sub": "carol", "sid": "c1" }));
    let c_new =
        crafted(json!({ "client_id": "crafted-client", "cver": 1, "sub": "carol", "sid": "c2" }));
    rig.double.publish(
        TOKENS_REVOKED,
        json!({ "format": "opaque", "id": "crafted-client" }),
        json!({ "scope": "client", "client_id": "crafted-client", "version": 1, "retain_until": until }),
    );
    eventually_status(&api, &c_old, StatusCode::UNAUTHORIZED).await;
    assert_eq!(status_of(&api, &c_new).await, StatusCode::OK);

    // A disabled user; enabling again comes with a version bump, so old
    // tokens stay dead and new ones work.
    let dave_old = crafted(json!({ "sub": "dave", "ver": 0, "sid": "d1" }));
    rig.double
        .publish(ACCOUNT_DISABLED, user_subject(&iss, "dave"), json!({}));
    eventually_status(&api, &dave_old, StatusCode::UNAUTHORIZED).await;
    rig.double.publish(
        TOKENS_REVOKED,
        user_subject(&iss, "dave"),
        json!({ "scope": "user", "version": 1, "retain_until": until }),
    );
    rig.double
        .publish(ACCOUNT_ENABLED, user_subject(&iss, "dave"), json!({}));
    let dave_new = crafted(json!({ "sub": "dave", "ver": 1, "sid": "d2" }));
    eventually_status(&api, &dave_new, StatusCode::OK).await;
    assert_eq!(status_of(&api, &dave_old).await, StatusCode::UNAUTHORIZED);

    // A disabled client: every token of it, whatever its version.
    let job = rig.job_token().await;
    assert_eq!(status_of(&api, &job).await, StatusCode::OK);
    rig.double.publish(
        TOKENS_REVOKED,
        json!({ "format": "opaque", "id": JOB }),
        json!({ "scope": "client_disabled", "client_id": JOB, "retain_until": until }),
    );
    eventually_status(&api, &job, StatusCode::UNAUTHORIZED).await;
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);

    // A revoked signing key: every token it signed, before the JWKS changes.
    let kid = {
        use base64::Engine;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    rig.double.publish(
        TOKENS_REVOKED,
        json!({ "format": "opaque", "id": kid }),
        json!({ "scope": "key", "kid": kid, "retain_until": until }),
    );
    eventually_status(&api, &b, StatusCode::UNAUTHORIZED).await;

    let status = guard.status();
    assert_eq!(status.events_applied, 10);
    assert_eq!(status.sets_refused, 0);
    assert!(status.rejected_revoked >= 9);
}

fn rand_suffix() -> String {
    signoff::random::identifier(&signoff::random::OsRandom)
}

#[tokio::test]
async fn invalid_sets_are_refused_with_set_errors_and_change_nothing() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let token = rig.job_token().await;
    let jti = text(&token, "jti");
    let aud = rig.double.stream_aud();
    let revoke = |set_jti: &str, changes: Value| {
        let mut claims = json!({
            "iss": rig.issuer, "jti": set_jti, "iat": rig.now(), "aud": aud,
            "sub_id": { "format": "opaque", "id": JOB },
            "events": { TOKENS_REVOKED: { "scope": "token", "jti": jti, "retain_until": rig.now() + 600 } },
        });
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let cases: Vec<(&str, String, &str)> = vec![
        ("bad-typ", rig.sign_access_token("JWT", &revoke("bad-typ", json!({}))), "invalid_request"),
        ("bad-iss", rig.double.sign_set(&revoke("bad-iss", json!({ "iss": "https://evil.example" }))), "invalid_issuer"),
        ("bad-aud", rig.double.sign_set(&revoke("bad-aud", json!({ "aud": "someone-else" }))), "invalid_audience"),
        ("alg-none", format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "secevent+jwt" })), b64(&revoke("alg-none", json!({})))), "invalid_key"),
        ("jti-mismatch", rig.double.sign_set(&revoke("other-jti", json!({}))), "invalid_request"),
        ("bad-scope", rig.double.sign_set(&revoke("bad-scope", json!({ "events": { TOKENS_REVOKED: { "scope": "galaxy" } } }))), "invalid_request"),
        ("bad-state", rig.double.sign_set(&revoke("bad-state", json!({ "events": { "https://schemas.openid.net/secevent/ssf/event-type/verification": { "state": "not-ours" } } }))), "invalid_state"),
    ];
    for (set_jti, set, _) in &cases {
        rig.double.enqueue_raw(set_jti, set.clone());
    }
    eventually("every forged SET reported", || {
        rig.double.errors().len() == cases.len()
    })
    .await;
    let errors = rig.double.errors();
    for (set_jti, _, code) in &cases {
        assert_eq!(
            errors[*set_jti]["err"], *code,
            "{set_jti}: {}",
            errors[*set_jti]
        );
    }
    assert_eq!(
        status_of(&api, &token).await,
        StatusCode::OK,
        "nothing was revoked"
    );
    assert_eq!(guard.status().sets_refused, cases.len() as u64);
    // The same revocation, properly signed, works.
    rig.double
        .enqueue_raw("good", rig.double.sign_set(&revoke("good", json!({}))));
    eventually_status(&api, &token, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn stale_feed_fails_closed_after_the_bound_and_recovers_without_restart() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let a = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status_of(&api, &a).await, StatusCode::OK);

    rig.double.down.store(true, Ordering::SeqCst);
    // Exactly at the bound (5 s) the guard still vouches; one second later not.
    rig.server.clock.advance(5);
    assert_eq!(status_of(&api, &a).await, StatusCode::OK);
    rig.server.clock.advance(1);
    let response = call(&api, "/me", Some(&a)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        status_of(&api, &b).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "tokens never seen before too"
    );
    let status = guard.status();
    assert!(!status.fresh);
    assert_eq!(status.failed_closed, 2);
    assert_eq!(status.stale_periods, 1);
    assert!(
        guard
            .status()
            .to_prometheus()
            .contains("signoff_guard_feed_fresh 0")
    );

    // A logout while the feed is down is delivered once it is back.
    rig.double.publish(
        SESSION_REVOKED,
        json!({ "format": "complex", "user": user_subject(&rig.issuer, &text(&a, "sub")),
                "session": { "format": "opaque", "id": text(&a, "sid") } }),
        json!({}),
    );
    eventually("poll failures counted", || guard.status().poll_failures > 0).await;
    rig.double.down.store(false, Ordering::SeqCst);
    eventually_status(&api, &b, StatusCode::OK).await;
    assert_eq!(status_of(&api, &a).await, StatusCode::UNAUTHORIZED);
    assert!(guard.status().fresh);
    assert_eq!(
        rig.double.book.lock().unwrap().created,
        1,
        "the same stream, reused"
    );
}

#[tokio::test]
async fn stale_feed_falls_back_to_introspection_when_configured() {
    let rig = Rig::start().await;
    let guard = rig
        .live_guard(rig.guard_builder().when_stale(WhenStale::Introspect))
        .await;
    let api = rig.serve_api(&guard).await;
    let a = rig.login(WEB).await;
    let token = a["access_token"].as_str().unwrap().to_owned();
    let other = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status_of(&api, &token).await, StatusCode::OK);
    assert_eq!(
        guard.status().introspections,
        0,
        "no call while the feed is fresh"
    );

    rig.double.down.store(true, Ordering::SeqCst);
    rig.server.clock.advance(6);
    assert_eq!(status_of(&api, &token).await, StatusCode::OK);
    assert_eq!(guard.status().introspections, 1);
    // Revoked at Signoff (RFC 7009) while the feed is down: introspection says so.
    let revoked = rig
        .server
        .http
        .post(rig.server.url("/revoke"))
        .basic_auth(WEB, Some(WEB_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let response = call(&api, "/me", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains("not active"));
    assert_eq!(status_of(&api, &other).await, StatusCode::OK);
    // Introspection unreachable too: nothing can vouch, 503.
    rig.double.introspection_down.store(true, Ordering::SeqCst);
    assert_eq!(
        status_of(&api, &other).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_forgotten_or_disabled_stream_is_replaced_and_its_backlog_replayed() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let a = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    rig.double.publish(
        TOKENS_REVOKED,
        user_subject(&rig.issuer, &text(&a, "sub")),
        json!({ "scope": "token", "jti": text(&a, "jti"), "retain_until": rig.now() + 600 }),
    );
    eventually_status(&api, &a, StatusCode::UNAUTHORIZED).await;

    // The transmitter forgets the stream: the next poll gets 404.
    rig.double.forget_streams();
    eventually("a new stream", || {
        rig.double.book.lock().unwrap().created == 2
    })
    .await;
    assert!(guard.wait_until_fresh(Duration::from_secs(5)).await);
    assert_eq!(status_of(&api, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);

    // SSF §8.1.5: the transmitter disables it: deleted and replaced.
    rig.double.stream_updated("disabled");
    eventually("a third stream", || {
        rig.double.book.lock().unwrap().created == 3
    })
    .await;
    assert!(rig.double.book.lock().unwrap().deleted >= 1);
    assert!(guard.wait_until_fresh(Duration::from_secs(5)).await);
    assert_eq!(rig.double.stream_count(), 1);
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);
}

#[tokio::test]
async fn a_restarted_guard_learns_earlier_revocations_from_its_new_stream() {
    let rig = Rig::start().await;
    let first = rig.live_guard(rig.guard_builder()).await;
    let a = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    rig.double.publish(
        SESSION_REVOKED,
        json!({ "format": "complex", "user": user_subject(&rig.issuer, &text(&a, "sub")),
                "session": { "format": "opaque", "id": text(&a, "sid") } }),
        json!({}),
    );
    eventually("the first guard applied it", || {
        first.status().events_applied == 1
    })
    .await;
    first.shutdown().await;
    drop(first);

    let second = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&second).await;
    // Its very first answer already knows.
    assert_eq!(status_of(&api, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);
}

#[tokio::test]
async fn revocation_entries_are_dropped_after_retain_until() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    rig.double.publish(
        TOKENS_REVOKED,
        json!({ "format": "opaque", "id": "x" }),
        json!({ "scope": "token", "jti": "some-jti", "retain_until": rig.now() + 30 }),
    );
    rig.double.publish(
        SESSION_REVOKED,
        json!({ "format": "complex", "session": { "format": "opaque", "id": "some-sid" } }),
        json!({}),
    );
    eventually("two entries", || guard.revocations().len() == 2).await;
    rig.server.clock.advance(31);
    eventually("the jti entry dropped", || guard.revocations().len() == 1).await;
    // Without retain_until (CAEP session-revoked): the default retention, 24 h.
    rig.server.clock.advance(24 * 3600);
    eventually("the sid entry dropped", || guard.revocations().is_empty()).await;
}

#[tokio::test]
async fn a_misconfigured_transmitter_is_never_trusted_until_fixed() {
    let rig = Rig::start().await;
    let token = rig.job_token().await;
    let mut bad_metadata = Vec::new();
    for (field, value) in [
        ("default_subjects", json!("NONE")),
        ("issuer", json!("https://someone-else.example")),
        ("delivery_methods_supported", json!(["urn:ietf:rfc:8935"])),
        (
            "verification_endpoint",
            json!("http://transmitter.example/verify"),
        ),
    ] {
        let mut doc = rig.double.metadata();
        doc[field] = value;
        bad_metadata.push(doc);
    }
    let guard = rig
        .guard_builder()
        .build()
        .await
        .expect("the guard starts anyway");
    let api = rig.serve_api(&guard).await;
    for doc in bad_metadata {
        *rig.double.metadata_override.lock().unwrap() = Some(doc.clone());
        let failures = guard.status().poll_failures;
        eventually("the metadata refused", || {
            guard.status().poll_failures > failures
        })
        .await;
        assert_eq!(guard.status().phase, Phase::Starting, "{doc}");
        assert_eq!(rig.double.stream_count(), 0, "no stream with {doc}");
        assert_eq!(
            status_of(&api, &token).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    *rig.double.metadata_override.lock().unwrap() = None;
    assert!(guard.wait_until_fresh(Duration::from_secs(5)).await);
    assert_eq!(status_of(&api, &token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_transmitter_with_one_stream_per_receiver_has_it_reused() {
    let rig = Rig::start().await;
    rig.double.single_stream.store(true, Ordering::SeqCst);
    let first = rig.live_guard(rig.guard_builder()).await;
    assert!(first.status().fresh);
    // Two receivers polling one stream take each other's events (the second's
    // verification could reach the first), so the first stops before the
    // second starts, as a restarted process would.
    drop(first);
    // SSF §8.1.1.1: 409 for the second create; the existing stream is read and used.
    let second = rig.live_guard(rig.guard_builder()).await;
    assert_eq!(rig.double.book.lock().unwrap().created, 1);
    assert!(second.status().fresh);
}
