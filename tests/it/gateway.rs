//! `signoff gateway`: the guard as a reverse proxy in front of a service in
//! any language (here a recording echo service), against a real Signoff
//! and its Shared Signals transmitter (guard_support).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use crate::guard_support::*;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

/// An upstream that records every request and answers 201.
async fn echo_service() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let app = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(Seen {
                    method,
                    uri: uri.to_string(),
                    headers,
                    body,
                });
                (
                    StatusCode::CREATED,
                    [("x-upstream", "yes")],
                    "from upstream",
                )
                    .into_response()
            }
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/svc", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, seen)
}

async fn gateway(rig: &Rig, upstream: &str) -> (String, signoff_guard::Guard) {
    let guard = rig.live_guard(rig.guard_builder()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let upstream = url::Url::parse(upstream).unwrap();
    let g = guard.clone();
    tokio::spawn(async move {
        let _ = signoff::gateway::serve(listener, g, upstream, std::future::pending()).await;
    });
    (base, guard)
}

#[tokio::test]
async fn gateway_forwards_the_verified_identity_and_strips_spoofed_headers() {
    let rig = Rig::start().await;
    let (upstream, seen) = echo_service().await;
    let (gw, _guard) = gateway(&rig, &upstream).await;
    let login = rig.login(WEB).await;
    let token = login["access_token"].as_str().unwrap();
    let sub = jwt_claims(token)["sub"].as_str().unwrap().to_owned();
    let http = http_client();

    let response = http
        .post(format!("{gw}/orders/7?expand=items"))
        .bearer_auth(token)
        .header("X-Signoff-Sub", "admin")
        .header("x-signoff-scope", "everything")
        .header("X-SIGNOFF-CLIENT", "trusted")
        .header("x-signoff-anything", "else")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .header("content-type", "application/json")
        .body(r#"{"qty":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-upstream"], "yes");
    assert_eq!(response.text().await.unwrap(), "from upstream");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.uri, "/svc/orders/7?expand=items");
    assert_eq!(request.body, Bytes::from_static(br#"{"qty":2}"#));
    let h = &request.headers;
    assert_eq!(
        h.get_all("x-signoff-sub").iter().collect::<Vec<_>>(),
        vec![sub.as_str()]
    );
    assert_eq!(h["x-signoff-scope"], "openid offline_access");
    assert_eq!(h["x-signoff-client"], WEB);
    assert!(h.get("x-signoff-anything").is_none());
    assert!(
        h.get("x-drop-me").is_none(),
        "RFC 9110 §7.6.1: Connection-listed headers are dropped"
    );
    assert_eq!(h["authorization"], format!("Bearer {token}"));

    // No token, a forged one: refused at the gateway, the service never hears of it.
    let refused = http
        .get(format!("{gw}/orders"))
        .header("x-signoff-sub", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let forged = http
        .get(format!("{gw}/orders"))
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        http.get(format!("{gw}/x"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn gateway_rejects_revoked_tokens_and_fails_closed_when_the_feed_is_stale() {
    let rig = Rig::start().await;
    let (upstream, seen) = echo_service().await;
    let (gw, _guard) = gateway(&rig, &upstream).await;
    let a = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status_of(&gw, &a).await, StatusCode::CREATED);
    // RFC 7009 at Signoff: the gateway learns it from the feed.
    let revoked = rig
        .server
        .http
        .post(rig.server.url("/revoke"))
        .basic_auth(WEB, Some(WEB_SECRET))
        .form(&[("token", a.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    eventually_status(&gw, &a, StatusCode::UNAUTHORIZED).await;
    assert_eq!(status_of(&gw, &b).await, StatusCode::CREATED);

    let forwarded = seen.lock().unwrap().len();
    rig.faults.down.store(true, Ordering::SeqCst);
    rig.server.clock.advance(6);
    assert_eq!(status_of(&gw, &b).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status_of(&gw, &a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        seen.lock().unwrap().len(),
        forwarded,
        "nothing reaches the service while the feed is stale"
    );
    rig.faults.down.store(false, Ordering::SeqCst);
    eventually_status(&gw, &b, StatusCode::CREATED).await;
    assert_eq!(seen.lock().unwrap().len(), forwarded + 1);
}

#[tokio::test]
async fn gateway_rejects_tokens_after_logout_everywhere_and_client_revoke_tokens_and_admits_new_ones()
 {
    let rig = Rig::start().await;
    let (upstream, seen) = echo_service().await;
    let (gw, _guard) = gateway(&rig, &upstream).await;
    let user = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = rig.job_token().await;
    assert_eq!(status_of(&gw, &user).await, StatusCode::CREATED);
    assert_eq!(status_of(&gw, &job).await, StatusCode::CREATED);

    rig.server.logout_everywhere(ALICE).await;
    eventually_status(&gw, &user, StatusCode::UNAUTHORIZED).await;
    assert_eq!(status_of(&gw, &job).await, StatusCode::CREATED);
    signoff::revocation::void_client_tokens(&rig.revoker(), JOB)
        .await
        .unwrap()
        .expect("a client");
    eventually_status(&gw, &job, StatusCode::UNAUTHORIZED).await;

    let forwarded = seen.lock().unwrap().len();
    let new_user = rig.login(WEB).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_job = rig.job_token().await;
    assert_eq!(status_of(&gw, &new_user).await, StatusCode::CREATED);
    assert_eq!(status_of(&gw, &new_job).await, StatusCode::CREATED);
    assert_eq!(status_of(&gw, &user).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&gw, &job).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        seen.lock().unwrap().len(),
        forwarded + 2,
        "only the new tokens reached the service"
    );
}

#[tokio::test]
async fn gateway_command_reads_its_secret_from_the_environment_or_a_file_never_argv() {
    let rig = Rig::start().await;
    let (upstream, seen) = echo_service().await;
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"))
        .args(["gateway", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--client-secret-file") && !help.contains("--client-secret "),
        "{help}"
    );

    let dir = tempfile::TempDir::new().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let command = |secret_env: Option<&str>, secret_file: Option<&std::path::Path>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_signoff"));
        c.current_dir(dir.path())
            .env_remove("SIGNOFF_GATEWAY_CLIENT_SECRET")
            .env("SIGNOFF_ISSUER", &rig.issuer)
            .args([
                "gateway",
                "--bind",
                &bind,
                "--upstream",
                &upstream,
                "--audience",
                API_AUD,
                "--client-id",
                GUARD,
            ]);
        if let Some(s) = secret_env {
            c.env("SIGNOFF_GATEWAY_CLIENT_SECRET", s);
        }
        if let Some(f) = secret_file {
            c.arg("--client-secret-file").arg(f);
        }
        c
    };
    let missing = command(None, None).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("SIGNOFF_GATEWAY_CLIENT_SECRET"));
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{GUARD_SECRET}\n")).unwrap();
    let both = command(Some(GUARD_SECRET), Some(&file)).output().unwrap();
    assert!(String::from_utf8_lossy(&both.stderr).contains("not both"));

    // A real gateway process, secret from the file.
    let mut child = command(None, Some(&file))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let token = rig.job_token().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = http_client()
            .get(format!("http://{bind}/hello"))
            .bearer_auth(&token)
            .send()
            .await
        {
            last = Some(r.status());
            if r.status() == StatusCode::CREATED {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(last, Some(StatusCode::CREATED));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.last().unwrap().headers["x-signoff-client"], JOB);
}

#[tokio::test]
async fn gateway_answers_502_when_the_upstream_is_down() {
    let rig = Rig::start().await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (gw, _guard) = gateway(&rig, &upstream).await;
    let token = rig.job_token().await;
    assert_eq!(status_of(&gw, &token).await, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn gateway_status_endpoints_report_the_feed() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = signoff::gateway::status_router(guard.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let status: serde_json::Value = http_client()
        .get(format!("{base}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["phase"], "live");
    assert_eq!(status["fresh"], true);
    assert_eq!(status["freshness_bound_ms"], 5000);
    let metrics = http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("signoff_guard_feed_fresh 1"), "{metrics}");
    assert!(metrics.contains("# TYPE signoff_guard_failed_closed_total counter"));
}
