//! How long a revocation takes from its commit to a Security Event Token at
//! a long-polling Shared Signals receiver (RFC 8936): one real Signoff
//! server, one poll stream; each iteration holds a poll
//! (`returnImmediately: false`), then "logs out everywhere" a user (one
//! `user_tokens_voided` event, the `tokens-revoked` SET) through the server,
//! and measures from just before that call until the held poll answers with
//! the SET. The poll and the revocation go to the same instance (another
//! instance adds the revocation view's propagation bound, see
//! revocation_propagation).
//!
//!     cargo bench --bench ssf_latency                      # SQLite
//!     SIGNOFF_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!         cargo bench --bench ssf_latency                  # PostgreSQL
//!     cargo bench --bench ssf_latency -- 200               # iterations (default 1000)

#[path = "../tests/it/common/mod.rs"]
mod common;
// Only part of the fixtures is used here.
#[allow(dead_code)]
#[path = "../tests/it/ssf_support.rs"]
mod ssf_support;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use ssf_support::*;

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let database =
        if std::env::var("SIGNOFF_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
            "PostgreSQL"
        } else {
            "SQLite"
        };
    let server = TestServer::with(|c| c.ssf.long_poll_timeout = Duration::from_secs(10)).await;
    add_receivers(&server).await;
    let token = receiver_token(&server, RS).await;
    let stream = poll_stream(&server, &token).await;
    drain(&server, &token, &stream).await;
    let endpoint = stream["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut samples = Vec::with_capacity(iterations);
    let mut ack: Vec<String> = Vec::new();
    while samples.len() < iterations {
        let held = {
            let http = server.http.clone();
            let endpoint = endpoint.clone();
            let token = token.clone();
            let body = json!({ "ack": ack, "returnImmediately": false });
            tokio::spawn(async move {
                let body: Value = http
                    .post(endpoint)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (Instant::now(), body)
            })
        };
        // Let the poll reach the server and be held (a benchmark, not a test).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let start = Instant::now();
        server.logout_everywhere(ALICE).await;
        let (arrived, body) = held.await.unwrap();
        let sets = body["sets"].as_object().cloned().unwrap_or_default();
        ack = sets.keys().cloned().collect();
        if sets.is_empty() {
            continue;
        }
        samples.push(arrived.saturating_duration_since(start));
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    println!("| database | iterations | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {database} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0)
    );
}
