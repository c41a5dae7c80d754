//! The guard's revocation feed against Signoff's real Shared Signals
//! transmitter (src/ssf): stream set-up and verification, every way a token
//! dies at Signoff, re-enabled users and clients, fail-closed past the
//! freshness bound and recovery, a forgotten or disabled stream, a
//! restarted guard, entry expiry, and a misconfigured transmitter.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::*;
use crate::guard_support::*;
use crate::logout_support::end_session;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff::revocation::{self, Initiator};
use signoff_guard::{Phase, WhenStale};

/// Poll `check` until it holds, for at most 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Poll an async `check` until it holds, for at most 10 s.
macro_rules! eventually_async {
    ($what:expr, $check:expr) => {{
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !$check {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {}",
                $what
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }};
}

fn text(token: &str, claim: &str) -> String {
    jwt_claims(token)[claim].as_str().unwrap().to_owned()
}

fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// RFC 7009 revocation at Signoff by the web client.
async fn revoke_at_signoff(rig: &Rig, client: &str, token: &str) {
    let response = rig
        .server
        .http
        .post(rig.server.url("/revoke"))
        .basic_auth(client, Some(WEB_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn receiver_creates_verifies_long_polls_and_acknowledges_its_stream() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    assert_eq!(guard.status().phase, Phase::Live);
    let streams = rig.guard_streams().await;
    assert_eq!(streams.len(), 1, "one stream, of the guard's own client");
    assert_eq!(streams[0].delivery_method, "urn:ietf:rfc:8936");
    assert_eq!(streams[0].status, "enabled");
    // Live means the verification SET came and was acknowledged.
    let db = &rig.server.state.db;
    eventually_async!(
        "the verification SET acknowledged",
        signoff::store::ssf_streams::count_pending(db, &streams[0].id)
            .await
            .unwrap()
            == 0
    );
    guard.shutdown().await;
    assert!(
        rig.guard_streams().await.is_empty(),
        "SSF §8.1.1.5: stream deleted at shutdown"
    );
}

#[tokio::test]
async fn rp_logout_refresh_family_and_jwt_revocation_reject_exactly_their_tokens() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;

    // RP-initiated logout (OpenID RP-Initiated Logout 1.0 §2): one browser's
    // session ends; another browser's login is unaffected.
    let browser = rig.server.browser();
    let tokens = rig.login_in(&browser, WEB).await;
    let a = access(&tokens);
    let b = access(&rig.login(WEB).await);
    assert_ne!(text(&a, "sid"), text(&b, "sid"));
    assert_eq!(status_of(&api, &a).await, StatusCode::OK);
    let (_, landing) = end_session(
        &rig.server,
        &browser,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", WEB_SIGNED_OUT),
        ],
    )
    .await;
    landing.redirect();
    eventually_status(&api, &a, StatusCode::UNAUTHORIZED).await;
    assert!(challenge(&call(&api, "/me", Some(&a)).await).contains("revoked"));
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);

    // RFC 7009 §2.1: revoking the refresh token ends the whole family.
    let c = rig.login(WEB).await;
    let d = access(&rig.login(WEB).await);
    assert_eq!(status_of(&api, &access(&c)).await, StatusCode::OK);
    revoke_at_signoff(&rig, WEB, c["refresh_token"].as_str().unwrap()).await;
    eventually_status(&api, &access(&c), StatusCode::UNAUTHORIZED).await;
    assert_eq!(status_of(&api, &d).await, StatusCode::OK);

    // `/revoke` of the JWT access token itself.
    let e = access(&rig.login(WEB).await);
    assert_eq!(status_of(&api, &e).await, StatusCode::OK);
    revoke_at_signoff(&rig, WEB, &e).await;
    eventually_status(&api, &e, StatusCode::UNAUTHORIZED).await;
    assert_eq!(status_of(&api, &d).await, StatusCode::OK);
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);

    // A new login works.
    let fresh = access(&rig.login(WEB).await);
    assert_eq!(status_of(&api, &fresh).await, StatusCode::OK);
    assert_eq!(guard.status().sets_refused, 0);
}

