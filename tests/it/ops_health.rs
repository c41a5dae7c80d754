//! Probes and request ids over HTTP; a database outage answered with 503s
//! and recovered from without a restart.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use url::Url;

use crate::common::*;

#[tokio::test]
async fn readyz_is_ready_with_a_json_status_when_everything_works() {
    let server = TestServer::start().await;
    let response = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["revocation_lag"], 0, "{body}");
    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_plain_request_id_is_echoed_and_anything_else_replaced() {
    let server = TestServer::start().await;
    let sent = server
        .http
        .get(server.url("/jwks"))
        .header("x-request-id", "lb-1234.abc_def:9")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.headers()["x-request-id"], "lb-1234.abc_def:9");

    let generated = server
        .http
        .get(server.url("/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(generated.status(), StatusCode::NOT_FOUND);
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(id.len() >= 16, "{id}");

    // A value that could forge log fields is not trusted.
    let replaced = server
        .http
        .get(server.url("/jwks"))
        .header("x-request-id", "x\" status=200")
        .send()
        .await
        .unwrap();
    let echoed = replaced.headers()["x-request-id"].to_str().unwrap();
    assert!(!echoed.contains('"') && !echoed.contains(' '), "{echoed}");
    assert_ne!(echoed, id, "each generated id is new");
}

/// Poll `/readyz` until it answers `status`.
async fn wait_ready_status(server: &TestServer, status: StatusCode) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let response = server.http.get(server.url("/readyz")).send().await.unwrap();
        let got = response.status();
        let body: Value = response.json().await.unwrap();
        if got == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz stayed {got}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PostgreSQL refusing connections (a restart, a failover): readiness
/// fails, protocol endpoints answer 503 `temporarily_unavailable` (never
/// 500), and both recover once it is back, without restarting Signoff.
#[tokio::test]
async fn a_database_outage_is_503_not_500_and_recovers_without_restart() {
    let Ok(admin_url) = std::env::var("SIGNOFF_TEST_DATABASE_URL") else {
        eprintln!("skipped: a database outage needs PostgreSQL (SIGNOFF_TEST_DATABASE_URL)");
        return;
    };
    if !admin_url.starts_with("postgres") {
        eprintln!("skipped: a database outage needs PostgreSQL");
        return;
    }
    let server = TestServer::start().await;
    let name = Url::parse(&server.state.config.database_url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let admin = Database::connect(&admin_url).await.unwrap();
    let outage = |allow: bool| format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {allow}");
    admin.execute_unprepared(&outage(false)).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();

    let down = wait_ready_status(&server, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(down["status"], "unavailable", "{down}");
    assert!(
        down["reason"].as_str().unwrap().contains("database"),
        "{down}"
    );
    let token = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert!(token.headers().contains_key("retry-after"));
    assert_oauth_error(
        token,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    let page = server
        .http
        .get(auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);

    admin.execute_unprepared(&outage(true)).await.unwrap();
    let up = wait_ready_status(&server, StatusCode::OK).await;
    assert_eq!(up["status"], "ready", "{up}");
    let issued = service_token(&server).await;
    assert!(issued["access_token"].is_string(), "{issued}");
}
