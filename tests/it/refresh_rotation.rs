//! Refresh tokens (RFC 6749 §6, OpenID Core §11/§12): who earns one, scope
//! narrowing, rotation and reuse detection (RFC 9700 §4.14.2), the grace
//! period for concurrent refreshes, sliding and absolute expiry, and a
//! property-style run of the family state machine against a model.

use std::time::Duration;

use crate::common::*;
use crate::lifecycle::*;
use reqwest::StatusCode;
use serde_json::Value;
use signoff::admin::ClientSpec;
use signoff::clock::Clock;

/// The default `tokens.refresh_reuse_grace`.
const GRACE: i64 = 10;

async fn refresh_ok(server: &TestServer, token: &str) -> Value {
    token_json(refresh(server, JWT_APP, JWT_APP_SECRET, token).await).await
}

async fn refresh_refused(server: &TestServer, token: &str) {
    assert_oauth_error(
        refresh(server, JWT_APP, JWT_APP_SECRET, token).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

/// Fire `n` refreshes with the same token at once, each on its own task.
/// A transport failure or a body that is not JSON fails the test with every
/// outcome listed, so a rare failure under load says what happened.
async fn concurrent_refreshes(
    server: &TestServer,
    token: &str,
    n: usize,
) -> Vec<(StatusCode, Value)> {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let http = server.http.clone();
        let url = server.url("/token");
        let token = token.to_owned();
        let start = start.clone();
        tasks.spawn(async move {
            start.wait().await;
            let response = http
                .post(url)
                .basic_auth(JWT_APP, Some(JWT_APP_SECRET))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                .send()
                .await
                .map_err(|e| format!("transport: {e:?}"))?;
            let status = response.status();
            let body = response
                .text()
                .await
                .map_err(|e| format!("{status}, body: {e:?}"))?;
            serde_json::from_str::<Value>(&body)
                .map(|json| (status, json))
                .map_err(|_| format!("{status}, not JSON: {body}"))
        });
    }
    let outcomes = tasks.join_all().await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:#?}");
    outcomes.into_iter().flatten().collect()
}

#[tokio::test]
async fn reuse_after_the_grace_period_revokes_the_whole_family() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let r0 = login.refresh_token();
    let first = refresh_ok(&server, &r0).await;
    server.clock.advance(GRACE + 1);
    let second = refresh_ok(&server, &text(&first, "refresh_token")).await;
    let newest = text(&second, "refresh_token");
    assert_active(&server, &newest).await;
    // An attacker (or a confused client) replays the oldest token.
    server.clock.advance(GRACE + 1);
    refresh_refused(&server, &r0).await;
    // The legitimate holder's newest token is dead too, and every access
    // token of the family with it.
    refresh_refused(&server, &newest).await;
    assert_inactive(&server, &newest).await;
    for tokens in [&login.tokens, &first, &second] {
        assert_inactive(&server, &text(tokens, "access_token")).await;
    }
}

