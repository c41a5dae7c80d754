//! signoff-guard against a real Signoff: which tokens the example API
//! accepts, RFC 6750 answers, forged tokens, key rotation and revocation
//! through the JWKS, and opaque tokens through introspection.

use std::time::Duration;

use crate::common::*;
use crate::guard_support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signoff::jws::Algorithm;
use signoff::keys::{Lifecycle, Schedule};
use signoff::random::OsRandom;
use signoff::seal::MasterKeys;

#[tokio::test]
async fn example_api_accepts_signoff_jwts_and_hands_their_claims_to_the_handler() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;

    let login = rig.login(WEB).await;
    let token = login["access_token"].as_str().unwrap();
    let claims = jwt_claims(token);
    for _ in 0..2 {
        let response = call(&api, "/me", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let me: Value = response.json().await.unwrap();
        assert_eq!(me["sub"], claims["sub"]);
        assert_eq!(me["client_id"], WEB);
        assert_eq!(me["scopes"], json!(["openid", "offline_access"]));
        assert_eq!(me["user"], true);
    }

    let job = rig.job_token().await;
    let me: Value = call(&api, "/me", Some(&job)).await.json().await.unwrap();
    assert_eq!(
        me,
        json!({ "sub": JOB, "client_id": JOB, "scopes": ["api.read"], "user": false })
    );

    let status = guard.status();
    assert_eq!(status.accepted, 3);
    assert_eq!(status.verified_tokens_cached, 2, "each token verified once");
    assert!(status.fresh);
}

