//! Group commit (`store::group_commit`): concurrent token writes share a
//! transaction, and every response is sent after its commit. A token the
//! client received survives `kill -9`; a job that fails or is refused in a
//! batch leaves the others' writes in place.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;
use crate::lifecycle::*;
use crate::revocation_restart::Process;

/// Run `requests` concurrently (each on its own task); their results in order.
async fn join_all<F>(requests: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = requests.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("request task"));
    }
    out
}

/// The refresh_token grant at `base` as `first`.
async fn refresh_at(base: String, refresh_token: String) -> Value {
    token_at(
        &base,
        FIRST,
        FIRST_SECRET,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
    )
    .await
}

/// POST /token at `base` with HTTP Basic client authentication.
async fn token_at(base: &str, client_id: &str, secret: &str, form: &[(&str, &str)]) -> Value {
    let response = http_client()
        .post(format!("{base}/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK, "token request refused");
    response.json().await.expect("token JSON")
}

async fn client_credentials_at(base: String) -> String {
    let body = token_at(
        &base,
        SERVICE,
        SERVICE_SECRET,
        &[("grant_type", "client_credentials")],
    )
    .await;
    text(&body, "access_token")
}

async fn revoke_at(base: String, client_id: &str, secret: &str, token: String) {
    let response = http_client()
        .post(format!("{base}/revoke"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("revocation request");
    assert_eq!(response.status(), StatusCode::OK, "revocation refused");
}

/// `kill -9` right after the responses: what they handed out (a
/// client_credentials token, a rotated pair) is valid after a restart on
/// the same database, and what was revoked stays revoked.
#[tokio::test]
async fn tokens_received_survive_a_crash_right_after_the_response() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    let to_revoke = service_token(&server).await;
    let to_revoke = text(&to_revoke, "access_token");

    let mut first = Process::start(&server, &[]).await;
    let issued = client_credentials_at(first.base.clone()).await;
    let rotated = refresh_at(first.base.clone(), login.refresh_token()).await;
    revoke_at(
        first.base.clone(),
        SERVICE,
        SERVICE_SECRET,
        to_revoke.clone(),
    )
    .await;
    first.crash();

    let second = Process::start(&server, &[]).await;
    let http = http_client();
    assert_eq!(
        introspect_at(&second.base, &http, &issued).await["active"],
        true,
        "client_credentials token"
    );
    assert_eq!(
        introspect_at(&second.base, &http, &text(&rotated, "access_token")).await["active"],
        true,
        "rotated access token"
    );
    // The successor refresh token works; the consumed one is spent.
    let again = refresh_at(second.base.clone(), text(&rotated, "refresh_token")).await;
    assert!(again["access_token"].is_string());
    assert_eq!(
        introspect_at(&second.base, &http, &to_revoke).await,
        serde_json::json!({ "active": false }),
        "revoked before the crash"
    );
}

/// Many concurrent client_credentials, refresh and revocation requests (so
/// that they share batches) all succeed; every token received is active,
/// every revoked one inactive.
#[tokio::test]
async fn concurrent_issuance_rotation_and_revocation_all_commit() {
    const ISSUES: usize = 24;
    const REFRESHES: usize = 4;
    const REVOKES: usize = 12;
    let server = lifecycle_server().await;
    let mut refresh_tokens = Vec::new();
    for _ in 0..REFRESHES {
        refresh_tokens.push(opaque_login(&server).await.refresh_token());
    }
    let mut to_revoke = Vec::new();
    for _ in 0..REVOKES {
        to_revoke.push(text(&service_token(&server).await, "access_token"));
    }
    let base = server.base.clone();

    let issues = join_all((0..ISSUES).map(|_| client_credentials_at(base.clone())));
    let refreshes = join_all(
        refresh_tokens
            .iter()
            .map(|rt| refresh_at(base.clone(), rt.clone())),
    );
    let revokes = join_all(
        to_revoke
            .iter()
            .map(|t| revoke_at(base.clone(), SERVICE, SERVICE_SECRET, t.clone())),
    );
    let (issued, rotated, _) = tokio::join!(issues, refreshes, revokes);

    for token in &issued {
        assert_active(&server, token).await;
    }
    for pair in &rotated {
        assert_active(&server, &text(pair, "access_token")).await;
        let body = introspect_by(&server, FIRST, FIRST_SECRET, &text(pair, "refresh_token")).await;
        assert_eq!(body["active"], true, "rotated refresh token: {body}");
    }
    for token in &to_revoke {
        assert_inactive(&server, token).await;
    }
    // And after a restart of the view: the same from the database alone.
    let later = second_instance(&server).await;
    for token in issued.iter().take(4) {
        assert_eq!(
            introspect_at(&later.base, &server.http, token).await["active"],
            true
        );
    }
    for token in to_revoke.iter().take(4) {
        assert_eq!(
            introspect_at(&later.base, &server.http, token).await["active"],
            false
        );
    }
}

/// A refresh token reused (no grace period) in the same burst as good
/// rotations and issuances: the reuse revokes its own family only, and
/// every other request of the burst gets tokens that are active.
#[tokio::test]
async fn a_refused_reuse_in_a_burst_does_not_fail_the_others() {
    let server = lifecycle_server_with(|c| c.tokens.refresh_reuse_grace = Duration::ZERO).await;
    let victim = opaque_login(&server).await;
    let first = refresh(&server, FIRST, FIRST_SECRET, &victim.refresh_token()).await;
    assert_eq!(first.status(), StatusCode::OK);
    let successor: Value = first.json().await.unwrap();
    let mut good = Vec::new();
    for _ in 0..3 {
        good.push(opaque_login(&server).await.refresh_token());
    }
    let base = server.base.clone();
    let reused = victim.refresh_token();

    let reuse = http_client()
        .post(format!("{base}/token"))
        .basic_auth(FIRST, Some(FIRST_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", reused.as_str()),
        ])
        .send();
    let rotations = join_all(good.iter().map(|rt| refresh_at(base.clone(), rt.clone())));
    let issues = join_all((0..8).map(|_| client_credentials_at(base.clone())));
    let (reuse, rotated, issued) = tokio::join!(reuse, rotations, issues);

    let reuse = reuse.expect("reuse request");
    assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The reuse revoked its family: the successor of the first rotation.
    assert_inactive(&server, &text(&successor, "access_token")).await;
    refresh_fails(
        &server,
        FIRST,
        FIRST_SECRET,
        &text(&successor, "refresh_token"),
    )
    .await;
    // Everything else of the burst committed.
    for pair in &rotated {
        assert_active(&server, &text(pair, "access_token")).await;
    }
    for token in &issued {
        assert_active(&server, token).await;
    }
}

/// One batch of client_credentials rows is inserted by a few multi-row
/// `INSERT`s (chunks of 16 and 4 rows for 20), not one statement per token;
/// every token is committed before its response.
#[tokio::test]
async fn a_batch_of_issued_tokens_is_inserted_by_a_few_statements() {
    const ISSUES: usize = 20;
    let server = lifecycle_server().await;
    let _ = client_credentials_at(server.base.clone()).await; // warm the client caches
    let commits = server.state.commits.clone();
    // Hold the committer until every request has queued its row.
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let hold = tokio::spawn(async move {
        commits
            .run(move |_| {
                Box::pin(async move {
                    let _ = released.await;
                    Ok(())
                })
            })
            .await
    });
    let base = server.base.clone();
    let issues = tokio::spawn(join_all(
        (0..ISSUES).map(move |_| client_credentials_at(base.clone())),
    ));
    tokio::time::timeout(Duration::from_secs(60), async {
        while server.state.commits.queued() < ISSUES {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every request queued its row within 60 s");
    let before = server.statements.load(std::sync::atomic::Ordering::Relaxed);
    release.send(()).unwrap();
    hold.await.unwrap().expect("the holding job");
    let issued = issues.await.unwrap();
    let statements = server.statements.load(std::sync::atomic::Ordering::Relaxed) - before;
    eprintln!("{ISSUES} client_credentials rows in one batch: {statements} statements");
    // 16 + 4 rows: two INSERTs (one per token before: 20). The rest of the
    // budget is background work sharing the counter (the view's tail).
    assert!(statements <= 5, "{statements} statements for {ISSUES} rows");
    for token in &issued {
        assert_active(&server, token).await;
    }
}