#[tokio::test]
async fn reuse_of_an_opaque_family_revokes_its_opaque_access_tokens() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    let next =
        token_json(refresh(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await).await;
    server.clock.advance(GRACE + 1);
    assert_oauth_error(
        refresh(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_inactive(&server, &text(&next, "access_token")).await;
    assert_inactive(&server, &login.access_token()).await;
    assert_oauth_error(
        refresh(&server, FIRST, FIRST_SECRET, &text(&next, "refresh_token")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

// Several worker threads: the refreshes really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_within_the_grace_period_share_one_successor() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let results = concurrent_refreshes(&server, &login.refresh_token(), 20).await;
    for (status, body) in &results {
        assert!(!status.is_server_error(), "{status}: {body}");
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    // One successor family: every caller got the very same pair.
    let successor = text(&results[0].1, "refresh_token");
    let access = text(&results[0].1, "access_token");
    for (_, body) in &results {
        assert_eq!(text(body, "refresh_token"), successor);
        assert_eq!(text(body, "access_token"), access);
    }
    assert_ne!(successor, login.refresh_token());
    // Nothing was revoked: the original access token, the shared one and
    // the successor are all good, and the successor rotates normally.
    assert_active(&server, &login.access_token()).await;
    assert_active(&server, &access).await;
    assert_active(&server, &successor).await;
    let next = refresh_ok(&server, &successor).await;
    assert_active(&server, &text(&next, "access_token")).await;
    assert_active(&server, &text(&next, "refresh_token")).await;
}

// Several worker threads: the refreshes really run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_without_grace_period_look_like_theft() {
    let server = lifecycle_server_with(|c| c.tokens.refresh_reuse_grace = Duration::ZERO).await;
    let login = jwt_login(&server).await;
    let results = concurrent_refreshes(&server, &login.refresh_token(), 20).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (status, body) in &results {
        assert!(!status.is_server_error(), "{status}: {body}");
        if *status != StatusCode::OK {
            assert_eq!(*status, StatusCode::BAD_REQUEST);
            assert_eq!(body["error"], "invalid_grant", "{body}");
        }
    }
    // With no grace period the server cannot tell a racing tab from a thief:
    // each loser presented a consumed token, which is reuse (RFC 9700
    // §4.14.2), so the family is revoked and even the winner's fresh tokens
    // are dead. Clients that refresh concurrently need the grace period.
    let winner = winners[0];
    refresh_refused(&server, &text(winner, "refresh_token")).await;
    assert_inactive(&server, &text(winner, "access_token")).await;
    assert_inactive(&server, &login.access_token()).await;
}

#[tokio::test]
async fn grace_period_lasts_exactly_its_duration() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let first = refresh_ok(&server, &login.refresh_token()).await;
    server.clock.advance(GRACE);
    // Still within the grace period: the same pair again.
    let again = refresh_ok(&server, &login.refresh_token()).await;
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    assert_eq!(again["access_token"], first["access_token"]);
    server.clock.advance(1);
    refresh_refused(&server, &login.refresh_token()).await;
    refresh_refused(&server, &text(&first, "refresh_token")).await;
}

#[tokio::test]
async fn grace_period_ends_once_the_successor_has_been_used() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let first = refresh_ok(&server, &login.refresh_token()).await;
    let second = refresh_ok(&server, &text(&first, "refresh_token")).await;
    // Within seconds, but the successor was already rotated: whoever holds
    // the old token is not the party that moved on, so this is reuse.
    refresh_refused(&server, &login.refresh_token()).await;
    refresh_refused(&server, &text(&second, "refresh_token")).await;
    assert_inactive(&server, &text(&second, "access_token")).await;
}

#[tokio::test]
async fn another_clients_attempt_neither_consumes_nor_revokes() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    // RFC 6749 §6: the token is bound to the client it was issued to.
    assert_oauth_error(
        refresh(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_active(&server, &login.access_token()).await;
    let next = refresh_ok(&server, &login.refresh_token()).await;
    // Nor can it trigger reuse detection on a consumed token of someone else.
    server.clock.advance(GRACE + 1);
    assert_oauth_error(
        refresh(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_active(&server, &text(&next, "refresh_token")).await;
}

#[tokio::test]
async fn sliding_expiration_extends_to_the_absolute_limit_and_no_further() {
    let server = lifecycle_server().await;
    server
        .add_client(ClientSpec {
            id: "sliding".into(),
            secret: Some("sliding-secret-0123".into()),
            redirect_uris: vec!["https://sliding.example.com/cb".into()],
            first_party: true,
            refresh_token_idle_ttl: Some(100),
            refresh_token_absolute_ttl: Some(250),
            ..ClientSpec::default()
        })
        .await;
    let start = server.clock.now();
    let login = login_at(
        &server,
        "sliding",
        "sliding-secret-0123",
        "https://sliding.example.com/cb",
        "openid offline_access",
    )
    .await;
    let use_it = |token: String| {
        let server = &server;
        async move { token_json(refresh(server, "sliding", "sliding-secret-0123", &token).await).await }
    };
    assert_eq!(
        introspect_by(
            &server,
            "sliding",
            "sliding-secret-0123",
            &login.refresh_token()
        )
        .await["exp"],
        start + 100
    );
    server.clock.advance(90);
    let t1 = use_it(login.refresh_token()).await;
    assert_eq!(
        introspect_by(
            &server,
            "sliding",
            "sliding-secret-0123",
            &text(&t1, "refresh_token")
        )
        .await["exp"],
        start + 190
    );
    server.clock.advance(90);
    let t2 = use_it(text(&t1, "refresh_token")).await;
    // Sliding, but never past the absolute lifetime counted from login.
    assert_eq!(
        introspect_by(
            &server,
            "sliding",
            "sliding-secret-0123",
            &text(&t2, "refresh_token")
        )
        .await["exp"],
        start + 250
    );
    server.clock.advance(70);
    assert_eq!(
        introspect_by(
            &server,
            "sliding",
            "sliding-secret-0123",
            &text(&t2, "refresh_token")
        )
        .await,
        serde_json::json!({ "active": false })
    );
    assert_oauth_error(
        refresh(
            &server,
            "sliding",
            "sliding-secret-0123",
            &text(&t2, "refresh_token"),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn idle_refresh_token_expires() {
    let server = lifecycle_server_with(|c| {
        c.tokens.refresh_token_idle_ttl = Duration::from_secs(3600);
    })
    .await;
    let login = jwt_login(&server).await;
    server.clock.advance(3600);
    refresh_refused(&server, &login.refresh_token()).await;
}

/// A small deterministic generator (xorshift64*), so that a failing
/// sequence can be replayed from its seed.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// One refresh token of the family as the model sees it, with the access
/// token issued alongside it.
struct Issued {
    refresh: String,
    access: String,
    access_exp: i64,
    consumed_at: Option<i64>,
}

/// What the server should do, kept by the test: tokens form a chain, the
/// last is the only unconsumed one, and the family is either live or revoked.
struct Family {
    chain: Vec<Issued>,
    revoked: bool,
}

impl Family {
    async fn start(server: &TestServer) -> Family {
        let login = jwt_login(server).await;
        Family {
            chain: vec![Issued {
                refresh: login.refresh_token(),
                access: login.access_token(),
                access_exp: server.clock.now() + 600,
                consumed_at: None,
            }],
            revoked: false,
        }
    }

    fn latest(&self) -> &Issued {
        &self.chain[self.chain.len() - 1]
    }
}

/// Random walks over refresh, replay (inside and outside the grace period),
/// time passing and logout, each step checked against the model; a revoked
/// family is replaced by a fresh login so that every walk keeps exploring.
#[tokio::test]
async fn family_state_machine_matches_the_model() {
    let server = lifecycle_server().await;
    let (mut grace_hits, mut reuse_detections, mut logouts) = (0, 0, 0);
    for seed in [0x9E37_79B9_7F4A_7C15_u64, 42, 0xDEAD_BEEF] {
        let mut rng = Xorshift(seed);
        let mut family = Family::start(&server).await;
        for step in 0..60 {
            let now = server.clock.now();
            let context = format!("seed {seed:#x} step {step}");
            match rng.below(10) {
                // Refresh with the newest token.
                0..=3 => {
                    let response =
                        refresh(&server, JWT_APP, JWT_APP_SECRET, &family.latest().refresh).await;
                    let body = token_json(response).await;
                    let latest = family.chain.len() - 1;
                    family.chain[latest].consumed_at = Some(now);
                    family.chain.push(Issued {
                        refresh: text(&body, "refresh_token"),
                        access: text(&body, "access_token"),
                        access_exp: now + 600,
                        consumed_at: None,
                    });
                }
                // Present an older, consumed token again.
                4..=5 if family.chain.len() > 1 => {
                    let pick = rng.below(family.chain.len() as u64 - 1) as usize;
                    let consumed_at = family.chain[pick].consumed_at.expect("consumed");
                    let successor_unused = pick + 1 == family.chain.len() - 1;
                    let response = refresh(
                        &server,
                        JWT_APP,
                        JWT_APP_SECRET,
                        &family.chain[pick].refresh,
                    )
                    .await;
                    if successor_unused && now - consumed_at <= GRACE {
                        let body = token_json(response).await;
                        let successor = &family.chain[pick + 1];
                        assert_eq!(
                            body["refresh_token"],
                            successor.refresh.as_str(),
                            "{context}"
                        );
                        assert_eq!(body["access_token"], successor.access.as_str(), "{context}");
                        grace_hits += 1;
                    } else {
                        let status = response.status();
                        let body: Value = response.json().await.unwrap();
                        assert_eq!(status, StatusCode::BAD_REQUEST, "{context}: {body}");
                        assert_eq!(body["error"], "invalid_grant", "{context}");
                        family.revoked = true;
                        reuse_detections += 1;
                    }
                }
                6..=7 => server
                    .clock
                    .advance([1, 4, GRACE + 1][rng.below(3) as usize]),
                // The relying party logs out.
                8 => {
                    let latest = family.latest().refresh.clone();
                    revoke_ok(&server, JWT_APP, JWT_APP_SECRET, &latest, None).await;
                    family.revoked = true;
                    logouts += 1;
                }
                _ => {}
            }
            // Invariants after every step: the newest refresh token is active
            // exactly while the family lives, and so is any unexpired access
            // token of the family.
            let now = server.clock.now();
            let body = introspect(&server, &family.latest().refresh).await;
            assert_eq!(
                body["active"], !family.revoked,
                "{context}: newest refresh token"
            );
            let any = &family.chain[rng.below(family.chain.len() as u64) as usize];
            let body = introspect(&server, &any.access).await;
            let expected = !family.revoked && now < any.access_exp;
            assert_eq!(body["active"], expected, "{context}: access token");
            if family.revoked {
                refresh_refused(&server, &family.latest().refresh).await;
                family = Family::start(&server).await;
            }
        }
    }
    // The walks did reach every branch of the state machine.
    assert!(
        grace_hits > 0 && reuse_detections > 0 && logouts > 0,
        "{grace_hits} {reuse_detections} {logouts}"
    );
}

/// Tokens for `first` (first-party, no consent page) with `scope`.
async fn first_tokens(server: &TestServer, scope: &str) -> serde_json::Value {
    let code = code_in(
        &server.browser(),
        server,
        &auth_url(server, FIRST, FIRST_REDIRECT, scope, CHALLENGE),
    )
    .await;
    token_json(redeem(server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await
}

/// The refresh_token grant with an optional `scope` (RFC 6749 §6).
async fn refresh_with(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    refresh_token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    server.token_request(client_id, secret, &form).await
}

fn refresh_token_of(tokens: &serde_json::Value) -> String {
    tokens["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a refresh token: {tokens}"))
        .to_owned()
}

#[tokio::test]
async fn offline_access_earns_a_refresh_token_for_a_first_party_client() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    refresh_token_of(&tokens);
    assert_eq!(tokens["scope"], "openid offline_access");
}

#[tokio::test]
async fn offline_access_earns_a_refresh_token_after_consent() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let (login_url, landing) = browser
        .go(
            &server,
            &auth_url(
                &server,
                APP,
                APP_REDIRECT,
                "openid offline_access",
                CHALLENGE,
            ),
        )
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the login page")
    };
    let (consent_url, landing) = browser
        .login(&server, &login_url, &body, ALICE, ALICE_PASSWORD)
        .await;
    let Landing::Page { body, .. } = landing else {
        panic!("expected the consent page")
    };
    // OpenID Core §11: the user is told about offline access.
    assert!(body.contains("while you are away"), "{body}");
    let (_, landing) = browser
        .consent(&server, &consent_url, &body, "approve")
        .await;
    let code = landing.param("code").expect("a code");
    let tokens =
        token_json(redeem(&server, APP, Some(APP_SECRET), &code, APP_REDIRECT).await).await;
    refresh_token_of(&tokens);
}

#[tokio::test]
async fn no_offline_access_no_refresh_token() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn refresh_rotates_and_the_new_tokens_work() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    let old = refresh_token_of(&tokens);
    let response = refresh_with(&server, FIRST, FIRST_SECRET, &old, None).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let refreshed = token_json(response).await;
    let new = refresh_token_of(&refreshed);
    assert_ne!(new, old);
    assert_eq!(refreshed["scope"], "openid offline_access");
    // OpenID Core §12.2: a refreshed ID token keeps sub, aud and auth_time.
    let before = jwt_claims(tokens["id_token"].as_str().unwrap());
    let after = jwt_claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(after["sub"], before["sub"]);
    assert_eq!(after["aud"], before["aud"]);
    assert_eq!(after["auth_time"], before["auth_time"]);
    let access_token = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&server, access_token).await.status(),
        StatusCode::OK
    );
    // The rotated token refreshes again.
    token_json(refresh_with(&server, FIRST, FIRST_SECRET, &new, None).await).await;
}

#[tokio::test]
async fn reused_refresh_token_is_invalid_grant_and_revokes_the_family() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    let old = refresh_token_of(&tokens);
    let refreshed = token_json(refresh_with(&server, FIRST, FIRST_SECRET, &old, None).await).await;
    let new = refresh_token_of(&refreshed);
    let new_access = refreshed["access_token"].as_str().unwrap();

    // Past the grace period that forgives a client's own quick retry.
    let grace = server.state.config.tokens.refresh_reuse_grace.as_secs() as i64;
    server.clock.advance(grace + 1);
    let reuse = refresh_with(&server, FIRST, FIRST_SECRET, &old, None).await;
    assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // RFC 9700 §4.14.2: whoever holds the newer token loses it too.
    let response = refresh_with(&server, FIRST, FIRST_SECRET, &new, None).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let response = userinfo(&server, new_access).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn refresh_by_another_client_is_invalid_grant() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    let token = refresh_token_of(&tokens);
    let response = refresh_with(&server, APP, APP_SECRET, &token, None).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The attempt neither spent nor revoked the rightful client's token.
    token_json(refresh_with(&server, FIRST, FIRST_SECRET, &token, None).await).await;
}

#[tokio::test]
async fn refresh_with_wider_scope_is_invalid_scope() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid offline_access").await;
    let token = refresh_token_of(&tokens);
    let response = refresh_with(
        &server,
        FIRST,
        FIRST_SECRET,
        &token,
        Some("openid offline_access email"),
    )
    .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // The refused request spent nothing.
    token_json(refresh_with(&server, FIRST, FIRST_SECRET, &token, None).await).await;
}

#[tokio::test]
async fn refresh_with_narrower_scope_narrows_the_access_token() {
    let server = TestServer::start().await;
    let tokens = first_tokens(&server, "openid email offline_access").await;
    let token = refresh_token_of(&tokens);
    let refreshed = token_json(
        refresh_with(
            &server,
            FIRST,
            FIRST_SECRET,
            &token,
            Some("openid offline_access"),
        )
        .await,
    )
    .await;
    assert_eq!(refreshed["scope"], "openid offline_access");
    let claims: serde_json::Value = userinfo(&server, refreshed["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!(claims.get("email").is_none(), "{claims}");
    // RFC 6749 §6: the rotated refresh token keeps the scope of the one it
    // replaces, so the full scope can be asked for again.
    let rotated = refresh_token_of(&refreshed);
    let full = token_json(refresh_with(&server, FIRST, FIRST_SECRET, &rotated, None).await).await;
    assert_eq!(full["scope"], "openid email offline_access");
}

#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let server = TestServer::start().await;
    let response = refresh_with(&server, FIRST, FIRST_SECRET, "made-up", None).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn missing_refresh_token_is_invalid_request() {
    let server = TestServer::start().await;
    let response = server
        .token_request(FIRST, FIRST_SECRET, &[("grant_type", "refresh_token")])
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

/// RFC 6749 §3.3: `scope` is one or more scope tokens; a value of nothing
/// but spaces is malformed, `invalid_scope` (§5.2), and the refresh token
/// presented with it is not spent on an access token without any scope.
#[tokio::test]
async fn a_scope_of_only_spaces_is_invalid_scope() {
    let server = TestServer::start().await;
    let response = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials"), ("scope", "  ")],
        )
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;

    let browser = server.browser();
    let code = code_in(
        &browser,
        &server,
        &auth_url(
            &server,
            FIRST,
            FIRST_REDIRECT,
            "openid offline_access",
            CHALLENGE,
        ),
    )
    .await;
    let tokens =
        token_json(redeem(&server, FIRST, Some(FIRST_SECRET), &code, FIRST_REDIRECT).await).await;
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");
    let response = refresh_with(&server, FIRST, FIRST_SECRET, refresh_token, Some(" ")).await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // The refresh token was not consumed by the refused request.
    let next =
        token_json(refresh_with(&server, FIRST, FIRST_SECRET, refresh_token, None).await).await;
    assert_eq!(next["scope"], "openid offline_access");
}