#[tokio::test]
async fn requests_without_a_usable_bearer_token_get_rfc6750_answers() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let http = http_client();

    // RFC 6750 §3.1: no credentials (or another scheme): a bare challenge.
    for authorization in [None, Some("Basic dXNlcjpwYXNz")] {
        let mut request = http.get(format!("{api}/me"));
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        assert_eq!(challenge(&response), "Bearer");
    }
    // A malformed Authorization header is invalid_request (400).
    for headers in [
        vec!["Bearer a b"],
        vec!["Bearer"],
        vec!["Bearer x", "Bearer y"],
    ] {
        let mut request = http.get(format!("{api}/me"));
        for h in &headers {
            request = request.header("authorization", *h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{headers:?}");
        assert!(challenge(&response).starts_with("Bearer error=\"invalid_request\""));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    // Opaque tokens are refused unless introspection is enabled.
    let opaque = rig.login(OPAQUE_WEB).await;
    let response = call(&api, "/me", opaque["access_token"].as_str()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains("only JWT access tokens are accepted"));
    assert_eq!(guard.status().rejected_invalid, 6);
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The header of a compact JWS.
fn header_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// A JWS signed with a key pair Signoff never published.
fn signed_by_stranger(kid: &str, claims: &Value) -> String {
    let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let mut jwk = pair.to_jwk_private_key();
    jwk.set_key_id(kid);
    let signer = josekit::jws::RS256.signer_from_jwk(&jwk).unwrap();
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("at+jwt");
    header.set_key_id(kid);
    josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_rejected() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let login = rig.login(WEB).await;
    let real = login["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_claims(&real);
    let kid = header_of(&real)["kid"].as_str().unwrap().to_owned();
    let now = rig.now();
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let parts: Vec<&str> = real.split('.').collect();
    // RFC 8725 §3.1: the RSA public key used as an HMAC secret.
    let public_jwk = rig
        .server
        .state
        .keys
        .by_kid(&kid)
        .unwrap()
        .public_jwk()
        .to_string();
    let hs256 = {
        let header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid });
        let input = format!("{}.{}", b64(&header), parts[1]);
        let signer = josekit::jws::HS256
            .signer_from_bytes(public_jwk.as_bytes())
            .unwrap();
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()).unwrap())
        )
    };
    use josekit::jws::JwsSigner;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong audience",
            rig.sign_access_token("at+jwt", &with(json!({ "aud": "https://other.example" }))),
            "not meant for this resource",
        ),
        (
            "audience list without ours",
            rig.sign_access_token("at+jwt", &with(json!({ "aud": ["https://other.example"] }))),
            "not meant for this resource",
        ),
        (
            "wrong issuer",
            rig.sign_access_token("at+jwt", &with(json!({ "iss": "https://evil.example" }))),
            "another issuer",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": kid })),
                parts[1]
            ),
            "algorithm is not accepted",
        ),
        (
            "HS256 with the public key",
            hs256,
            "algorithm is not accepted",
        ),
        (
            "expired",
            rig.sign_access_token(
                "at+jwt",
                &with(json!({ "iat": now - 700, "exp": now - 100 })),
            ),
            "expired",
        ),
        (
            "not yet valid",
            rig.sign_access_token("at+jwt", &with(json!({ "nbf": now + 600 }))),
            "not valid yet",
        ),
        (
            "issued in the future",
            rig.sign_access_token("at+jwt", &with(json!({ "iat": now + 600 }))),
            "issued in the future",
        ),
        (
            "an ID token",
            login["id_token"].as_str().unwrap().to_owned(),
            "not a JWT access token",
        ),
        (
            "typ JWT",
            rig.sign_access_token("JWT", &claims),
            "not a JWT access token",
        ),
        (
            "a SET",
            rig.sign_access_token("secevent+jwt", &claims),
            "not a JWT access token",
        ),
        (
            "tampered claims",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&with(json!({ "sub": "someone-else" }))),
                parts[2]
            ),
            "signature is invalid",
        ),
        (
            "unknown key",
            signed_by_stranger("stranger", &claims),
            "unknown key",
        ),
        (
            "published kid, stranger's signature",
            signed_by_stranger(&kid, &claims),
            "signature is invalid",
        ),
        (
            "no client_id",
            rig.sign_access_token("at+jwt", &with(json!({ "client_id": null }))),
            "lacks a required claim",
        ),
        (
            "no jti",
            rig.sign_access_token("at+jwt", &with(json!({ "jti": null }))),
            "lacks a required claim",
        ),
        ("not a JWS", "a.b.c".to_owned(), "malformed"),
    ];
    for (name, token, description) in &cases {
        let response = call(&api, "/me", Some(token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        let header = challenge(&response);
        assert!(
            header.starts_with("Bearer error=\"invalid_token\""),
            "{name}: {header}"
        );
        assert!(header.contains(description), "{name}: {header}");
    }
    // The real token is fine; time travel past its expiry (plus leeway) ends it.
    assert_eq!(status_of(&api, &real).await, StatusCode::OK);
    rig.server.clock.advance(600 + 60);
    let response = call(&api, "/me", Some(&real)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains("expired"));
    assert_eq!(guard.status().rejected_invalid, cases.len() as u64 + 1);
}

#[tokio::test]
async fn random_kids_cannot_force_jwks_refetches() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let claims = jwt_claims(&rig.job_token().await);
    // The guard fetched the JWKS at start; within jwks_min_refresh (10 s) of
    // that, an unknown kid fetches nothing.
    let token = signed_by_stranger("random-early", &claims);
    assert_eq!(status_of(&api, &token).await, StatusCode::UNAUTHORIZED);
    let before = rig
        .faults
        .jwks_fetches
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(guard.status().jwks_fetches, 1);
    rig.server.clock.advance(11);
    for i in 0..10 {
        let token = signed_by_stranger(&format!("random-{i}"), &claims);
        assert_eq!(status_of(&api, &token).await, StatusCode::UNAUTHORIZED);
    }
    let fetched = rig
        .faults
        .jwks_fetches
        .load(std::sync::atomic::Ordering::SeqCst)
        - before;
    assert_eq!(
        fetched, 1,
        "one refetch for ten unknown kids within jwks_min_refresh"
    );
    // After the interval, one more is allowed.
    rig.server.clock.advance(11);
    let token = signed_by_stranger("random-later", &claims);
    assert_eq!(status_of(&api, &token).await, StatusCode::UNAUTHORIZED);
    let fetched = rig
        .faults
        .jwks_fetches
        .load(std::sync::atomic::Ordering::SeqCst)
        - before;
    assert_eq!(fetched, 2);
}

/// `signoff keys rotate` / `keys revoke` in another process.
async fn lifecycle_of(rig: &Rig) -> (sea_orm::DatabaseConnection, MasterKeys, Schedule) {
    let config = &rig.server.state.config;
    let db = signoff::store::connect(&config.database_url).await.unwrap();
    let schedule = Schedule::load(config, &db).await.unwrap();
    (db, MasterKeys::parse(TEST_MASTER_KEY).unwrap(), schedule)
}

