//! Every table that grows is pruned by the maintenance round
//! (`maintenance::prune_tables`) in bounded batches, and live rows stay
//! (issue 16). Rows are written straight into the test database (SQLite, or
//! PostgreSQL when SIGNOFF_TEST_DATABASE_URL is set) at times around the
//! mock clock's now; the round then runs at that now. Revocation events,
//! audit events and one-time identifiers have their own tests
//! (token_lifecycle, ops_cli, replay_guard).

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
};
use signoff::clock::Clock;
use signoff::store::entity::{
    access_token, authorization_code, grant, interaction, logout_outbox, pushed_request,
    refresh_token, session, session_client,
};
use signoff::store::grants;

use crate::common::*;

const DAY: i64 = 24 * 3600;

async fn put<M, A>(server: &TestServer, model: M)
where
    M: IntoActiveModel<A>,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    model
        .into_active_model()
        .insert(&server.state.db)
        .await
        .expect("insert");
}

async fn prune(server: &TestServer) {
    signoff::maintenance::prune_tables(&server.state, server.clock.now()).await;
}

fn grant_row(id: &str, created_at: i64) -> grant::Model {
    grant::Model {
        id: id.into(),
        client_id: FIRST.into(),
        user_id: Some("u".into()),
        session_id: None,
        scope: "openid".into(),
        auth_time: Some(created_at),
        created_at,
        revoked_at: None,
        user_version: 0,
        client_version: 0,
    }
}

fn code_row(hash: &str, grant_id: &str, expires_at: i64) -> authorization_code::Model {
    authorization_code::Model {
        code_hash: hash.into(),
        grant_id: grant_id.into(),
        client_id: FIRST.into(),
        redirect_uri: FIRST_REDIRECT.into(),
        nonce: None,
        code_challenge: None,
        created_at: expires_at - 60,
        expires_at,
        consumed_at: None,
    }
}

fn access_row(hash: &str, grant_id: Option<&str>, expires_at: i64) -> access_token::Model {
    access_token::Model {
        token_hash: hash.into(),
        grant_id: grant_id.map(Into::into),
        client_id: FIRST.into(),
        user_id: None,
        session_id: None,
        scope: String::new(),
        issued_at: expires_at - 300,
        expires_at,
        revoked_at: None,
        audience: String::new(),
        auth_time: None,
        user_version: 0,
        client_version: 0,
        jkt: None,
    }
}

fn refresh_row(hash: &str, grant_id: &str, expires_at: i64) -> refresh_token::Model {
    refresh_token::Model {
        token_hash: hash.into(),
        grant_id: grant_id.into(),
        client_id: FIRST.into(),
        user_id: "u".into(),
        scope: "openid offline_access".into(),
        issued_at: expires_at - DAY,
        expires_at,
        consumed_at: None,
        revoked_at: None,
        successor_hash: None,
        successor_sealed: None,
        user_version: 0,
        client_version: 0,
        jkt: None,
    }
}

async fn exists<E: EntityTrait>(server: &TestServer, id: &str) -> bool
where
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    E::find_by_id(id.to_owned())
        .one(&server.state.db)
        .await
        .expect("read")
        .is_some()
}

#[tokio::test]
async fn codes_are_pruned_an_hour_after_they_expired_and_later_ones_stay() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    let skew = server.state.config.keys.clock_skew.as_secs() as i64;
    put(&server, grant_row("g", now)).await;
    put(&server, code_row("old", "g", now - skew - 3601)).await;
    // Expired, but within the hour a late replay still revokes the grant.
    put(&server, code_row("recent", "g", now - skew - 60)).await;
    put(&server, code_row("live", "g", now + 60)).await;
    prune(&server).await;
    assert!(!exists::<authorization_code::Entity>(&server, "old").await);
    assert!(exists::<authorization_code::Entity>(&server, "recent").await);
    assert!(exists::<authorization_code::Entity>(&server, "live").await);
}

