//! The hot paths' statement budgets (issue 16), counted with
//! `store::count_statements`, and the rule that lets them skip reads: a
//! cached opaque token row never outlives a revocation, on this instance or
//! another (`store::token_cache`); client rows likewise
//! (`store::client_cache`, tested in client_cache.rs).

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
async fn introspecting_an_opaque_token_again_runs_no_statement() {
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
    // The caller's client row and the token row both come from caches.
    assert_eq!(again, 0, "first introspection ran {first}");
    assert!(first >= 1, "the first introspection read the token row");
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
    // With the client row cached (no read on any of these) and the token
    // writes group-committed, client_credentials runs 1 (the token insert),
    // refresh rotation at most 7 (the successor is recorded in the consuming
    // UPDATE) and revocation at most 5 (the token row read to authorize the
    // call is reused). Under heavy load (load average 14) one PostgreSQL run
    // counted one more in all five tries: the view's background reads
    // overlapped every try. One statement of slack there.
    let postgres =
        u64::from(server.state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres);
    assert!(
        issue <= 1 + postgres,
        "client_credentials opaque ran {issue}"
    );
    assert!(rotate <= 7 + postgres, "refresh rotation ran {rotate}");
    assert!(revoke <= 5 + postgres, "revocation ran {revoke}");
}

/// The SSO flow's two requests (issue 16): `GET /authorize` with a session
/// cookie and the consent on record → 302 with a code, and the code's
/// redemption (PKCE, RS256 ID token, refresh token); and the login page's
/// POST of the password flow.
#[tokio::test]
async fn the_code_flow_with_an_sso_session_and_the_login_post_stay_within_their_statement_budgets()
{
    let server = lifecycle_server().await;
    let scope = "openid profile offline_access";
    let url = auth_url(&server, APP, APP_REDIRECT, scope, CHALLENGE);
    let browser = server.browser();
    // Signs in and consents once.
    let code = code_in(&browser, &server, &url).await;
    let _ = token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
    let (mut authorize, mut exchange, mut login) = (u64::MAX, u64::MAX, u64::MAX);
    for _ in 0..TRIES {
        let (n, (_, landing)) = counted(&server, || browser.go(&server, &url)).await;
        authorize = authorize.min(n);
        let code = landing
            .param("code")
            .unwrap_or_else(|| panic!("a code without a page: {landing:?}"));

        let (n, response) = counted(&server, || {
            redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT)
        })
        .await;
        let tokens = token_json(response).await;
        assert!(tokens["refresh_token"].is_string(), "{tokens}");
        assert!(tokens["id_token"].is_string(), "{tokens}");
        exchange = exchange.min(n);

        // A new browser: the login page, then its POST (counted), which
        // answers with the code since the consent is on record.
        let fresh = server.browser();
        let (at, page) = fresh.go(&server, &url).await;
        let Landing::Page { body, .. } = page else {
            panic!("the login page: {page:?}")
        };
        let (n, (_, landing)) = counted(&server, || {
            fresh.login(&server, &at, &body, ALICE, ALICE_PASSWORD)
        })
        .await;
        assert!(landing.param("code").is_some(), "{landing:?}");
        login = login.min(n);
    }
    eprintln!(
        "statements: SSO authorize {authorize}, code exchange {exchange}, login POST {login}"
    );
    // SQLite, before/after issue 16's cuts: authorize 8 → 7 (the session
    // and its user are one read), exchange 11 → 8 (the user is not read
    // twice, the consumed code not read back), login POST 13 → 14.
    let postgres =
        u64::from(server.state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres);
    assert!(authorize <= 7 + postgres, "SSO authorize ran {authorize}");
    assert!(exchange <= 8 + postgres, "code exchange ran {exchange}");
    assert!(login <= 14 + postgres, "login POST ran {login}");
}

/// RFC 7009 §2.2: an unknown token is answered 200 and changes nothing.
#[tokio::test]
async fn revoking_an_unknown_token_stays_within_its_statement_budget() {
    let server = lifecycle_server().await;
    let _ = opaque_service_token(&server).await;
    let mut unknown = u64::MAX;
    for i in 0..TRIES {
        let token = format!("no-such-token-{i}-0123456789abcdefghijkl");
        let hint = (i % 2 == 1).then_some("refresh_token");
        let (n, _) = counted(&server, || {
            revoke_ok(&server, SERVICE, SERVICE_SECRET, &token, hint)
        })
        .await;
        unknown = unknown.min(n);
    }
    eprintln!("statements: revocation of an unknown token {unknown}");
    // One search of both token kinds; the caller's client row is cached (3
    // before issue 16: the client row, then one read per kind).
    let postgres =
        u64::from(server.state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres);
    assert!(
        unknown <= 1 + postgres,
        "revocation of an unknown token ran {unknown}"
    );
}
