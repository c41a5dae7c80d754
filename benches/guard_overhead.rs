//! signoff-guard's per-request overhead for a valid JWT access token with a
//! warm JWKS and 100,000 revocation entries (criterion). The token comes
//! from a real Signoff test server with its real SSF transmitter (the guard
//! tests' rig); the entries are applied to the guard's revocation set
//! directly (how they arrive does not change the lookup).
//!
//!     cargo bench --bench guard_overhead

#[path = "../tests/it/common/mod.rs"]
mod common;
// Only part of the test fixtures is used here.
#[allow(dead_code)]
#[path = "../tests/it/guard_support.rs"]
mod guard_support;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, Response};
use criterion::{Criterion, criterion_group, criterion_main};
use guard_support::*;
use signoff_guard::{Guard, Revocation};
use tower::{Layer, Service, ServiceExt, service_fn};

const ENTRIES: usize = 100_000;

/// 100,000 entries: sessions, grants, single tokens, users and clients.
fn fill(guard: &Guard, retain_until: i64) {
    for i in 0..ENTRIES {
        let id = format!("{i:08x}-5a1e-4c3b-9d2f-{i:012x}");
        guard.revocations().apply(match i % 5 {
            0 => Revocation::Session {
                sid: id,
                retain_until,
            },
            1 => Revocation::Grant {
                gid: id,
                retain_until,
            },
            2 => Revocation::Token {
                jti: id,
                retain_until,
            },
            3 => Revocation::UserVersion {
                sub: id,
                version: 3,
                retain_until,
            },
            _ => Revocation::ClientVersion {
                client_id: id,
                version: 2,
                retain_until,
            },
        });
    }
    assert_eq!(guard.revocations().len(), ENTRIES);
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_rig, guard, uncached, token) = runtime.block_on(async {
        let rig = Rig::start().await;
        // A freshness bound longer than the run: the mock clock does not
        // move, and polls keep coming back anyway.
        let guard = rig
            .live_guard(
                rig.guard_builder()
                    .freshness_bound(Duration::from_secs(3600)),
            )
            .await;
        let uncached = rig
            .live_guard(
                rig.guard_builder()
                    .token_cache_capacity(0)
                    .freshness_bound(Duration::from_secs(3600)),
            )
            .await;
        fill(&guard, rig.now() + 3600);
        fill(&uncached, rig.now() + 3600);
        let token = rig.login(WEB).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        (rig, guard, uncached, token)
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    // Warm: the first request verifies the signature.
    runtime
        .block_on(guard.authorize(&headers))
        .expect("the token is accepted");
    assert!(guard.authorize_cached(&headers).unwrap().is_ok());

    c.bench_function("guard decision, token seen before (100k entries)", |b| {
        b.iter(|| {
            black_box(guard.authorize_cached(black_box(&headers)))
                .unwrap()
                .unwrap()
        })
    });

    // The whole layer around a trivial service, minus the service alone.
    let handler = service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let layered = guard.layer().layer(handler);
    let request = || {
        let mut r = Request::new(Body::empty());
        r.headers_mut()
            .insert("authorization", headers["authorization"].clone());
        r
    };
    c.bench_function("service alone", |b| {
        b.iter(|| {
            let mut s = handler;
            runtime.block_on(async { s.ready().await.unwrap().call(request()).await.unwrap() })
        })
    });
    c.bench_function("service behind the guard layer (100k entries)", |b| {
        b.iter(|| {
            let mut s = layered.clone();
            let response =
                runtime.block_on(async { s.ready().await.unwrap().call(request()).await.unwrap() });
            assert_eq!(response.status(), 200);
        })
    });
    c.bench_function(
        "guard decision, verify-once cache off (RS256 verify)",
        |b| {
            b.iter(|| {
                runtime
                    .block_on(uncached.authorize(black_box(&headers)))
                    .unwrap()
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