#[tokio::test]
async fn logout_everywhere_and_a_disabled_user_reject_old_tokens_and_re_enabling_admits_only_new_ones()
 {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;

    // Log out everywhere: every token of the user, from every browser.
    let a = access(&rig.login(WEB).await);
    let b = access(&rig.login(WEB).await);
    let job = rig.job_token().await;
    rig.server.logout_everywhere(ALICE).await;
    eventually_status(&api, &a, StatusCode::UNAUTHORIZED).await;
    eventually_status(&api, &b, StatusCode::UNAUTHORIZED).await;
    assert_eq!(status_of(&api, &job).await, StatusCode::OK, "not alice's");
    let after = access(&rig.login(WEB).await);
    assert_eq!(status_of(&api, &after).await, StatusCode::OK);

    // Disable the user: her tokens die; enabled again, a new login works and
    // the old token stays rejected.
    rig.server.disable_user(ALICE).await;
    eventually_status(&api, &after, StatusCode::UNAUTHORIZED).await;
    let id = rig.server.user_id(ALICE).await;
    revocation::enable_user(&rig.revoker(), &id, Initiator::Admin)
        .await
        .unwrap()
        .expect("a disabled user");
    let again = access(&rig.login(WEB).await);
    eventually_status(&api, &again, StatusCode::OK).await;
    assert_eq!(status_of(&api, &after).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&api, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(guard.status().sets_refused, 0);
}

#[tokio::test]
async fn client_revoke_tokens_and_a_disabled_client_reject_old_tokens_and_re_enabling_admits_new_ones()
 {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let user = access(&rig.login(WEB).await);

    // `signoff client revoke-tokens`: every token the client holds now.
    let old = rig.job_token().await;
    assert_eq!(status_of(&api, &old).await, StatusCode::OK);
    revocation::void_client_tokens(&rig.revoker(), JOB)
        .await
        .unwrap()
        .expect("a client");
    eventually_status(&api, &old, StatusCode::UNAUTHORIZED).await;
    let new = rig.job_token().await;
    assert_eq!(status_of(&api, &new).await, StatusCode::OK);

    // Disabled, then enabled again (the transmitter sends nothing for
    // `client_enabled`): tokens from before stay rejected, new ones work.
    revocation::disable_client(&rig.revoker(), JOB)
        .await
        .unwrap()
        .expect("an enabled client");
    eventually_status(&api, &new, StatusCode::UNAUTHORIZED).await;
    revocation::enable_client(&rig.revoker(), JOB)
        .await
        .unwrap()
        .expect("a disabled client");
    let after = rig.job_token().await;
    assert_eq!(status_of(&api, &after).await, StatusCode::OK);
    assert_eq!(status_of(&api, &new).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&api, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status_of(&api, &user).await,
        StatusCode::OK,
        "another client"
    );
}

#[tokio::test]
async fn an_opaque_token_revoked_at_signoff_is_not_served_from_the_introspection_cache() {
    let rig = Rig::start().await;
    let guard = rig
        .live_guard(rig.guard_builder().accept_opaque_tokens(true))
        .await;
    let api = rig.serve_api(&guard).await;
    let token = access(&rig.login(OPAQUE_WEB).await);
    let other = access(&rig.login(OPAQUE_WEB).await);
    assert_eq!(status_of(&api, &token).await, StatusCode::OK);
    assert_eq!(status_of(&api, &other).await, StatusCode::OK);
    assert_eq!(guard.status().introspections, 2);
    // No clock change: the cached answer is well within the bound; only the
    // feed's `token_hash` event can end it.
    revoke_at_signoff(&rig, OPAQUE_WEB, &token).await;
    eventually_status(&api, &token, StatusCode::UNAUTHORIZED).await;
    assert!(challenge(&call(&api, "/me", Some(&token)).await).contains("revoked"));
    assert_eq!(status_of(&api, &other).await, StatusCode::OK);
    assert_eq!(
        guard.status().introspections,
        2,
        "rejected from the feed, not by asking again"
    );
}

#[tokio::test]
async fn unreachable_signoff_fails_closed_after_the_bound_and_recovers_without_restart() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let a = access(&rig.login(WEB).await);
    let b = access(&rig.login(WEB).await);
    assert_eq!(status_of(&api, &a).await, StatusCode::OK);
    let stream = rig.guard_streams().await[0].id.clone();

    rig.faults.down.store(true, Ordering::SeqCst);
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
        "tokens seen before or not"
    );
    let status = guard.status();
    assert!(!status.fresh);
    assert_eq!(status.failed_closed, 2);
    assert_eq!(status.stale_periods, 1);
    assert!(
        status
            .to_prometheus()
            .contains("signoff_guard_feed_fresh 0")
    );

    // A revocation committed while the guard cannot reach Signoff is
    // delivered once it can.
    eventually("poll failures counted", || guard.status().poll_failures > 0).await;
    revocation::revoke_grant(
        &rig.revoker(),
        &text(&a, "gid"),
        revocation::GrantReason::Revoked,
        Initiator::Admin,
    )
    .await
    .unwrap();
    rig.faults.down.store(false, Ordering::SeqCst);
    eventually_status(&api, &b, StatusCode::OK).await;
    assert_eq!(status_of(&api, &a).await, StatusCode::UNAUTHORIZED);
    assert!(guard.status().fresh);
    let streams = rig.guard_streams().await;
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].id, stream, "the same stream, reused");
}

