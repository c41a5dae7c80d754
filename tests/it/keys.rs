//! Signing keys: rotation that no relying party notices, revocation that
//! every relying party notices, several algorithms, and private keys that are
//! useless without the master key. Tokens are checked the way a relying party
//! or resource server would: the `openidconnect` crate against the published
//! JWKS, and RFC 7662 introspection.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::common::*;
use openidconnect::core::{CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};
use signoff::admin::ClientSpec;
use signoff::clock::Clock;
use signoff::jws::Algorithm;
use signoff::keys::rotation::{Revoked, Rotated};
use signoff::keys::{KeyState, Lifecycle, Schedule};
use signoff::maintenance::refresh_keys;
use signoff::random::OsRandom;
use signoff::seal::MasterKeys;
use signoff::{AppState, Config};

/// Relying parties with JWT access tokens, one per ID token algorithm.
const RS_APP: &str = "rs-app";
const ES_APP: &str = "es-app";
const ED_APP: &str = "ed-app";
const RP_SECRET: &str = "rp-secret-0123456789";
/// A resource server for the relying parties' tokens (audience: the issuer).
const KEYS_RS: &str = "keys-rs";
/// The nonce `crate::common::auth_url` sends.
const NONCE: &str = "n-456";
const HOUR: i64 = 3600;
/// `jwks_cache_ttl` 1h + `refresh_interval` 5s + `clock_skew` 60s.
const PUBLISH_LEAD: i64 = HOUR + 5 + 60;
/// `id_token_ttl` 1h (the longest token) + `clock_skew` + `refresh_interval`.
const RETENTION: i64 = HOUR + 60 + 5;

/// A server rotating every two hours, with the relying parties above.
async fn start(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let server = TestServer::with(|c| {
        c.keys.rotate_every = Duration::from_secs(2 * HOUR as u64);
        adjust(c)
    })
    .await;
    server
        .add_client(ClientSpec {
            id: KEYS_RS.into(),
            secret: Some(RP_SECRET.into()),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["introspect".into()],
            introspect_audiences: vec![server.base.clone()],
            ..ClientSpec::default()
        })
        .await;
    for (id, alg) in [(RS_APP, "RS256"), (ES_APP, "ES256"), (ED_APP, "EdDSA")] {
        server
            .add_client(ClientSpec {
                id: id.into(),
                secret: Some(RP_SECRET.into()),
                redirect_uris: vec![FIRST_REDIRECT.into()],
                first_party: true,
                id_token_alg: Some(alg.into()),
                access_token_format: Some("jwt".into()),
                ..ClientSpec::default()
            })
            .await;
    }
    server
}

struct Tokens {
    id_token: String,
    access_token: String,
}

/// Sign in to `client_id` in `browser` (SSO after the first time).
async fn sign_in(server: &TestServer, browser: &Browser, client_id: &str) -> Tokens {
    let url = auth_url(server, client_id, FIRST_REDIRECT, "openid", CHALLENGE);
    let code = code_in(browser, server, &url).await;
    let body =
        token_json(redeem(server, client_id, Some(RP_SECRET), &code, FIRST_REDIRECT).await).await;
    Tokens {
        id_token: body["id_token"].as_str().expect("id_token").into(),
        access_token: body["access_token"].as_str().expect("access_token").into(),
    }
}

/// The `kid` of a compact JWS header.
fn kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().expect("kid").into()
}

struct Jwks {
    keys: Vec<Value>,
    max_age: i64,
    etag: String,
}

impl Jwks {
    fn kids(&self) -> HashSet<String> {
        self.keys
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn fetch_jwks(server: &TestServer) -> Jwks {
    let response = server.http.get(server.url("/jwks")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cache_control = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    let max_age = cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("max-age in {cache_control}"));
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    Jwks {
        keys: body["keys"].as_array().unwrap().clone(),
        max_age,
        etag,
    }
}

/// Verify an ID token as a relying party would: fresh discovery and JWKS,
/// the `openidconnect` crate, the server's (mock) time.
async fn verify_id_token(
    server: &TestServer,
    client_id: &str,
    alg: &str,
    id_token: &str,
) -> Result<(), String> {
    let http = http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .map_err(|e| format!("discovery: {e}"))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.into()),
        Some(ClientSecret::new(RP_SECRET.into())),
    );
    let now = server.clock.now() as u64;
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![serde_json::from_value(json!(alg)).unwrap()])
        .set_time_fn(move || (UNIX_EPOCH + Duration::from_secs(now)).into());
    let token: CoreIdToken = id_token.parse().map_err(|e| format!("parse: {e}"))?;
    token
        .claims(&verifier, &Nonce::new(NONCE.into()))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// RFC 7662 introspection as a resource server for this service's audience.
