//! Logout-to-rejection: how long after a logout at Signoff the example API
//! behind signoff-guard first rejects the logged-out token. One real Signoff
//! server with its real Shared Signals transmitter, one guard long-polling
//! its stream (the guard tests' rig). Each iteration signs in a fresh
//! browser, checks that the API accepts the access token, then ends the
//! session by RP-initiated logout (`/logout` with `id_token_hint`) and
//! calls the API with the token until it answers 401. The time runs from
//! just before the logout request (so Signoff's commit is inside it) until
//! the first 401 arrives: an upper bound of commit-to-rejection.
//!
//!     cargo bench --bench guard_logout_to_rejection               # SQLite
//!     SIGNOFF_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!         cargo bench --bench guard_logout_to_rejection           # PostgreSQL
//!     cargo bench --bench guard_logout_to_rejection -- 200        # iterations (default 1000)

#[path = "../tests/it/common/mod.rs"]
mod common;
// Only part of the fixtures is used here.
#[allow(dead_code)]
#[path = "../tests/it/guard_support.rs"]
mod guard_support;
#[allow(dead_code)]
#[path = "../tests/it/logout_support.rs"]
mod logout_support;

use std::time::{Duration, Instant};

use guard_support::*;
use reqwest::StatusCode;

/// Give up on one iteration after this long (counted as a failure).
const GIVE_UP: Duration = Duration::from_secs(30);

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
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    // One address signs in over and over: no per-address sign-in budget.
    let rig = Rig::with(|c| {
        c.sessions.interactions_per_minute = 0;
        c.sessions.interaction_burst = 0;
    })
    .await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let mut samples = Vec::with_capacity(iterations);
    let mut failures = 0;
    while samples.len() + failures < iterations {
        let browser = rig.server.browser();
        let tokens = rig.login_in(&browser, WEB).await;
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        assert_eq!(status_of(&api, &token).await, StatusCode::OK);
        let start = Instant::now();
        let (_, landing) = logout_support::end_session(
            &rig.server,
            &browser,
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", WEB_SIGNED_OUT),
            ],
        )
        .await;
        landing.redirect();
        loop {
            let status = status_of(&api, &token).await;
            if status == StatusCode::UNAUTHORIZED {
                samples.push(start.elapsed());
                break;
            }
            assert_eq!(status, StatusCode::OK, "the guard failed closed");
            if start.elapsed() > GIVE_UP {
                failures += 1;
                break;
            }
        }
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("| database | logouts | p50 ms | p90 ms | p99 ms | max ms | not rejected in 30 s |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {database} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {failures} |",
        samples.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0)
    );
    println!(
        "load average before: {} after: {}",
        load_before.trim(),
        load_after.trim()
    );
    println!("guard: {:?}", guard.status());
}
