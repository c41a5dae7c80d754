//! Back-Channel Logout 1.0 over HTTP: two relying parties sharing one
//! session both receive valid logout tokens, whoever ends the session
//! (either RP, an administrator), and the session's tokens stop working at
//! once. Delivery survives an RP that is down, and a restart of Signoff.

use std::sync::Arc;
use std::time::Duration;

use crate::common::TestServer;
use crate::logout_support::*;
use signoff::clock::{Clock, MockClock};
use signoff::random::OsRandom;
use signoff::store::logout_outbox;
use signoff::{AppState, Config};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

async fn server() -> TestServer {
    TestServer::with(|c| {
        c.logout.worker_interval = Duration::from_millis(100);
        c.logout.retry_base = Duration::from_secs(30);
    })
    .await
}

/// Two RPs, each with its own back-channel endpoint, signed in to in one
/// browser session: (rp1, rp2, browser, rp1 tokens, rp2 tokens).
async fn shared_session(
    server: &TestServer,
) -> (
    TestRp,
    TestRp,
    crate::common::Browser,
    serde_json::Value,
    serde_json::Value,
) {
    let rp1 = TestRp::start().await;
    let rp2 = TestRp::start().await;
    server.add_client(rp_client("rp1", &rp1)).await;
    server.add_client(rp_client("rp2", &rp2)).await;
    let browser = server.browser();
    let t1 = sign_in(server, &browser, "rp1", "openid offline_access").await;
    let t2 = sign_in(server, &browser, "rp2", "openid").await;
    (rp1, rp2, browser, t1, t2)
}

fn sid_of(tokens: &serde_json::Value) -> String {
    crate::common::jwt_claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .expect("sid in the ID token")
        .to_owned()
}

async fn assert_both_notified(
    server: &TestServer,
    rp1: &TestRp,
    rp2: &TestRp,
    sid: &str,
    sub: &str,
) {
    for (rp, client_id) in [(rp1, "rp1"), (rp2, "rp2")] {
        let got = rp.wait_for(1).await;
        assert_eq!(got.len(), 1, "{client_id} notified once");
        assert!(
            got[0]
                .content_type
                .starts_with("application/x-www-form-urlencoded"),
            "content type {}",
            got[0].content_type
        );
        let claims = validate_logout_token(server, &got[0].logout_token(), client_id).await;
        assert_eq!(claims["sid"], sid);
        assert_eq!(claims["sub"], sub);
    }
}

