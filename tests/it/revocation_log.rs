//! The revocation log and each instance's view of it: token versions
//! instead of clock watermarks, one event per way a token dies, propagation
//! between instances (eventual and strict, and PostgreSQL's out-of-order
//! commits), the feed's reading interface. Restarts and upgrades:
//! `revocation_restart.rs`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signoff::clock::{Clock, MockClock};
use signoff::config::Consistency;
use signoff::revocation::{self, Event, Initiator};

use crate::common::*;
use crate::lifecycle::*;

/// POST /token at the instance serving `base`.
async fn token_request_at(
    base: &str,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Value {
    let response = http_client()
        .post(format!("{base}/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .expect("token request");
    token_json(response).await
}

/// alice signs in at `jwt-app` on `server`'s pages; the code is redeemed at
/// the instance serving `base`, which mints the tokens with its own clock.
async fn jwt_login_redeemed_at(server: &TestServer, base: &str) -> Value {
    let browser = server.browser();
    let code = code_in(
        &browser,
        server,
        &auth_url(
            server,
            JWT_APP,
            JWT_APP_REDIRECT,
            "openid offline_access",
            CHALLENGE,
        ),
    )
    .await;
    token_request_at(
        base,
        JWT_APP,
        JWT_APP_SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", JWT_APP_REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// `kind/reason/initiator` of each event, for comparing with what a path
/// should have written.
fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{}/{}/{}",
                e.kind,
                e.reason.as_deref().unwrap_or("-"),
                e.initiator.as_str()
            )
        })
        .collect()
}

/// The revocations written since `after` (a `seq`), as seen by `server`:
/// the `client_changed` events of registering the test clients are left
/// out (client_cache.rs tests those).
async fn events_since(server: &TestServer, after: i64) -> Vec<Event> {
    server
        .state
        .revocations
        .events_after(after, 1000)
        .await
        .expect("read the log")
        .into_iter()
        .filter(|e| e.kind.is_revocation())
        .collect()
}

fn last_seq(events: &[Event]) -> i64 {
    events.last().map_or(0, |e| e.seq)
}

#[tokio::test]
async fn signing_in_again_in_the_second_of_a_logout_everywhere_works() {
    let server = lifecycle_server().await;
    let before = jwt_login(&server).await;
    let opaque_before = opaque_login(&server).await;
    server.logout_everywhere(ALICE).await;
    // The injected clock does not move: the new login is in the same second.
    let after = jwt_login(&server).await;
    let (_, old) = verify_access_jwt(&server, &before.access_token()).await;
    let (_, new) = verify_access_jwt(&server, &after.access_token()).await;
    assert_eq!(old["iat"], new["iat"], "the same second");
    assert_eq!(text_i64(&new, "ver"), text_i64(&old, "ver") + 1);
    assert_active(&server, &after.access_token()).await;
    assert_active(&server, &after.refresh_token()).await;
    assert!(sso_still_logs_in(&server, &after.browser).await);
    token_json(refresh(&server, JWT_APP, JWT_APP_SECRET, &after.refresh_token()).await).await;
    for token in [
        before.access_token(),
        before.refresh_token(),
        opaque_before.access_token(),
        opaque_before.refresh_token(),
    ] {
        assert_inactive(&server, &token).await;
    }
}

#[tokio::test]
async fn logging_out_everywhere_does_not_depend_on_the_clocks_of_two_instances() {
    let server = lifecycle_server().await;
    let ahead = MockClock::starting_now();
    ahead.set(server.clock.now() + 5);
    let other = second_instance_with_clock(&server, ahead).await;
    let alice = server.user_id(ALICE).await;
    let active_everywhere = |token: String| {
        let other = other.base.clone();
        let server = &server;
        async move {
            assert_active(server, &token).await;
            let there = introspect_at(&other, &server.http, &token).await;
            assert_eq!(there["active"], true, "inactive on the other instance");
        }
    };

    let on_this = jwt_login(&server).await;
    let on_other = jwt_login_redeemed_at(&server, &other.base).await;
    let (_, claims) = verify_access_jwt(&server, &text(&on_other, "access_token")).await;
    assert_eq!(text_i64(&claims, "iat"), server.clock.now() + 5);
    // Through the instance behind: a watermark at its "now" would have
    // spared the tokens the other instance stamped 5 s later.
    revocation::logout_everywhere(&server.state.revoker(), &alice, Initiator::Admin)
        .await
        .unwrap();
    for token in [
        on_this.access_token(),
        on_this.refresh_token(),
        text(&on_other, "access_token"),
        text(&on_other, "refresh_token"),
    ] {
        assert_inactive(&server, &token).await;
        assert_becomes_inactive_at(&other.base, &server.http, &token).await;
    }
    let after_this = jwt_login(&server).await;
    let after_other = jwt_login_redeemed_at(&server, &other.base).await;
    for token in [
        after_this.access_token(),
        after_this.refresh_token(),
        text(&after_other, "access_token"),
    ] {
        active_everywhere(token).await;
    }

    // Through the instance ahead: a watermark at its "now" would have voided
    // the tokens this instance stamps in the next 5 s.
    revocation::logout_everywhere(&other.state.revoker(), &alice, Initiator::Admin)
        .await
        .unwrap();
    assert_becomes_inactive(&server, &after_this.access_token()).await;
    let later = jwt_login(&server).await;
    active_everywhere(later.access_token()).await;
    active_everywhere(later.refresh_token()).await;
}

#[tokio::test]
async fn a_revocation_reaches_the_other_instance_and_wakes_its_readers() {
    let server = lifecycle_server().await;
    let other = second_instance(&server).await;
    let login = jwt_login(&server).await;
    let access = login.access_token();
    assert_eq!(
        introspect_at(&other.base, &server.http, &access).await["active"],
        true
    );
    let mut applied = other.state.revocations.subscribe();
    revoke_ok(&server, JWT_APP, JWT_APP_SECRET, &access, None).await;
    let seq = last_seq(&server.logged_events().await);
    // The other instance's view moves on by itself (polling, and on
    // PostgreSQL a notification), waking whoever waits on it.
    tokio::time::timeout(Duration::from_secs(10), applied.wait_for(|s| *s >= seq))
        .await
        .expect("the other instance applied the event within 10 s")
        .expect("the view is alive");
    assert_eq!(
        introspect_at(&other.base, &server.http, &access).await,
        serde_json::json!({ "active": false })
    );
    let read = other
        .state
        .revocations
        .events_after(seq - 1, 10)
        .await
        .unwrap();
    assert_eq!(summary(&read), ["token_revoked/-/client"]);
    let (_, claims) = verify_access_jwt(&server, &access).await;
    assert_eq!(read[0].jti.as_deref(), Some(text(&claims, "jti").as_str()));
    assert_eq!(read[0].client_id.as_deref(), Some(JWT_APP));
    assert!(
        other
            .state
            .revocations
            .events_after(seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn strict_consistency_counts_another_process_from_the_next_request() {
    // The view polls once a minute: only catching up on every check can
    // explain an immediate answer (on SQLite; PostgreSQL also notifies).
    let server = lifecycle_server_with(|c| {
        c.revocation.consistency = Consistency::Strict;
        c.revocation.poll_interval = Duration::from_secs(60);
    })
    .await;
    let jwt = jwt_login(&server).await;
    let service = service_token(&server).await;
    signoff_cli(&server, &["user", "logout-everywhere", ALICE]).await;
    assert_inactive(&server, &jwt.access_token()).await;
    signoff_cli(&server, &["client", "revoke-tokens", SERVICE]).await;
    assert_inactive(&server, &text(&service, "access_token")).await;
}

#[tokio::test]
async fn introspection_and_jwt_access_tokens_carry_the_grant_and_token_versions() {
    let server = lifecycle_server().await;
    server.logout_everywhere(ALICE).await;
    for _ in 0..2 {
        revocation::void_client_tokens(&server.state.revoker(), JWT_APP)
            .await
            .unwrap();
    }
    let jwt = jwt_login(&server).await;
    let (_, claims) = verify_access_jwt(&server, &jwt.access_token()).await;
    assert_eq!(
        (claims["ver"].as_i64(), claims["cver"].as_i64()),
        (Some(1), Some(2))
    );
    let gid = text(&claims, "gid");
    for token in [jwt.access_token(), jwt.refresh_token()] {
        let body = assert_active(&server, &token).await;
        assert_eq!(body["gid"], gid.as_str(), "{body}");
        assert_eq!(
            (body["ver"].as_i64(), body["cver"].as_i64()),
            (Some(1), Some(2))
        );
    }
    let opaque = opaque_login(&server).await;
    let body = assert_active(&server, &opaque.access_token()).await;
    assert!(body["gid"].is_string(), "{body}");
    assert_eq!(
        (body["ver"].as_i64(), body["cver"].as_i64()),
        (Some(1), Some(0))
    );
    // A client's own token: no grant and no user version.
    let service = service_token(&server).await;
    let body = assert_active(&server, &text(&service, "access_token")).await;
    assert!(
        body.get("gid").is_none() && body.get("ver").is_none(),
        "{body}"
    );
    assert_eq!(body["cver"], 0);
}

#[tokio::test]
async fn each_way_a_client_revokes_or_reuses_writes_one_event_of_its_kind() {
    let server = lifecycle_server_with(|c| c.tokens.refresh_reuse_grace = Duration::ZERO).await;
    let mut seen = 0;
    let mut expect = |events: Vec<Event>, expected: &[&str]| {
        assert_eq!(summary(&events), expected);
        seen = last_seq(&events).max(seen);
        seen
    };

    let jwt = jwt_login(&server).await;
    revoke_ok(&server, JWT_APP, JWT_APP_SECRET, &jwt.access_token(), None).await;
    let at = expect(events_since(&server, 0).await, &["token_revoked/-/client"]);
    // Revoking it again records nothing more.
    revoke_ok(&server, JWT_APP, JWT_APP_SECRET, &jwt.access_token(), None).await;
    let at = expect(events_since(&server, at).await, &[]);

    let opaque = opaque_login(&server).await;
    revoke_ok(&server, FIRST, FIRST_SECRET, &opaque.access_token(), None).await;
    let events = events_since(&server, at).await;
    assert_eq!(
        events[0].token_hash.as_deref(),
        Some(signoff::secrets::token_hash(&opaque.access_token()).as_str())
    );
    let at = expect(events, &["token_revoked/-/client"]);
    revoke_ok(&server, FIRST, FIRST_SECRET, &opaque.refresh_token(), None).await;
    let at = expect(
        events_since(&server, at).await,
        &["grant_revoked/revoked/client"],
    );

    // RFC 9700 §4.14.2 reuse detection (no grace period here).
    let login = opaque_login(&server).await;
    token_json(refresh(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await).await;
    refresh_fails(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await;
    let at = expect(
        events_since(&server, at).await,
        &["grant_revoked/reuse_detected/policy"],
    );

    // RFC 6749 §4.1.2: a code used twice.
    let browser = server.browser();
    let code = code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    token_json(redeem(&server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await;
    let replay = redeem(&server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    expect(
        events_since(&server, at).await,
        &["grant_revoked/code_replayed/policy"],
    );
}

#[tokio::test]
async fn each_administrative_revocation_writes_its_event_with_the_new_version() {
    let server = lifecycle_server().await;
    let rev = server.state.revoker();
    let alice = server.user_id(ALICE).await;
    let login = jwt_login(&server).await;
    let sid = text(&assert_active(&server, &login.access_token()).await, "sid");

    server.logout_everywhere(ALICE).await;
    let events = events_since(&server, 0).await;
    // The version first, then each session with the grants its end revoked.
    assert_eq!(
        summary(&events),
        [
            "user_tokens_voided/-/admin",
            "session_ended/logout_everywhere/admin",
            "grant_revoked/session_ended/admin",
        ]
    );
    assert_eq!(events[0].version, Some(1));
    assert_eq!(events[1].session_id.as_deref(), Some(sid.as_str()));
    let mut at = last_seq(&events);

    // The same password again: a change all the same.
    let hash = signoff::secrets::hash_password(ALICE_PASSWORD, &signoff::random::OsRandom).unwrap();
    revocation::set_password(&rev, &alice, &hash, Initiator::User)
        .await
        .unwrap();
    revocation::disable_user(&rev, &alice, Initiator::Admin)
        .await
        .unwrap();
    revocation::enable_user(&rev, &alice, Initiator::Admin)
        .await
        .unwrap();
    let events = events_since(&server, at).await;
    assert_eq!(
        summary(&events),
        [
            "credential_changed/-/user",
            "user_disabled/-/admin",
            "user_enabled/-/admin"
        ]
    );
    let versions: Vec<_> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [Some(2), Some(3), Some(3)]);
    at = last_seq(&events);

    revocation::void_client_tokens(&rev, JWT_APP).await.unwrap();
    revocation::disable_client(&rev, JWT_APP).await.unwrap();
    revocation::enable_client(&rev, JWT_APP).await.unwrap();
    revocation::remove_client(&rev, JWT_APP).await.unwrap();
    let events = events_since(&server, at).await;
    assert_eq!(
        summary(&events),
        [
            "client_tokens_voided/-/admin",
            "client_disabled/-/admin",
            "client_enabled/-/admin",
            "client_removed/-/admin"
        ]
    );
    let versions: Vec<_> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [Some(1), Some(2), Some(2), Some(3)]);
    // Registered again under the same id, the client starts past them.
    server
        .add_client(signoff::admin::ClientSpec {
            id: JWT_APP.into(),
            secret: Some(JWT_APP_SECRET.into()),
            redirect_uris: vec![JWT_APP_REDIRECT.into()],
            first_party: true,
            access_token_format: Some("jwt".into()),
            ..Default::default()
        })
        .await;
    let again = jwt_login(&server).await;
    let (_, claims) = verify_access_jwt(&server, &again.access_token()).await;
    assert_eq!(claims["cver"], 3);
    assert_active(&server, &again.access_token()).await;
    // Every event is kept at least as long as a token it voids can live.
    let ttl = server.state.config.tokens.access_token_ttl.as_secs() as i64;
    for e in events_since(&server, 0).await {
        assert!(e.retain_until >= e.created_at + ttl, "{e:?}");
    }
}

#[tokio::test]
async fn a_revoked_key_writes_its_event_and_its_tokens_die_at_once() {
    // The key store re-reads the keys hourly here, so that only the view
    // can refuse the key's tokens during the test.
    let server =
        lifecycle_server_with(|c| c.keys.refresh_interval = Duration::from_secs(3600)).await;
    let access = jwt_login(&server).await.access_token();
    let (header, _) = verify_access_jwt(&server, &access).await;
    let kid = text(&header, "kid");
    let keys = signoff::keys::master_keys(&server.state.config.keys).unwrap();
    let enabled = server.state.config.keys.enabled_algorithms();
    let lifecycle = signoff::keys::Lifecycle {
        master_keys: &keys,
        rng: &signoff::random::OsRandom,
        schedule: signoff::keys::Schedule::load(&server.state.config, &server.state.db)
            .await
            .unwrap(),
        enabled: &enabled,
    };
    revocation::revoke_key(&server.state.revoker(), &lifecycle, &kid)
        .await
        .unwrap();
    // The key store still holds the key until its next reload; the view
    // already refuses what it signed.
    assert!(server.state.keys.by_kid(&kid).is_some());
    assert_inactive(&server, &access).await;
    let events = events_since(&server, 0).await;
    assert_eq!(summary(&events), ["key_revoked/-/admin"]);
    assert_eq!(events[0].kid.as_deref(), Some(kid.as_str()));
    // Revoking it again is an error and records nothing.
    assert!(
        revocation::revoke_key(&server.state.revoker(), &lifecycle, &kid)
            .await
            .is_err()
    );
    assert_eq!(events_since(&server, 0).await.len(), 1);
}

/// PostgreSQL only: a transaction holding a lower `seq` commits after one
/// holding a higher `seq`. The view waits for the gap instead of skipping
/// it, and its readers see the events in `seq` order. (SQLite has a single
/// writer: the second transaction could not commit while the first is open.)
#[tokio::test]
async fn a_lower_sequence_number_committing_late_is_not_skipped() {
    let server = lifecycle_server().await;
    if !server.state.config.database_url.starts_with("postgres") {
        eprintln!("skipped: out-of-order commits need PostgreSQL (SIGNOFF_TEST_DATABASE_URL)");
        return;
    }
    let other = second_instance(&server).await;
    let cli = revocation::Revoker::new(
        &server.state.db,
        &server.state.config,
        &signoff::random::OsRandom,
        server.clock.now(),
    );
    let start = server.state.revocations.applied();
    let mut slow = revocation::Transaction::begin(cli).await.unwrap();
    slow.void_client_tokens(FIRST).await.unwrap();
    let mut fast = revocation::Transaction::begin(cli).await.unwrap();
    fast.void_client_tokens(JWT_APP).await.unwrap();
    fast.commit().await.unwrap();
    // The other instance sees the higher seq but holds its watermark below
    // the missing one.
    let view = &other.state.revocations;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while view.client(JWT_APP).version < 1 {
        assert!(tokio::time::Instant::now() < deadline, "never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(view.applied(), start);
    assert!(view.events_after(start, 10).await.unwrap().is_empty());
    slow.commit().await.unwrap();
    let mut applied = view.subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        applied.wait_for(|s| *s >= start + 2),
    )
    .await
    .expect("the late event was applied")
    .unwrap();
    assert_eq!(view.client(FIRST).version, 1);
    let read = view.events_after(start, 10).await.unwrap();
    let clients: Vec<_> = read.iter().map(|e| e.client_id.as_deref()).collect();
    assert_eq!(clients, [Some(FIRST), Some(JWT_APP)]);
}
