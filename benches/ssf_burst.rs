//! Shared Signals push delivery (RFC 8935) and the logout burst, on one
//! real Signoff server with a push receiver on loopback that answers 202.
//!
//! 1. Push latency: one push stream; each iteration "logs out everywhere"
//!    a user (one `user_tokens_voided` event, one `tokens-revoked` SET) and
//!    measures from just before that call until the receiver has the SET.
//! 2. Burst: one user with 100 sessions, 10 streams of one receiver (5 push,
//!    5 long-polling), each asking for `session-revoked`; the user is logged
//!    out everywhere and the time until the last of the 1,000 SETs is
//!    delivered is measured.
//!
//! ```text
//! cargo bench --bench ssf_burst                      # SQLite
//! SIGNOFF_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --bench ssf_burst                  # PostgreSQL
//! cargo bench --bench ssf_burst -- 200               # push iterations (default 1000)
//! ```

#[path = "../tests/it/common/mod.rs"]
mod common;
// Only part of the fixtures is used here.
#[allow(dead_code)]
#[path = "../tests/it/ssf_support.rs"]
mod ssf_support;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use common::*;
use serde_json::{Value, json};
use signoff::clock::Clock;
use signoff::store::sessions::{self, NewSession};
use ssf_support::*;
use tokio::sync::mpsc;

const SESSIONS: usize = 100;
const PUSH_STREAMS: usize = 5;
const POLL_STREAMS: usize = 5;

type Arrivals = mpsc::UnboundedSender<(usize, Instant)>;

async fn receive(State(tx): State<Arrivals>, Path(n): Path<usize>) -> StatusCode {
    let _ = tx.send((n, Instant::now()));
    // RFC 8935 §2.2: accepted.
    StatusCode::ACCEPTED
}

/// A push receiver on loopback: `http://addr/events/{n}`; arrivals by `n`.
async fn start_receiver() -> (String, mpsc::UnboundedReceiver<(usize, Instant)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/events/{n}", post(receive))
        .with_state(tx);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/events"), rx)
}

async fn push_stream(server: &TestServer, token: &str, url: &str, event: &str) -> Value {
    let r = create_stream(
        server,
        token,
        &json!({ "delivery": { "method": PUSH, "endpoint_url": url }, "events_requested": [event] }),
    )
    .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

fn quantile(samples: &[Duration], q: f64) -> f64 {
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i].as_secs_f64() * 1000.0
}

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
    let server = TestServer::with(|c| {
        c.ssf.push_allow_private = true;
        c.ssf.max_streams_per_client = 20;
        c.ssf.long_poll_timeout = Duration::from_secs(10);
    })
    .await;
    add_receivers(&server).await;
    let token = receiver_token(&server, RS).await;
    let (base, mut arrivals) = start_receiver().await;

    // 1. Push latency.
    let stream = push_stream(&server, &token, &format!("{base}/0"), TOKENS_REVOKED).await;
    let mut samples = Vec::with_capacity(iterations);
    let mut lost = 0;
    for _ in 0..iterations {
        while arrivals.try_recv().is_ok() {}
        let start = Instant::now();
        server.logout_everywhere(ALICE).await;
        match tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await {
            Ok(Some((_, at))) => samples.push(at.saturating_duration_since(start)),
            _ => lost += 1,
        }
    }
    samples.sort();
    println!("| database | delivery | iterations | lost | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {database} | push (RFC 8935) | {} | {lost} | {:.1} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        quantile(&samples, 0.50),
        quantile(&samples, 0.90),
        quantile(&samples, 0.99),
        quantile(&samples, 1.0)
    );
    let endpoint = server.url("/ssf/streams");
    let id = stream["stream_id"].as_str().unwrap();
    server
        .http
        .delete(format!("{endpoint}?stream_id={id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    // 2. The burst.
    for n in 1..=PUSH_STREAMS {
        push_stream(&server, &token, &format!("{base}/{n}"), SESSION_REVOKED).await;
    }
    let mut polls = Vec::new();
    for _ in 0..POLL_STREAMS {
        let r = create_stream(
            &server,
            &token,
            &json!({ "delivery": { "method": POLL }, "events_requested": [SESSION_REVOKED] }),
        )
        .await;
        assert_eq!(r.status(), 201);
        let stream: Value = r.json().await.unwrap();
        drain(&server, &token, &stream).await;
        polls.push(stream);
    }
    let alice = server.user_id(ALICE).await;
    let version = signoff::store::users::find(&server.state.db, &alice)
        .await
        .unwrap()
        .unwrap()
        .token_version;
    let now = server.clock.now();
    for i in 0..SESSIONS {
        sessions::insert(
            &server.state.db,
            NewSession {
                id: &format!("burst-session-{i}"),
                cookie_hash: &format!("burst-cookie-hash-{i}"),
                user_id: &alice,
                amr: "[\"pwd\"]",
                now,
                idle_ttl: 3600,
                absolute_ttl: 86_400,
                user_agent: None,
                ip: None,
                user_version: version,
            },
        )
        .await
        .unwrap();
    }
    while arrivals.try_recv().is_ok() {}
    let mut pollers = Vec::new();
    for stream in polls {
        let http = server.http.clone();
        let token = token.clone();
        pollers.push(tokio::spawn(async move {
            let endpoint = stream["delivery"]["endpoint_url"]
                .as_str()
                .unwrap()
                .to_owned();
            let (mut got, mut ack, mut last) = (0, Vec::<String>::new(), None);
            while got < SESSIONS {
                let body: Value = http
                    .post(&endpoint)
                    .bearer_auth(&token)
                    .json(&json!({ "ack": ack, "returnImmediately": false, "maxEvents": 500 }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let sets = body["sets"].as_object().cloned().unwrap_or_default();
                if !sets.is_empty() {
                    last = Some(Instant::now());
                }
                got += sets.len();
                ack = sets.keys().cloned().collect();
            }
            // Acknowledge the last batch.
            let _ = http
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&json!({ "ack": ack, "maxEvents": 0 }))
                .send()
                .await;
            last.unwrap()
        }));
    }
    let start = Instant::now();
    server.logout_everywhere(ALICE).await;
    let mut pushed = [0usize; PUSH_STREAMS + 1];
    let mut last_push = start;
    while pushed[1..].iter().any(|&n| n < SESSIONS) {
        match tokio::time::timeout(Duration::from_secs(30), arrivals.recv()).await {
            Ok(Some((n, at))) => {
                pushed[n] += 1;
                last_push = last_push.max(at);
            }
            _ => panic!("push deliveries stopped at {pushed:?}"),
        }
    }
    let mut last_poll = start;
    for p in pollers {
        last_poll = last_poll.max(p.await.unwrap());
    }
    let ms = |at: Instant| at.saturating_duration_since(start).as_secs_f64() * 1000.0;
    println!();
    println!(
        "| database | sessions | streams (push + poll) | SETs | last SET delivered after ms | last pushed ms | last polled ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {database} | {SESSIONS} | {PUSH_STREAMS} + {POLL_STREAMS} | {} | {:.1} | {:.1} | {:.1} |",
        SESSIONS * (PUSH_STREAMS + POLL_STREAMS),
        ms(last_push.max(last_poll)),
        ms(last_push),
        ms(last_poll)
    );
}