#[tokio::test]
async fn key_rotation_never_rejects_a_valid_token_and_a_revoked_key_stops_working() {
    // Rotate every two hours; the JWKS may be cached for two minutes.
    let rig = Rig::with(|c| {
        c.keys.rotate_every = Duration::from_secs(7200);
        c.keys.jwks_cache_ttl = Duration::from_secs(120);
    })
    .await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let mut kids = std::collections::HashSet::new();
    for step in 0..30 {
        rig.server.clock.advance(600);
        signoff::maintenance::refresh_keys(&rig.server.state)
            .await
            .unwrap();
        assert!(guard.wait_until_fresh(Duration::from_secs(5)).await);
        let token = rig.job_token().await;
        kids.insert(header_of(&token)["kid"].as_str().unwrap().to_owned());
        // The first request counts: no retry.
        assert_eq!(status_of(&api, &token).await, StatusCode::OK, "step {step}");
    }
    assert!(kids.len() >= 3, "keys rotated: {kids:?}");

    // Revoke the key signing now (`signoff keys revoke`, another process):
    // the feed's `key` event refuses its tokens while the guard's cached
    // JWKS (max-age 120 s) still lists it; once that cache expires, the key
    // is unknown.
    let token = rig.job_token().await;
    assert_eq!(status_of(&api, &token).await, StatusCode::OK);
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
    let (db, master_keys, schedule) = lifecycle_of(&rig).await;
    let enabled = rig.server.state.config.keys.enabled_algorithms();
    let lifecycle = Lifecycle {
        master_keys: &master_keys,
        rng: &OsRandom,
        schedule,
        enabled: &enabled,
    };
    let rev =
        signoff::revocation::Revoker::new(&db, &rig.server.state.config, &OsRandom, rig.now());
    signoff::revocation::revoke_key(&rev, &lifecycle, &kid)
        .await
        .unwrap();
    signoff::maintenance::refresh_keys(&rig.server.state)
        .await
        .unwrap();
    eventually_status(&api, &token, StatusCode::UNAUTHORIZED).await;
    let response = call(&api, "/me", Some(&token)).await;
    assert!(
        challenge(&response).contains("revoked"),
        "{}",
        challenge(&response)
    );
    rig.server.clock.advance(121);
    assert!(guard.wait_until_fresh(Duration::from_secs(5)).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = call(&api, "/me", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        if challenge(&response).contains("unknown key") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the key never left the guard's JWKS: {}",
            challenge(&response)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The successor key signs, and its tokens are accepted.
    let fresh = rig.job_token().await;
    assert_ne!(header_of(&fresh)["kid"], json!(kid));
    assert_eq!(status_of(&api, &fresh).await, StatusCode::OK);
    assert_eq!(Algorithm::parse("RS256"), Some(Algorithm::Rs256));
}

#[tokio::test]
async fn opaque_tokens_are_introspected_and_cached_no_longer_than_the_bound() {
    let rig = Rig::start().await;
    let guard = rig
        .live_guard(rig.guard_builder().accept_opaque_tokens(true))
        .await;
    let api = rig.serve_api(&guard).await;
    let login = rig.login(OPAQUE_WEB).await;
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(status_of(&api, token).await, StatusCode::OK);
    assert_eq!(status_of(&api, token).await, StatusCode::OK);
    assert_eq!(
        guard.status().introspections,
        1,
        "the second request used the cached answer"
    );
    let me: Value = call(&api, "/me", Some(token)).await.json().await.unwrap();
    assert_eq!(me["client_id"], OPAQUE_WEB);

    // Past the freshness bound the cached answer is not used: asked again.
    rig.server.clock.advance(6);
    assert!(guard.wait_until_fresh(Duration::from_secs(10)).await);
    assert_eq!(status_of(&api, token).await, StatusCode::OK);
    assert_eq!(guard.status().introspections, 2);

    // A refresh token is not an access token, even though it is active.
    let refresh = login["refresh_token"].as_str().unwrap();
    assert_eq!(status_of(&api, refresh).await, StatusCode::UNAUTHORIZED);
    assert_eq!(guard.status().introspections, 3);
}

#[tokio::test]
async fn a_dpop_bound_jwt_is_not_accepted_as_a_bearer_token() {
    let rig = Rig::start().await;
    let guard = rig.live_guard(rig.guard_builder()).await;
    let api = rig.serve_api(&guard).await;
    let device = crate::dpop_support::Device::new();
    let proof = device.proof(&rig.server, "POST", "/token");
    let body = token_json(
        crate::dpop_support::token_with_proof(
            &rig.server,
            Some((JOB, JOB_SECRET)),
            &[("grant_type", "client_credentials"), ("scope", "api.read")],
            Some(&proof),
        )
        .await,
    )
    .await;
    assert_eq!(body["token_type"], "DPoP");
    let bound = body["access_token"].as_str().unwrap();
    assert!(jwt_claims(bound)["cnf"]["jkt"].is_string());
    // RFC 9449 §7.2: the guard checks no proofs, so a bound token is
    // refused rather than honoured as a bearer token.
    let response = call(&api, "/me", Some(bound)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("DPoP-bound"), "{challenge}");
    // The same client's unbound token passes.
    let unbound = rig.job_token().await;
    assert_eq!(
        call(&api, "/me", Some(&unbound)).await.status(),
        StatusCode::OK
    );
}
