//! What holds across a restart and an upgrade: an instance started after
//! revocations builds its view from the tables and the log; a revocation
//! committed just before `kill -9` holds after the restart and its
//! back-channel notifications go out; a database with timestamp watermarks
//! is upgraded to token versions.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signoff::revocation::{self, Initiator};

use crate::common::*;
use crate::lifecycle::*;

/// An instance started after the revocations builds its view from the
/// tables and the log: from its first request it refuses what was revoked
/// and accepts what was issued since (a user disabled and enabled again
/// included).
#[tokio::test]
async fn an_instance_started_later_knows_every_revocation_still_in_force() {
    let server = lifecycle_server().await;
    let listed = jwt_login(&server).await;
    revoke_ok(
        &server,
        JWT_APP,
        JWT_APP_SECRET,
        &listed.access_token(),
        None,
    )
    .await;
    let before = opaque_login(&server).await;
    let alice = server.user_id(ALICE).await;
    revocation::disable_user(&server.state.revoker(), &alice, Initiator::Admin)
        .await
        .unwrap();
    revocation::enable_user(&server.state.revoker(), &alice, Initiator::Admin)
        .await
        .unwrap();
    let after = opaque_login(&server).await;
    let service = service_token(&server).await;
    revocation::void_client_tokens(&server.state.revoker(), SERVICE)
        .await
        .unwrap();

    let later = second_instance(&server).await;
    let at_later = |token: String| {
        let base = later.base.clone();
        let http = server.http.clone();
        async move { introspect_at(&base, &http, &token).await["active"] == true }
    };
    assert!(!at_later(listed.access_token()).await, "revoked jti");
    assert!(
        !at_later(before.access_token()).await,
        "issued before disabling"
    );
    assert!(
        at_later(after.access_token()).await,
        "issued after enabling"
    );
    assert!(
        !at_later(text(&service, "access_token")).await,
        "client version"
    );
}

/// The users and clients tables, not old events, say where a user stands
/// when an instance starts: here the disabling is kept longer than the
/// enabling that followed it (a client with long-lived tokens was removed
/// in between), and only the disabling is still in force.
#[tokio::test]
async fn an_instance_started_later_takes_a_users_standing_from_the_table() {
    let server = lifecycle_server().await;
    server
        .add_client(signoff::admin::ClientSpec {
            id: "long-lived".into(),
            secret: Some("long-lived-secret-0123".into()),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api.read".into()],
            access_token_ttl: Some(3600),
            ..Default::default()
        })
        .await;
    let rev = server.state.revoker();
    let alice = server.user_id(ALICE).await;
    revocation::disable_user(&rev, &alice, Initiator::Admin)
        .await
        .unwrap();
    revocation::remove_client(&rev, "long-lived").await.unwrap();
    revocation::enable_user(&rev, &alice, Initiator::Admin)
        .await
        .unwrap();
    let events = server.logged_events().await;
    let until = |kind| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.retain_until)
            .unwrap()
    };
    let (disabled_until, enabled_until) = (
        until(revocation::Kind::UserDisabled),
        until(revocation::Kind::UserEnabled),
    );
    assert!(enabled_until < disabled_until);
    server.clock.set(enabled_until + 1);
    let login = opaque_login(&server).await;
    let later = second_instance(&server).await;
    assert_eq!(
        introspect_at(&later.base, &server.http, &login.access_token()).await["active"],
        true
    );
}

/// A `signoff serve` process on `server`'s database, with its issuer.
pub(crate) struct Process {
    child: std::process::Child,
    pub(crate) base: String,
}

impl Process {
    pub(crate) async fn start(server: &TestServer, env: &[(&str, &str)]) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SIGNOFF_") {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .env("SIGNOFF_DATABASE_URL", &server.state.config.database_url)
            .env("SIGNOFF_MASTER_KEY", TEST_MASTER_KEY)
            .env("SIGNOFF_ISSUER", &server.base)
            .env("SIGNOFF_BIND", format!("127.0.0.1:{port}"))
            .env("SIGNOFF_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null());
        let child = command.spawn().expect("start signoff serve");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while http_client()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "signoff serve did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Process { child, base }
    }

