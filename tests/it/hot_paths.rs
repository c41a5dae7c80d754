//! The hot paths' statement budgets (issue 16), counted with
//! `store::count_statements`, and the rule that lets them skip reads: a
//! cached opaque token row never outlives a revocation, on this instance or
//! another (`store::token_cache`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;
use crate::lifecycle::*;

/// POST /introspect at `base` as the `service` client, for its own token.
async fn introspect_own(http: &reqwest::Client, base: &str, token: &str) -> Value {
    http.post(format!("{base}/introspect"))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection request")
        .json()
        .await
        .expect("JSON introspection response")
}

async fn opaque_service_token(server: &TestServer) -> String {
    let token = service_token(server).await["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    assert!(token.split('.').count() < 3, "opaque, not a JWT: {token}");
    token
}

fn statements(server: &TestServer) -> u64 {
    server.statements.load(Ordering::Relaxed)
}

/// Background work (the view's tail, maintenance) shares the connection and
/// is counted too: a request's own count is the least of a few tries.
const TRIES: usize = 5;

#[tokio::test]
async fn introspecting_an_opaque_token_again_reads_no_token_row_only_the_callers_client() {
    let server = TestServer::start().await;
    let token = opaque_service_token(&server).await;
    let (first, body) = counted(&server, || {
        introspect_own(&server.http, &server.base, &token)
    })
    .await;
    assert_eq!(body["active"], true);
    let mut again = u64::MAX;
    for _ in 0..TRIES {
        let (n, body) = counted(&server, || {
            introspect_own(&server.http, &server.base, &token)
        })
        .await;
        assert_eq!(body["active"], true);
        again = again.min(n);
    }
    eprintln!("opaque introspection: {first} statements, then {again}");
    // The caller's client row; the token row comes from the cache.
    assert_eq!(again, 1, "first introspection ran {first}");
    assert!(first >= 2, "the first introspection read the token row");
}

#[tokio::test]
async fn a_cached_opaque_token_revoked_here_is_inactive_at_once() {
    let server = lifecycle_server().await;
    let token = opaque_service_token(&server).await;
    for _ in 0..2 {
        assert_eq!(
            introspect_own(&server.http, &server.base, &token).await["active"],
            true
        );
    }
    revoke_ok(&server, SERVICE, SERVICE_SECRET, &token, None).await;
    assert_eq!(
        introspect_own(&server.http, &server.base, &token).await,
        serde_json::json!({ "active": false })
    );
}

#[tokio::test]
async fn a_cached_opaque_token_revoked_on_another_instance_is_inactive_there_once_the_event_arrives()
 {
    let server = lifecycle_server().await;
    let other = second_instance(&server).await;
    let token = opaque_service_token(&server).await;
    // Cached on the other instance.
    for _ in 0..2 {
        assert_eq!(
            introspect_own(&server.http, &other.base, &token).await["active"],
            true
        );
    }
    assert!(!other.state.revocations.token_rows().is_empty());
    let mut applied = other.state.revocations.subscribe();
    revoke_ok(&server, SERVICE, SERVICE_SECRET, &token, None).await;
    let seq = server
        .logged_events()
        .await
        .last()
        .expect("the revocation's event")
        .seq;
    tokio::time::timeout(Duration::from_secs(10), applied.wait_for(|s| *s >= seq))
        .await
        .expect("the other instance applied the event within 10 s")
        .expect("the view is alive");
    assert_eq!(
        introspect_own(&server.http, &other.base, &token).await,
        serde_json::json!({ "active": false })
    );
}

/// Statements of one request, after a first one warmed the caches.
async fn counted<F, Fut, T>(server: &TestServer, request: F) -> (u64, T)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let before = statements(server);
    let out = request().await;
    (statements(server) - before, out)
}

#[tokio::test]
async fn issuing_refreshing_and_revoking_stay_within_their_statement_budgets() {
    let server = lifecycle_server().await;
    let _ = opaque_service_token(&server).await;
    let (mut issue, mut rotate, mut revoke) = (u64::MAX, u64::MAX, u64::MAX);
    let mut refresh_token = opaque_login(&server).await.refresh_token();
    for _ in 0..TRIES {
        let (n, _) = counted(&server, || opaque_service_token(&server)).await;
        issue = issue.min(n);

        let (n, response) = counted(&server, || {
            refresh(&server, FIRST, FIRST_SECRET, &refresh_token)
        })
        .await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        refresh_token = text(&response.json().await.unwrap(), "refresh_token");
        rotate = rotate.min(n);

        let token = opaque_service_token(&server).await;
        let (n, _) = counted(&server, || {
            revoke_ok(&server, SERVICE, SERVICE_SECRET, &token, None)
        })
        .await;
        revoke = revoke.min(n);
    }
    eprintln!(
        "statements: client_credentials opaque {issue}, refresh rotation {rotate}, revocation {revoke}"
    );
    // Both backends run 2, 7 and 5 on an idle machine (refresh records the
    // successor in its consuming UPDATE; /revoke reuses the token row it
    // read to authorize the call). Under heavy load (load average 14) one
    // PostgreSQL run counted one more for issuance, rotation and revocation in all
    // five tries: the view's background reads overlapped every try. One statement of
    // slack there.
    let postgres =
        u64::from(server.state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres);
    assert!(
        issue <= 2 + postgres,
        "client_credentials opaque ran {issue}"
    );
    assert!(rotate <= 7 + postgres, "refresh rotation ran {rotate}");
    assert!(revoke <= 5 + postgres, "revocation ran {revoke}");
}