#[tokio::test]
async fn expired_access_and_refresh_tokens_are_pruned_and_unexpired_ones_stay() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    let skew = server.state.config.keys.clock_skew.as_secs() as i64;
    put(&server, grant_row("g", now)).await;
    put(&server, access_row("a-old", Some("g"), now - skew - 1)).await;
    put(&server, access_row("a-live", Some("g"), now + 60)).await;
    put(&server, refresh_row("r-old", "g", now - skew - 1)).await;
    put(&server, refresh_row("r-live", "g", now + DAY)).await;
    prune(&server).await;
    assert!(!exists::<access_token::Entity>(&server, "a-old").await);
    assert!(exists::<access_token::Entity>(&server, "a-live").await);
    assert!(!exists::<refresh_token::Entity>(&server, "r-old").await);
    assert!(exists::<refresh_token::Entity>(&server, "r-live").await);
}

#[tokio::test]
async fn grants_with_nothing_left_under_them_are_pruned_and_grants_holding_a_code_or_token_stay() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    let old = now - 2 * DAY;
    for id in ["empty", "with-code", "with-access", "with-refresh"] {
        put(&server, grant_row(id, old)).await;
    }
    // Made a moment ago: its code is written in the same transaction, but
    // the grace period keeps the prune away from requests in flight.
    put(&server, grant_row("new-empty", now)).await;
    put(&server, code_row("c", "with-code", now + 60)).await;
    put(&server, access_row("a", Some("with-access"), now + 60)).await;
    put(&server, refresh_row("r", "with-refresh", now + DAY)).await;
    prune(&server).await;
    assert!(!exists::<grant::Entity>(&server, "empty").await);
    for id in ["with-code", "with-access", "with-refresh", "new-empty"] {
        assert!(exists::<grant::Entity>(&server, id).await, "{id} stays");
    }
}

#[tokio::test]
async fn a_grant_whose_tokens_all_expired_is_pruned_in_the_same_round_as_its_tokens() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    let skew = server.state.config.keys.clock_skew.as_secs() as i64;
    put(&server, grant_row("g", now - 2 * DAY)).await;
    put(&server, access_row("a", Some("g"), now - skew - 1)).await;
    put(&server, refresh_row("r", "g", now - skew - 1)).await;
    prune(&server).await;
    assert!(!exists::<access_token::Entity>(&server, "a").await);
    assert!(!exists::<refresh_token::Entity>(&server, "r").await);
    assert!(!exists::<grant::Entity>(&server, "g").await);
}

fn session_row(id: &str, ended_at: Option<i64>, now: i64) -> session::Model {
    session::Model {
        id: id.into(),
        cookie_hash: format!("cookie-{id}"),
        user_id: "u".into(),
        auth_time: now - 10 * DAY,
        amr: "[\"pwd\"]".into(),
        created_at: now - 10 * DAY,
        last_seen_at: now - 10 * DAY,
        idle_expires_at: now + DAY,
        absolute_expires_at: now + DAY,
        ended_at,
        user_agent: None,
        ip: None,
        user_version: 0,
    }
}

#[tokio::test]
async fn sessions_ended_over_a_week_ago_are_pruned_with_their_participants_and_others_stay() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    put(&server, session_row("old", Some(now - 8 * DAY), now)).await;
    put(&server, session_row("recent", Some(now - DAY), now)).await;
    put(&server, session_row("open", None, now)).await;
    put(
        &server,
        session_client::Model {
            session_id: "old".into(),
            client_id: FIRST.into(),
            first_seen_at: now - 9 * DAY,
        },
    )
    .await;
    prune(&server).await;
    assert!(!exists::<session::Entity>(&server, "old").await);
    assert!(exists::<session::Entity>(&server, "recent").await);
    assert!(exists::<session::Entity>(&server, "open").await);
    let participants = session_client::Entity::find()
        .count(&server.state.db)
        .await
        .unwrap();
    assert_eq!(participants, 0, "the ended session's participants went too");
}

fn outbox_row(id: &str, status: &str, created_at: i64) -> logout_outbox::Model {
    logout_outbox::Model {
        id: id.into(),
        client_id: FIRST.into(),
        uri: "https://rp.example/logout".into(),
        sub: "u".into(),
        sid: "s".into(),
        reason: "logout".into(),
        created_at,
        status: status.into(),
        attempts: 5,
        next_attempt_at: created_at,
        last_attempt_at: Some(created_at),
        last_error: Some("connection refused".into()),
        delivered_at: None,
    }
}