#[tokio::test]
async fn a_feed_outage_falls_back_to_introspection_when_configured() {
    let rig = Rig::start().await;
    let guard = rig
        .live_guard(rig.guard_builder().when_stale(WhenStale::Introspect))
        .await;
    let api = rig.serve_api(&guard).await;
    let token = access(&rig.login(WEB).await);
    let other = access(&rig.login(WEB).await);
    assert_eq!(status_of(&api, &token).await, StatusCode::OK);
    assert_eq!(
        guard.status().introspections,
        0,
        "no call while the feed is fresh"
    );

    // Only the Shared Signals endpoints fail; introspection works.
    let failures = guard.status().poll_failures;
    rig.faults.feed_down.store(true, Ordering::SeqCst);
    // Once a poll has failed, none is held at Signoff any more (a held one
    // would still deliver the revocation below).
    eventually("a failed poll", || guard.status().poll_failures > failures).await;
    rig.server.clock.advance(6);
    assert_eq!(status_of(&api, &token).await, StatusCode::OK);
    assert_eq!(guard.status().introspections, 1);
    // Revoked at Signoff (RFC 7009) while the feed is down: introspection says so.
    revoke_at_signoff(&rig, WEB, &token).await;
    let response = call(&api, "/me", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains("not active"));
    assert_eq!(status_of(&api, &other).await, StatusCode::OK);
    // Signoff unreachable altogether: nothing can vouch, 503.
    rig.faults.down.store(true, Ordering::SeqCst);
    assert_eq!(
        status_of(&api, &other).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_deleted_or_disabled_stream_is_replaced_and_earlier_revocations_replayed() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let a = access(&rig.login(WEB).await);
    let b = access(&rig.login(WEB).await);
    revoke_at_signoff(&rig, WEB, &a).await;
    eventually_status(&api, &a, StatusCode::UNAUTHORIZED).await;

    // The transmitter loses the stream: the next poll gets 404.
    let first = rig.guard_streams().await[0].id.clone();
    signoff::store::ssf_streams::delete(&rig.server.state.db, &first)
        .await
        .unwrap();
    let db = &rig.server.state.db;
    eventually_async!(
        "a new stream",
        signoff::store::ssf_streams::of_client(db, GUARD)
            .await
            .unwrap()
            .first()
            .is_some_and(|s| s.id != first)
    );
    assert!(guard.wait_until_fresh(Duration::from_secs(10)).await);
    assert_eq!(status_of(&api, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);

    // SSF §8.1.2.2: the stream is disabled (events dropped) by someone with
    // the guard's credentials; the transmitter sends no event about it, the
    // guard's status check notices, deletes it and opens a new one.
    let second = rig.guard_streams().await[0].id.clone();
    let manage = token_json(
        rig.server
            .token_request(
                GUARD,
                GUARD_SECRET,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "ssf.manage"),
                ],
            )
            .await,
    )
    .await;
    let response = rig
        .server
        .http
        .post(rig.server.url("/ssf/status"))
        .bearer_auth(manage["access_token"].as_str().unwrap())
        .json(&json!({ "stream_id": second, "status": "disabled" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Between deleting the disabled stream and creating its successor the
    // guard has none: wait for the successor itself.
    eventually_async!("a third stream", {
        let streams = signoff::store::ssf_streams::of_client(db, GUARD)
            .await
            .unwrap();
        !streams.is_empty()
            && streams
                .iter()
                .all(|s| s.id != first && s.id != second && s.status == "enabled")
    });
    assert!(guard.wait_until_fresh(Duration::from_secs(10)).await);
    assert_eq!(rig.guard_streams().await.len(), 1);
    assert_eq!(status_of(&api, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&api, &b).await, StatusCode::OK);
}

#[tokio::test]
async fn a_restarted_guard_learns_earlier_revocations_from_its_new_stream() {
    let rig = Rig::start().await;
    let first = rig.live_guard(rig.guard_builder()).await;
    let a = access(&rig.login(WEB).await);
    let b = access(&rig.login(WEB).await);
    rig.server.logout_everywhere(ALICE).await;
    eventually("the first guard applied it", || {
        first.status().events_applied >= 1
    })
    .await;
    first.shutdown().await;
    drop(first);
    let c = access(&rig.login(WEB).await);

    let second = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&second).await;
    // Its very first answers already know.
    assert_eq!(status_of(&api, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&api, &b).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&api, &c).await, StatusCode::OK);
}

#[tokio::test]
async fn revocation_entries_are_dropped_after_retain_until() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let a = access(&rig.login(WEB).await);
    let exp = jwt_claims(&a)["exp"].as_i64().unwrap();
    revoke_at_signoff(&rig, WEB, &a).await;
    eventually("the jti entry", || guard.revocations().len() == 1).await;
    // `retain_until` is at or after the token's expiry: past it (and
    // Signoff's margin) the entry goes.
    rig.server.clock.advance(exp - rig.now() + 3600);
    eventually("the jti entry dropped", || guard.revocations().is_empty()).await;
}

