//! How long a revocation committed on one instance takes to count on
//! another instance sharing the database (revocation.consistency =
//! "eventual"): two real Signoff instances, each with its own connection
//! pool, revocation view and tail, on one database.
//!
//! - `view`: instance A commits a `token_revoked` event (a JWT's `jti`);
//!   measured from A's commit returning until B's view has applied it (B's
//!   `RevocationView::subscribe` wakes up).
//! - `http`: a client_credentials JWT is revoked with `POST /revoke` at A;
//!   measured from A's 200 until `POST /introspect` at B (polled back to back)
//!   answers `active: false`.
//!
//! Iterations are spaced by a random 0-150 ms so that every phase of the
//! polling interval is sampled.
//!
//!     cargo bench --bench revocation_propagation                 # SQLite (polling)
//!     SIGNOFF_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!         cargo bench --bench revocation_propagation             # PostgreSQL (LISTEN + polling)
//!     cargo bench --bench revocation_propagation -- 1000         # iterations per path (default 500)

#[path = "../tests/it/common/mod.rs"]
mod common;
// Only part of the test fixtures is used here.
#[allow(dead_code)]
#[path = "../tests/it/lifecycle.rs"]
mod lifecycle;

use std::time::{Duration, Instant};

use common::*;
use lifecycle::*;
use signoff::admin::ClientSpec;
use signoff::clock::Clock;
use signoff::random::{OsRandom, Random, identifier};
use signoff::revocation::{SingleToken, Transaction};

const API: &str = "bench-api";
const API_SECRET: &str = "bench-api-secret-0123456789";

fn jitter() -> Duration {
    let mut b = [0u8; 2];
    OsRandom.fill(&mut b);
    Duration::from_millis(u64::from(u16::from_le_bytes(b)) % 150)
}

fn report(database: &str, path: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    println!(
        "| {database} | {path} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0)
    );
}

async fn jwt_of_api(server: &TestServer) -> String {
    let body = token_json(
        server
            .token_request(API, API_SECRET, &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    text(&body, "access_token")
}

fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("iterations: a number"))
        .unwrap_or(500);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let server = TestServer::start().await;
        server
            .add_client(ClientSpec {
                id: API.into(),
                secret: Some(API_SECRET.into()),
                scopes: vec!["api.read".into()],
                grant_types: vec!["client_credentials".into()],
                access_token_format: Some("jwt".into()),
                ..ClientSpec::default()
            })
            .await;
        let other = second_instance(&server).await;
        let database = if server.state.config.database_url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        println!(
            "poll_interval {:?}, {iterations} iterations per path",
            server.state.config.revocation.poll_interval
        );
        println!("| database | path | n | p50 ms | p90 ms | p99 ms | max ms |");
        println!("|---|---|---:|---:|---:|---:|---:|");

        let mut view = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            tokio::time::sleep(jitter()).await;
            let mut applied = other.state.revocations.subscribe();
            let jti = identifier(&OsRandom);
            let mut tx = Transaction::begin(server.state.revoker()).await.unwrap();
            tx.revoke_token(SingleToken::Jwt {
                jti: &jti,
                client_id: API,
                user_id: None,
                expires_at: server.clock.now() + 600,
            })
            .await
            .unwrap();
            let seq = tx.commit().await.unwrap()[0].seq;
            let committed = Instant::now();
            applied.wait_for(|s| *s >= seq).await.unwrap();
            view.push(committed.elapsed());
        }
        report(database, "view", view);

        let mut http = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let token = jwt_of_api(&server).await;
            tokio::time::sleep(jitter()).await;
            let response = server
                .http
                .post(server.url("/revoke"))
                .basic_auth(API, Some(API_SECRET))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let committed = Instant::now();
            loop {
                let body: serde_json::Value = server
                    .http
                    .post(format!("{}/introspect", other.base))
                    .basic_auth(API, Some(API_SECRET))
                    .form(&[("token", token.as_str())])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if body["active"] == false {
                    break;
                }
                assert!(committed.elapsed() < Duration::from_secs(10), "never seen");
            }
            http.push(committed.elapsed());
        }
        report(database, "http", http);
    });
}