    /// `kill -9`: no shutdown, nothing flushed beyond what was committed.
    pub(crate) fn crash(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_revocation_committed_before_a_crash_holds_after_restart_and_is_delivered() {
    use crate::logout_support::{TestRp, rp_client, secret, sign_in, validate_logout_token_at};
    // Nothing in this test delivers logout tokens until the last process.
    let server = TestServer::with(|c| c.logout.worker_interval = Duration::from_secs(3600)).await;
    let rp1 = TestRp::start().await;
    let rp2 = TestRp::start().await;
    for (id, rp) in [("rp1", &rp1), ("rp2", &rp2)] {
        let mut spec = rp_client(id, rp);
        spec.first_party = true;
        server.add_client(spec).await;
    }
    let browser = server.browser();
    let t1 = sign_in(&server, &browser, "rp1", "openid offline_access").await;
    let t2 = sign_in(&server, &browser, "rp2", "openid").await;
    let id_token = text(&t1, "id_token");
    let sid = jwt_claims(&id_token)["sid"].as_str().unwrap().to_owned();

    let mut first = Process::start(&server, &[("SIGNOFF_LOGOUT__WORKER_INTERVAL", "1h")]).await;
    // rp1 is first-party and names the session: no confirmation page.
    let response = browser
        .http
        .get(format!("{}/logout", first.base))
        .query(&[("id_token_hint", id_token.as_str()), ("client_id", "rp1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    first.crash();
    let queued = signoff::store::logout_outbox::of_session(&server.state.db, &sid)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2);
    assert!(queued.iter().all(|n| n.status == "pending"), "{queued:?}");
    assert!(rp1.received().is_empty() && rp2.received().is_empty());

    let second = Process::start(&server, &[("SIGNOFF_LOGOUT__WORKER_INTERVAL", "100ms")]).await;
    for (client_id, token) in [
        ("rp1", text(&t1, "access_token")),
        ("rp1", text(&t1, "refresh_token")),
        ("rp2", text(&t2, "access_token")),
    ] {
        let body: Value = http_client()
            .post(format!("{}/introspect", second.base))
            .basic_auth(client_id, Some(secret(client_id)))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body, serde_json::json!({ "active": false }), "{client_id}");
    }
    for (rp, client_id) in [(&rp1, "rp1"), (&rp2, "rp2")] {
        let got = rp.wait_for(1).await;
        let claims =
            validate_logout_token_at(&server.base, &got[0].logout_token(), client_id).await;
        assert_eq!(claims["sid"], sid.as_str());
    }
    let ended: Vec<String> = server
        .logged_events()
        .await
        .iter()
        .filter(|e| e.session_id.as_deref() == Some(sid.as_str()))
        .map(|e| e.reason.clone().unwrap_or_default())
        .collect();
    assert_eq!(ended, ["rp_initiated"]);
}

/// Upgrading a database that still has timestamp watermarks: a user or
/// client with a cut-off gets version 1, what it issued at or after the
/// cut-off records 1 (and stays valid), what came before records 0 (and is
/// void); a client's registration instant is no cut-off. Denylisted `jti`s
/// become `token_revoked` events.
#[tokio::test]
async fn upgrading_turns_watermarks_into_token_versions() {
    use sea_orm::{ConnectionTrait, Statement};
    use signoff_migrations::{Migrator, MigratorTrait};
    let dir = tempfile::TempDir::new().unwrap();
    let db = signoff::store::connect(&database_url(&dir).await)
        .await
        .unwrap();
    // The schema before the revocation log.
    Migrator::up(&db, Some(5)).await.unwrap();
    for sql in [
        "INSERT INTO users (id, username, password_hash, tokens_valid_after, created_at, updated_at) \
         VALUES ('alice', 'alice', 'x', 1000, 1, 1), ('bob', 'bob', 'x', 0, 1, 1)",
        "INSERT INTO clients (id, redirect_uris, post_logout_redirect_uris, scopes, grant_types, \
         id_token_signed_response_alg, access_token_format, created_at, tokens_valid_after) VALUES \
         ('registered', '[]', '[]', '[]', '[]', 'RS256', 'opaque', 500, 500), \
         ('revoked', '[]', '[]', '[]', '[]', 'RS256', 'opaque', 500, 2000)",
        "INSERT INTO access_tokens (token_hash, client_id, user_id, scope, issued_at, expires_at) VALUES \
         ('before', 'registered', 'alice', '', 999, 9999), \
         ('after', 'registered', 'alice', '', 1000, 9999), \
         ('bob', 'revoked', 'bob', '', 1999, 9999), \
         ('bob-later', 'revoked', 'bob', '', 2000, 9999)",
        "INSERT INTO sessions (id, cookie_hash, user_id, auth_time, amr, created_at, last_seen_at, \
         idle_expires_at, absolute_expires_at) VALUES \
         ('old', 'h1', 'alice', 900, 'pwd', 900, 900, 9999, 9999), \
         ('new', 'h2', 'alice', 1100, 'pwd', 1100, 1100, 9999, 9999)",
        "INSERT INTO revoked_jtis (jti, expires_at) VALUES ('jti-1', 4242)",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
    Migrator::up(&db, None).await.unwrap();

    let versions = |sql: &'static str| {
        let db = &db;
        async move {
            let rows = db
                .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap();
            rows.iter()
                .map(|r| {
                    (
                        r.try_get_by_index::<String>(0).unwrap(),
                        r.try_get_by_index::<i64>(1).unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let pairs = |v: &[(&str, i64)]| {
        v.iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        versions("SELECT id, token_version FROM users ORDER BY id").await,
        pairs(&[("alice", 1), ("bob", 0)])
    );
    assert_eq!(
        versions("SELECT id, token_version FROM clients ORDER BY id").await,
        pairs(&[("registered", 0), ("revoked", 1)])
    );
    assert_eq!(
        versions("SELECT token_hash, user_version FROM access_tokens ORDER BY token_hash").await,
        pairs(&[("after", 1), ("before", 0), ("bob", 0), ("bob-later", 0)])
    );
    assert_eq!(
        versions("SELECT token_hash, client_version FROM access_tokens ORDER BY token_hash").await,
        pairs(&[("after", 0), ("before", 0), ("bob", 0), ("bob-later", 1)])
    );
    assert_eq!(
        versions("SELECT id, user_version FROM sessions ORDER BY id").await,
        pairs(&[("new", 1), ("old", 0)])
    );
    let events = signoff::store::revocation_log::after(&db, 0, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].kind.as_str(),
            events[0].jti.as_deref(),
            events[0].retain_until
        ),
        ("token_revoked", Some("jti-1"), 4242)
    );
}