#[tokio::test]
async fn a_misconfigured_transmitter_is_never_trusted_until_fixed() {
    let rig = Rig::start().await;
    let token = rig.job_token().await;
    let real: Value = rig
        .server
        .http
        .get(rig.server.url("/.well-known/ssf-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
        let mut doc = real.clone();
        doc[field] = value;
        bad_metadata.push(doc);
    }
    *rig.faults.metadata_override.lock().unwrap() = Some(bad_metadata[0].clone());
    let guard = rig
        .guard_builder()
        .build()
        .await
        .expect("the guard starts anyway");
    let api = rig.serve_api(&guard).await;
    for doc in bad_metadata {
        *rig.faults.metadata_override.lock().unwrap() = Some(doc.clone());
        let failures = guard.status().poll_failures;
        eventually("the metadata refused", || {
            guard.status().poll_failures > failures
        })
        .await;
        assert_eq!(guard.status().phase, Phase::Starting, "{doc}");
        assert!(rig.guard_streams().await.is_empty(), "no stream with {doc}");
        assert_eq!(
            status_of(&api, &token).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    *rig.faults.metadata_override.lock().unwrap() = None;
    assert!(guard.wait_until_fresh(Duration::from_secs(10)).await);
    assert_eq!(status_of(&api, &token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_transmitter_with_one_stream_per_receiver_has_it_reused() {
    let rig = Rig::with(|c| c.ssf.max_streams_per_client = 1).await;
    let first = rig.live_guard(rig.guard_builder()).await;
    assert!(first.status().fresh);
    // Two receivers polling one stream take each other's events, so the
    // first stops (without deleting its stream, as a crashed process) before
    // the second starts.
    drop(first);
    // SSF §8.1.1.1: 409 for the second create; the existing stream is read
    // and used.
    let second = rig.live_guard(rig.guard_builder()).await;
    assert_eq!(rig.guard_streams().await.len(), 1);
    assert!(second.status().fresh);
}