async fn active(server: &TestServer, token: &str) -> bool {
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(KEYS_RS, Some(RP_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["active"].as_bool().expect("active")
}

/// The background refresh every instance runs each `keys.refresh_interval`.
async fn tick(server: &TestServer) {
    refresh_keys(&server.state).await.expect("key maintenance");
}

/// The current key of `alg`, and the next one with its activation time.
fn current_and_next(server: &TestServer, alg: Algorithm) -> (String, String, i64) {
    let now = server.clock.now();
    let current = server
        .state
        .keys
        .signer(alg, now)
        .expect("a current key")
        .kid
        .clone();
    let next = server
        .state
        .keys
        .all()
        .into_iter()
        .filter(|k| k.alg == alg && k.activates_at > now)
        .min_by_key(|k| k.activates_at)
        .expect("a next key");
    (current, next.kid.clone(), next.activates_at)
}

/// A `Lifecycle` over a connection of its own, as `signoff keys` in another
/// process has.
async fn other_process(server: &TestServer) -> (sea_orm::DatabaseConnection, MasterKeys, Schedule) {
    let db = signoff::store::connect(&server.state.config.database_url)
        .await
        .unwrap();
    let schedule = Schedule::load(&server.state.config, &db).await.unwrap();
    (db, MasterKeys::parse(TEST_MASTER_KEY).unwrap(), schedule)
}

/// `signoff keys rotate --alg ALG`.
async fn cli_rotate(server: &TestServer, alg: Algorithm) -> Rotated {
    let (db, master_keys, schedule) = other_process(server).await;
    let enabled = server.state.config.keys.enabled_algorithms();
    let lifecycle = Lifecycle {
        master_keys: &master_keys,
        rng: &OsRandom,
        schedule,
        enabled: &enabled,
    };
    lifecycle
        .rotate(&db, alg, server.clock.now())
        .await
        .expect("rotate")
}

/// `signoff keys revoke KID`.
async fn cli_revoke(server: &TestServer, kid: &str) -> anyhow::Result<Revoked> {
    let (db, master_keys, schedule) = other_process(server).await;
    let enabled = server.state.config.keys.enabled_algorithms();
    let lifecycle = Lifecycle {
        master_keys: &master_keys,
        rng: &OsRandom,
        schedule,
        enabled: &enabled,
    };
    let rev =
        signoff::revocation::Revoker::new(&db, &server.state.config, &OsRandom, server.clock.now());
    signoff::revocation::revoke_key(&rev, &lifecycle, kid).await
}

#[tokio::test]
async fn rotation_mid_session_keeps_old_tokens_valid_until_they_expire() {
    let server = start(|_| {}).await;
    let browser = server.browser();
    let published_at_start = fetch_jwks(&server).await;
    let (old, next, switch) = current_and_next(&server, Algorithm::Rs256);
    assert!(
        published_at_start.kids().contains(&next),
        "next key published from the start"
    );
    assert!(switch - server.clock.now() >= PUBLISH_LEAD);

    // A minute before the switch: tokens from the old key.
    server.clock.set(switch - 60);
    tick(&server).await;
    let before = sign_in(&server, &browser, RS_APP).await;
    assert_eq!(kid(&before.id_token), old);
    assert_eq!(kid(&before.access_token), old);

    // The switch happens on time, with no write needed; the scheduler then
    // publishes the following key.
    server.clock.set(switch + 60);
    tick(&server).await;
    let after = sign_in(&server, &browser, RS_APP).await;
    assert_eq!(kid(&after.id_token), next, "new tokens carry the new kid");
    assert_eq!(kid(&after.access_token), next);
    let (current, following, _) = current_and_next(&server, Algorithm::Rs256);
    assert_eq!(current, next);
    assert!(fetch_jwks(&server).await.kids().contains(&following));

    // Both generations verify and introspect as active.
    verify_id_token(&server, RS_APP, "RS256", &before.id_token)
        .await
        .expect("old ID token verifies");
    verify_id_token(&server, RS_APP, "RS256", &after.id_token)
        .await
        .expect("new ID token verifies");
    assert!(
        active(&server, &before.access_token).await,
        "old access token active"
    );
    assert!(active(&server, &after.access_token).await);

    // Until they expire (access tokens 10 minutes, ID tokens an hour).
    server.clock.set(switch - 60 + 600 + 1);
    assert!(!active(&server, &before.access_token).await);
    server.clock.set(switch - 60 + HOUR - 1);
    verify_id_token(&server, RS_APP, "RS256", &before.id_token)
        .await
        .expect("still verifies");
    server.clock.set(switch - 60 + HOUR + 1);
    assert!(
        verify_id_token(&server, RS_APP, "RS256", &before.id_token)
            .await
            .is_err()
    );

    // The retired key stays published until its last token expired (+skew).
    server.clock.set(switch + RETENTION - 1);
    tick(&server).await;
    assert!(fetch_jwks(&server).await.kids().contains(&old));
    server.clock.set(switch + RETENTION);
    tick(&server).await;
    assert!(
        !fetch_jwks(&server).await.kids().contains(&old),
        "retired key removed"
    );
    assert!(!server.state.keys.is_published_kid(&old));
    let later = sign_in(&server, &browser, RS_APP).await;
    assert_eq!(kid(&later.id_token), next);
    verify_id_token(&server, RS_APP, "RS256", &later.id_token)
        .await
        .expect("current key unaffected");
}

/// RP-Initiated Logout §2, §4: an ID token whose signing key was removed
/// after a rotation cannot be validated; the logout then asks the user
/// (as without a hint) instead of failing and leaving the session alive.
#[tokio::test]
async fn logout_with_a_hint_signed_by_a_removed_key_asks_and_ends_the_session() {
    let server = start(|_| {}).await;
    let browser = server.browser();
    let (old, _, switch) = current_and_next(&server, Algorithm::Rs256);
    let tokens = sign_in(&server, &browser, RS_APP).await;
    assert_eq!(kid(&tokens.id_token), old);
    server.clock.set(switch + RETENTION);
    tick(&server).await;
    assert!(!server.state.keys.is_published_kid(&old), "old key removed");
    // Still signed in (SSO answers prompt=none with a code).
    let silent = auth_url(&server, RS_APP, FIRST_REDIRECT, "openid", CHALLENGE) + "&prompt=none";
    let (_, landing) = browser.go(&server, &silent).await;
    assert!(landing.param("code").is_some(), "{landing:?}");

    let mut logout = url::Url::parse(&server.url("/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &tokens.id_token);
    let (at, landing) = browser.go(&server, logout.as_str()).await;
    let Landing::Page { status, body } = landing else {
        panic!("expected the confirmation page, got {landing:?}")
    };
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut form = parse_forms(&at, &body)
        .into_iter()
        .find(|f| f.action.ends_with("/logout/confirm"))
        .unwrap_or_else(|| panic!("a confirmation form: {body}"));
    set_field(&mut form, "decision", "logout");
    browser.post_form(&server, &form).await;

    let (_, landing) = browser.go(&server, &silent).await;
    assert_eq!(
        landing.param("error").as_deref(),
        Some("login_required"),
        "the session ended: {landing:?}"
    );
}

/// A relying party that caches the JWKS exactly as long as `Cache-Control`
/// allows never meets a `kid` it does not know, through scheduled rotations
/// and manual ones, for every algorithm.
#[tokio::test]
async fn caching_relying_party_never_meets_an_unknown_kid() {
    let server = start(|_| {}).await;
    let browser = server.browser();
    let mut cache = fetch_jwks(&server).await;
    let mut fetched_at = server.clock.now();
    let mut refetches = 0;
    let mut seen: HashSet<String> = HashSet::new();
    let mut deferred_rotation = None;
    for step in 1..=40 {
        server.clock.advance(600);
        tick(&server).await;
        match step {
            // Right after a switch: the next key is too young to sign now.
            15 => {
                let rotated = cli_rotate(&server, Algorithm::Rs256).await;
                deferred_rotation = Some((server.clock.now(), rotated));
            }
            // Long after: it signs at once.
            30 => {
                let rotated = cli_rotate(&server, Algorithm::Rs256).await;
                assert_eq!(rotated.signs_from, server.clock.now());
                tick(&server).await;
            }
            _ => {}
        }
        let now = server.clock.now();
        if now >= fetched_at + cache.max_age {
            cache = fetch_jwks(&server).await;
            fetched_at = now;
            refetches += 1;
        }
        for (client, alg) in [(RS_APP, "RS256"), (ES_APP, "ES256"), (ED_APP, "EdDSA")] {
            let tokens = sign_in(&server, &browser, client).await;
            for token in [&tokens.id_token, &tokens.access_token] {
                let kid = kid(token);
                assert!(
                    cache.kids().contains(&kid),
                    "step {step}: {alg} token signed by {kid}, unknown to a JWKS cached {}s ago",
                    now - fetched_at
                );
                seen.insert(kid);
            }
        }
    }
    let (asked_at, deferred) = deferred_rotation.unwrap();
    assert!(
        deferred.signs_from > asked_at,
        "the young next key was not promoted at once"
    );
    assert!(refetches >= 6, "the cache expired and was refreshed");
    // Three algorithms (access tokens use RS256), rotated every 2h over 6h40
    // plus two manual RS256 rotations.
    assert!(seen.len() >= 3 * 4, "keys rotated: {seen:?}");
}

#[tokio::test]
async fn revoked_key_leaves_the_jwks_and_its_tokens_turn_inactive() {
    let server = start(|_| {}).await;
    let browser = server.browser();
    let (old, next, _) = current_and_next(&server, Algorithm::Rs256);
    let tokens = sign_in(&server, &browser, RS_APP).await;
    assert_eq!(kid(&tokens.access_token), old);
    assert!(active(&server, &tokens.access_token).await);

    let revoked = cli_revoke(&server, &old).await.expect("revoke");
    assert_eq!(revoked.was, KeyState::Current);
    // Each instance picks the change up at its next refresh.
    tick(&server).await;
    let jwks = fetch_jwks(&server).await;
    assert!(
        !jwks.kids().contains(&old),
        "revoked key gone from the JWKS"
    );
    assert!(
        !active(&server, &tokens.access_token).await,
        "its tokens are inactive"
    );
    let err = verify_id_token(&server, RS_APP, "RS256", &tokens.id_token)
        .await
        .unwrap_err();
    assert!(!err.is_empty());

    // The published next key took over at once; a new next is published.
    let fresh = sign_in(&server, &browser, RS_APP).await;
    assert_eq!(kid(&fresh.id_token), next);
    verify_id_token(&server, RS_APP, "RS256", &fresh.id_token)
        .await
        .expect("verifies");
    let (current, following, _) = current_and_next(&server, Algorithm::Rs256);
    assert_eq!(current, next);
    assert!(jwks.kids().contains(&following));

    // Revoking the waiting key replaces it, and the current key keeps signing.
    cli_revoke(&server, &following).await.expect("revoke next");
    tick(&server).await;
    let jwks = fetch_jwks(&server).await;
    assert!(!jwks.kids().contains(&following));
    let (current, replacement, _) = current_and_next(&server, Algorithm::Rs256);
    assert_eq!(current, next);
    assert!(jwks.kids().contains(&replacement));
    assert!(active(&server, &fresh.access_token).await);

    let again = cli_revoke(&server, &old).await.unwrap_err().to_string();
    assert!(again.contains("already removed"), "{again}");
    let unknown = cli_revoke(&server, "no-such-kid")
        .await
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("no signing key"), "{unknown}");
}

#[tokio::test]
async fn es256_and_eddsa_clients_get_id_tokens_that_verify_across_rotation() {
    let server = start(|_| {}).await;
    let browser = server.browser();
    for round in 0..2 {
        for (client, alg) in [(ES_APP, "ES256"), (ED_APP, "EdDSA"), (RS_APP, "RS256")] {
            let tokens = sign_in(&server, &browser, client).await;
            let jwks = fetch_jwks(&server).await;
            let jwk = jwks
                .keys
                .iter()
                .find(|k| k["kid"] == kid(&tokens.id_token).as_str())
                .expect("signing key published");
            assert_eq!(jwk["alg"], alg);
            assert_eq!(jwk["use"], "sig");
            verify_id_token(&server, client, alg, &tokens.id_token)
                .await
                .unwrap_or_else(|e| panic!("round {round}: {alg} ID token: {e}"));
        }
        // Past the scheduled switch of every algorithm.
        server.clock.advance(2 * HOUR + 1);
        tick(&server).await;
    }
}

#[tokio::test]
async fn jwks_is_cacheable_with_max_age_and_etag() {
    let server = start(|c| c.keys.jwks_cache_ttl = Duration::from_secs(900)).await;
    let jwks = fetch_jwks(&server).await;
    assert_eq!(jwks.max_age, 900);
    // One current and one next key per algorithm; public parts only.
    assert_eq!(jwks.keys.len(), 6);
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert_eq!(
            jwks.keys.iter().filter(|k| k["alg"] == alg).count(),
            2,
            "{alg}"
        );
    }
    for k in &jwks.keys {
        assert_eq!(k["use"], "sig");
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "private material in {k}"
        );
    }
    let unchanged = server
        .http
        .get(server.url("/jwks"))
        .header("if-none-match", &jwks.etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.headers()["etag"], jwks.etag.as_str());
    assert_eq!(unchanged.headers()["cache-control"], "public, max-age=900");

    // A rotation publishes a new key: the ETag changes.
    server.clock.advance(900 + 5 + 60);
    cli_rotate(&server, Algorithm::Es256).await;
    tick(&server).await;
    let rotated = fetch_jwks(&server).await;
    assert_ne!(rotated.etag, jwks.etag);
    assert_eq!(rotated.keys.len(), 7);
}

#[tokio::test]
async fn private_keys_at_rest_are_unreadable_without_the_master_key() {
    let server = start(|_| {}).await;
    let db = &server.state.db;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT kid, private_jwk, public_jwk FROM signing_keys",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 6);
    let right = MasterKeys::parse(TEST_MASTER_KEY).unwrap();
    let wrong = MasterKeys::parse(&MasterKeys::generate(&OsRandom)).unwrap();
    for row in rows {
        let kid: String = row.try_get("", "kid").unwrap();
        let sealed: String = row.try_get("", "private_jwk").unwrap();
        let public: String = row.try_get("", "public_jwk").unwrap();
        assert!(
            serde_json::from_str::<Value>(&sealed).is_err(),
            "stored as plain JSON"
        );
        let public: Value = serde_json::from_str(&public).unwrap();
        for field in ["x", "n", "d"] {
            if let Some(v) = public[field].as_str() {
                assert!(!sealed.contains(v), "{field} readable in the sealed row");
            }
        }
        let context = format!("signoff signing key {kid}");
        assert!(wrong.open(&sealed, context.as_bytes()).is_err());
        let private: Value =
            serde_json::from_slice(&right.open(&sealed, context.as_bytes()).unwrap()).unwrap();
        assert!(private["d"].is_string(), "the master key opens it");
    }

    // Another instance with the wrong master key, or none, refuses to start.
    let mut config = server.state.config.clone();
    config.keys.master_key = Some(MasterKeys::generate(&OsRandom).into());
    let db2 = signoff::store::connect(&config.database_url).await.unwrap();
    let err = AppState::new(
        config.clone(),
        db2.clone(),
        Arc::new(server.clock.clone()),
        Arc::new(OsRandom),
    )
    .await
    .err()
    .expect("wrong master key refused")
    .to_string();
    assert!(err.contains("cannot be decrypted"), "{err}");
    config.keys.master_key = None;
    let err = AppState::new(
        config,
        db2,
        Arc::new(server.clock.clone()),
        Arc::new(OsRandom),
    )
    .await
    .err()
    .expect("missing master key refused")
    .to_string();
    assert!(err.contains("SIGNOFF_MASTER_KEY"), "{err}");
}

/// Two instances on one database: they agree on the signing key, only one
/// of them schedules each successor, and a rotation made by the CLI reaches
/// a running server through its background refresh.
#[tokio::test]
async fn instances_share_one_schedule_and_pick_up_cli_rotations() {
    let server = start(|c| c.keys.refresh_interval = Duration::from_secs(1)).await;
    let db = signoff::store::connect(&server.state.config.database_url)
        .await
        .unwrap();
    let other = AppState::new(
        server.state.config.clone(),
        db,
        Arc::new(server.clock.clone()),
        Arc::new(OsRandom),
    )
    .await
    .expect("second instance");

    // Both reach the switch at once and both try to publish the successor.
    let (_, next, switch) = current_and_next(&server, Algorithm::Rs256);
    server.clock.set(switch);
    let (a, b) = tokio::join!(refresh_keys(&server.state), refresh_keys(&other));
    if server.state.db.get_database_backend() == DatabaseBackend::Postgres {
        // The loser of the compare-and-set simply stands down.
        a.expect("instance a");
        b.expect("instance b");
    } else {
        // SQLite serves one instance; the loser may see "database is locked",
        // which the background task logs and retries.
        assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
    }
    tick(&server).await;
    other.keys.reload(&other.db).await.unwrap();
    let now = server.clock.now();
    for alg in Algorithm::ALL {
        let waiting = signoff::store::keys::list_published(&server.state.db)
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.alg == alg.as_str() && k.activates_at > now)
            .count();
        assert_eq!(waiting, 1, "{alg}: exactly one successor");
        assert_eq!(
            server.state.keys.signer(alg, now).unwrap().kid,
            other.keys.signer(alg, now).unwrap().kid,
            "{alg}: instances agree"
        );
    }
    assert_eq!(
        server.state.keys.signer(Algorithm::Rs256, now).unwrap().kid,
        next
    );

    // `signoff keys rotate` in another process; no explicit refresh here:
    // the server's background task (every second) must pick it up.
    server.clock.advance(PUBLISH_LEAD);
    let rotated = cli_rotate(&server, Algorithm::Rs256).await;
    assert_eq!(
        rotated.signs_from,
        server.clock.now(),
        "published long enough: now"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let signer = server
            .state
            .keys
            .signer(Algorithm::Rs256, server.clock.now())
            .unwrap();
        if signer.kid == rotated.promoted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rotation not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tokens = sign_in(&server, &server.browser(), RS_APP).await;
    assert_eq!(kid(&tokens.id_token), rotated.promoted);
}

/// The binary: `serve` refuses to run without a master key; `serve --demo`
/// runs with a development key it keeps, so a restart can still sign.
#[test]
fn serve_needs_a_master_key_except_in_demo_mode() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::TempDir::new().unwrap();
    let command = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_signoff"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SIGNOFF_") {
                c.env_remove(key);
            }
        }
        c.args(args)
            .current_dir(dir.path())
            .env("SIGNOFF_BIND", "127.0.0.1:0")
            .env("SIGNOFF_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };

    let refused = command(&["serve"]).output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("SIGNOFF_MASTER_KEY"), "{stderr}");

    let dev_key = dir.path().join(signoff::seal::DEV_MASTER_KEY_FILE);
    for run in ["first start", "restart"] {
        let mut child = command(&["serve", "--demo"]).spawn().unwrap();
        let mut log = String::new();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let listening = lines.by_ref().map_while(Result::ok).any(|line| {
            log.push_str(&line);
            log.push('\n');
            line.contains("signoff is listening")
        });
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(listening, "{run}: demo server did not start:\n{log}");
        assert!(
            log.contains("NO MASTER KEY CONFIGURED"),
            "{run}: loud warning:\n{log}"
        );
        assert!(dev_key.exists());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dev_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "dev key readable by others: {mode:o}");
    }
}