#[tokio::test]
async fn failed_backchannel_deliveries_older_than_30_days_are_pruned_and_newer_or_pending_ones_stay()
 {
    let server = TestServer::start().await;
    let now = server.clock.now();
    put(&server, outbox_row("failed-old", "failed", now - 31 * DAY)).await;
    put(&server, outbox_row("failed-new", "failed", now - DAY)).await;
    put(
        &server,
        outbox_row("pending-old", "pending", now - 31 * DAY),
    )
    .await;
    prune(&server).await;
    assert!(!exists::<logout_outbox::Entity>(&server, "failed-old").await);
    assert!(exists::<logout_outbox::Entity>(&server, "failed-new").await);
    assert!(exists::<logout_outbox::Entity>(&server, "pending-old").await);
}

#[tokio::test]
async fn expired_interactions_and_pushed_requests_are_pruned_and_live_ones_stay() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    for (id, expires_at) in [("i-old", now - 1), ("i-live", now + 600)] {
        put(
            &server,
            interaction::Model {
                id: id.into(),
                browser_hash: "b".into(),
                csrf_token: "c".into(),
                client_id: FIRST.into(),
                request: "{}".into(),
                session_id: None,
                login_completed_at: None,
                created_at: expires_at - 600,
                expires_at,
            },
        )
        .await;
    }
    for (hash, expires_at) in [("p-old", now - 1), ("p-live", now + 60)] {
        put(
            &server,
            pushed_request::Model {
                reference_hash: hash.into(),
                client_id: FIRST.into(),
                params: "{}".into(),
                created_at: expires_at - 60,
                expires_at,
                consumed_at: None,
            },
        )
        .await;
    }
    prune(&server).await;
    assert!(!exists::<interaction::Entity>(&server, "i-old").await);
    assert!(exists::<interaction::Entity>(&server, "i-live").await);
    assert!(!exists::<pushed_request::Entity>(&server, "p-old").await);
    assert!(exists::<pushed_request::Entity>(&server, "p-live").await);
}

#[tokio::test]
async fn one_prune_statement_removes_at_most_one_batch_of_expired_tokens() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    let backlog = grants::PRUNE_BATCH + 5;
    let db = &server.state.db;
    let rows: Vec<access_token::ActiveModel> = (0..backlog)
        .map(|i| access_row(&format!("t{i}"), None, now - 10).into_active_model())
        .collect();
    for chunk in rows.chunks(200) {
        access_token::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
    put(&server, access_row("live", None, now + 60)).await;
    assert_eq!(
        grants::prune_expired(db, now).await.unwrap(),
        grants::PRUNE_BATCH
    );
    assert_eq!(grants::prune_expired(db, now).await.unwrap(), 5);
    assert_eq!(grants::prune_expired(db, now).await.unwrap(), 0);
    assert!(exists::<access_token::Entity>(&server, "live").await);
}

#[tokio::test]
async fn the_empty_grant_prune_examines_one_window_of_grants_per_call_and_goes_on_after_it() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    let old = now - 2 * DAY;
    let db = &server.state.db;
    let window = grants::PRUNE_WINDOW as usize;
    let id = |i: usize| format!("g{i:05}");
    let rows: Vec<grant::ActiveModel> = (0..window + 5)
        .map(|i| grant_row(&id(i), old).into_active_model())
        .collect();
    for chunk in rows.chunks(200) {
        grant::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
    put(&server, refresh_row("r", &id(3), now + DAY)).await;
    // The first window: every empty grant in it goes, the live one stays,
    // and nothing after the window is even looked at.
    let (pruned, next) = grants::prune_empty(db, now, None).await.unwrap();
    assert_eq!(pruned, grants::PRUNE_WINDOW - 1);
    assert_eq!(next.as_deref(), Some(id(window - 1).as_str()));
    assert!(exists::<grant::Entity>(&server, &id(window)).await);
    // The next call goes on after it and reaches the end.
    let (pruned, next) = grants::prune_empty(db, now, next.as_deref()).await.unwrap();
    assert_eq!((pruned, next), (5, None));
    assert!(exists::<grant::Entity>(&server, &id(3)).await);
    assert_eq!(grant::Entity::find().count(db).await.unwrap(), 1);
}