async fn assert_tokens_dead(server: &TestServer, t1: &serde_json::Value, t2: &serde_json::Value) {
    assert!(!is_active(server, "rp1", t1["access_token"].as_str().unwrap()).await);
    assert!(!is_active(server, "rp1", t1["refresh_token"].as_str().unwrap()).await);
    assert!(!is_active(server, "rp2", t2["access_token"].as_str().unwrap()).await);
    let refreshed = server
        .token_request(
            "rp1",
            &secret("rp1"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t1["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    crate::common::assert_oauth_error(refreshed, reqwest::StatusCode::BAD_REQUEST, "invalid_grant")
        .await;
}

#[tokio::test]
async fn logging_out_of_one_rp_notifies_both_and_kills_their_tokens() {
    let server = server().await;
    let (rp1, rp2, browser, t1, t2) = shared_session(&server).await;
    assert!(is_active(&server, "rp2", t2["access_token"].as_str().unwrap()).await);
    let sid = sid_of(&t1);
    assert_eq!(sid, sid_of(&t2), "one SSO session");
    let sub = crate::common::jwt_claims(t1["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    // rp2 starts the logout (third-party: the user confirms).
    let hint = t2["id_token"].as_str().unwrap();
    let (at, landing) = end_session(
        &server,
        &browser,
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", &post_logout_uri("rp2")),
            ("state", "bye"),
        ],
    )
    .await;
    let crate::common::Landing::Page { body, .. } = &landing else {
        panic!("expected the confirmation page, got {landing:?}");
    };
    let form = crate::common::parse_forms(&at, body).remove(0);
    let mut form = form;
    form.fields.push(("decision".into(), "logout".into()));
    let (_, landing) = browser.post_form(&server, &form).await;
    let back = landing.redirect();
    assert!(back.as_str().starts_with(&post_logout_uri("rp2")));
    assert_eq!(crate::common::query_map(&back)["state"], "bye");

    assert_tokens_dead(&server, &t1, &t2).await;
    assert_eq!(
        prompt_none(&server, &browser, "rp1").await,
        "login_required"
    );
    assert_both_notified(&server, &rp1, &rp2, &sid, &sub).await;
    // Every row is marked delivered, none left pending. The RP receives the
    // request before the worker records the answer, so wait for the mark.
    wait_rows(&server.state.db, &sid, "both delivered", |rows| {
        rows.len() == 2 && rows.iter().all(|r| r.status == "delivered")
    })
    .await;
}

#[tokio::test]
async fn an_administrator_ending_the_session_notifies_both() {
    let server = server().await;
    let (rp1, rp2, browser, t1, t2) = shared_session(&server).await;
    let sid = sid_of(&t1);
    let sub = crate::common::jwt_claims(t1["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    // What `signoff session revoke SID` runs.
    signoff::session::admin::revoke_session(&server.state.revoker(), &sid)
        .await
        .expect("revoke");
    assert_both_notified(&server, &rp1, &rp2, &sid, &sub).await;
    assert_tokens_dead(&server, &t1, &t2).await;
    assert_eq!(
        prompt_none(&server, &browser, "rp2").await,
        "login_required"
    );
    // Ending it again is an error and notifies nobody twice.
    assert!(
        signoff::session::admin::revoke_session(&server.state.revoker(), &sid)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rp1.received().len(), 1);
}

#[tokio::test]
async fn the_logout_everywhere_command_notifies_relying_parties() {
    let server = server().await;
    let (rp1, rp2, browser, t1, t2) = shared_session(&server).await;
    let sid = sid_of(&t1);
    let sub = crate::common::jwt_claims(t1["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    // The real binary, on the server's database, as an operator would.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"))
        .args(["user", "logout-everywhere", crate::common::ALICE])
        .env("SIGNOFF_DATABASE_URL", &server.state.config.database_url)
        .env("SIGNOFF_LOG", "warn")
        .output()
        .expect("run signoff");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The command stamped its rows with the real time, which has moved on
    // from the server's test clock.
    server.clock.advance(120);
    assert_both_notified(&server, &rp1, &rp2, &sid, &sub).await;
    assert_tokens_dead(&server, &t1, &t2).await;
    assert_eq!(
        prompt_none(&server, &browser, "rp1").await,
        "login_required"
    );

    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"))
        .args(["logout-deliveries", "list"])
        .env("SIGNOFF_DATABASE_URL", &server.state.config.database_url)
        .output()
        .expect("run signoff");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.contains("client=rp1") && listed.contains("client=rp2"),
        "{listed}"
    );
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_from_the_command_line() {
    let server = server().await;
    let (rp1, _rp2, _browser, t1, _t2) = shared_session(&server).await;
    let sid = sid_of(&t1);
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_signoff"))
            .args(args)
            .env("SIGNOFF_DATABASE_URL", &server.state.config.database_url)
            .env("SIGNOFF_LOG", "warn")
            .output()
            .expect("run signoff")
    };
    let listed = run(&["session", "list", "--user", crate::common::ALICE]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains(&sid), "{listed}");
    assert!(listed.contains("apps=rp1,rp2"), "{listed}");
    let revoked = run(&["session", "revoke", &sid]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    server.clock.advance(120);
    rp1.wait_for(1).await;
    let listed = run(&["session", "list"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&sid));
    assert!(!run(&["session", "revoke", &sid]).status.success());
}

/// Wait (bounded) until `check` holds for the session's outbox rows.
async fn wait_rows(
    db: &sea_orm::DatabaseConnection,
    sid: &str,
    what: &str,
    check: impl Fn(&[logout_outbox::Notification]) -> bool,
) -> Vec<logout_outbox::Notification> {
    for _ in 0..200 {
        let rows = logout_outbox::of_session(db, sid).await.unwrap();
        if check(&rows) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "outbox rows never became {what}: {:?}",
        logout_outbox::of_session(db, sid).await
    );
}

#[tokio::test]
async fn delivery_is_retried_until_the_rp_is_up() {
    let server = server().await;
    let mut rp = TestRp::down().await;
    server.add_client(rp_client("rp1", &rp)).await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "rp1", "openid").await;
    let sid = sid_of(&tokens);
    signoff::session::admin::revoke_session(&server.state.revoker(), &sid)
        .await
        .unwrap();
    // The first attempt fails; the row waits for its retry.
    let rows = wait_rows(&server.state.db, &sid, "attempted", |r| {
        r.len() == 1 && r[0].attempts == 1 && r[0].last_error.is_some()
    })
    .await;
    assert_eq!(rows[0].status, "pending");
    assert!(rows[0].next_attempt_at > server.clock.now(), "back-off");

    rp.come_up().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rp.received().is_empty(),
        "no retry before the back-off is over"
    );
    server.clock.advance(31);
    let got = rp.wait_for(1).await;
    validate_logout_token(&server, &got[0].logout_token(), "rp1").await;
    wait_rows(&server.state.db, &sid, "delivered", |r| {
        r[0].status == "delivered"
    })
    .await;
}

#[tokio::test]
async fn an_rp_refusing_the_token_is_a_recorded_permanent_failure() {
    let server = server().await;
    let rp = TestRp::start().await;
    rp.answer_with(400);
    server.add_client(rp_client("rp1", &rp)).await;
    let browser = server.browser();
    let tokens = sign_in(&server, &browser, "rp1", "openid").await;
    let sid = sid_of(&tokens);
    signoff::session::admin::revoke_session(&server.state.revoker(), &sid)
        .await
        .unwrap();
    let rows = wait_rows(&server.state.db, &sid, "failed", |r| {
        r.len() == 1 && r[0].status == "failed"
    })
    .await;
    assert_eq!(rows[0].last_error.as_deref(), Some("HTTP 400"));
    let failed = logout_outbox::list(&server.state.db, Some("failed"), 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
}

/// A Signoff instance started on an existing database, as a restarted
/// process would be.
struct Instance {
    state: AppState,
    clock: MockClock,
    stop: Option<oneshot::Sender<()>>,
}

impl Instance {
    async fn start(config: Config, clock: MockClock) -> Self {
        let listener = TcpListener::bind(config.bind).await.expect("bind");
        let db = signoff::store::connect(&config.database_url).await.unwrap();
        signoff::store::migrate(&db).await.unwrap();
        let state = AppState::new(config, db, Arc::new(clock.clone()), Arc::new(OsRandom))
            .await
            .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let _ = signoff::serve(listener, served, async {
                let _ = rx.await;
            })
            .await;
        });
        Instance {
            state,
            clock,
            stop: Some(tx),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Wait (bounded) until nothing listens on `addr` any more: the server
/// returned from `serve`, which stops its delivery worker.
async fn wait_until_down(addr: std::net::SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the first server is still listening on {addr}");
}

#[tokio::test]
async fn queued_notifications_survive_a_restart() {
    // The database outlives the first server (SQLite: a file of this test;
    // PostgreSQL: the server's own database, which is never dropped).
    let dir = tempfile::TempDir::new().unwrap();
    let file = format!("sqlite://{}/restart.db?mode=rwc", dir.path().display());
    let first = TestServer::with(|c| {
        c.logout.worker_interval = Duration::from_millis(100);
        c.logout.retry_base = Duration::from_secs(30);
        if c.database_url.starts_with("sqlite") {
            c.database_url = file;
        }
    })
    .await;
    let mut rp = TestRp::down().await;
    first.add_client(rp_client("rp1", &rp)).await;
    let browser = first.browser();
    let tokens = sign_in(&first, &browser, "rp1", "openid").await;
    let sid = sid_of(&tokens);
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    // rp1 is not first-party: the user confirms on the page.
    let (at, landing) = end_session(&first, &browser, &[("id_token_hint", &hint)]).await;
    let crate::common::Landing::Page { body, .. } = &landing else {
        panic!("expected the confirmation page: {landing:?}");
    };
    let mut form = crate::common::parse_forms(&at, body).remove(0);
    form.fields.push(("decision".into(), "logout".into()));
    browser.post_form(&first, &form).await;
    // Wait for the failed attempt to be recorded with its back-off, not
    // just claimed: a claim alone holds the row under a 60 s lease.
    wait_rows(&first.state.db, &sid, "attempted once", |r| {
        r.len() == 1 && r[0].attempts == 1 && r[0].status == "pending" && r[0].last_error.is_some()
    })
    .await;

    // Signoff goes down; a new process starts on the same database and
    // address, and the RP is up again.
    let config = first.state.config.clone();
    let base = first.base.clone();
    let now = first.clock.now();
    drop(first);
    wait_until_down(config.bind).await;
    rp.come_up().await;
    let clock = MockClock::starting_now();
    clock.set(now);
    let second = Instance::start(config, clock).await;
    assert!(rp.received().is_empty(), "still backing off");
    second.clock.advance(31);
    let got = rp.wait_for(1).await;
    let claims = validate_logout_token_at(&base, &got[0].logout_token(), "rp1").await;
    assert_eq!(claims["sid"], sid);
    let rows = wait_rows(&second.state.db, &sid, "delivered", |r| {
        r.len() == 1 && r[0].status == "delivered"
    })
    .await;
    assert_eq!(rows[0].attempts, 2);
}
