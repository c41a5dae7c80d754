//! The token lifecycle, one test per logout strategy of
//! docs/logout-strategies.md: what each strategy does to a token a resource
//! server holds, observed over HTTP (introspection, userinfo, the token
//! endpoint, the SSO cookie). Refresh rotation, RFC 7009 and RFC 7662 details
//! live in refresh_rotation.rs, revocation.rs and introspection.rs. Last, what
//! happens when a token's rows go: a client id registered again inherits
//! nothing, and pruned rows revive nothing.

use crate::common::*;
use crate::lifecycle::*;
use reqwest::StatusCode;
use serde_json::Value;
use signoff::admin::ClientSpec;
use signoff::clock::Clock;

/// Redeem a code at `jwt-app` asking for one RFC 8707 resource.
async fn redeem_for_resource(server: &TestServer, resource: &str) -> reqwest::Response {
    let code = code_in(
        &server.browser(),
        server,
        &auth_url(server, JWT_APP, JWT_APP_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    server
        .token_request(
            JWT_APP,
            JWT_APP_SECRET,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", JWT_APP_REDIRECT),
                ("code_verifier", VERIFIER),
                ("resource", resource),
            ],
        )
        .await
}

#[tokio::test]
async fn jwt_access_token_follows_rfc9068_and_verifies_against_the_jwks() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let token = login.access_token();
    let (header, claims) = verify_access_jwt(&server, &token).await;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], server.base.as_str());
    assert_eq!(claims["aud"], API, "the client's default audience");
    assert_eq!(claims["client_id"], JWT_APP);
    assert_eq!(claims["scope"], "openid profile offline_access");
    assert_eq!(claims["iat"], server.clock.now());
    // tokens.access_token_ttl defaults to ten minutes.
    assert_eq!(claims["exp"], server.clock.now() + 600);
    assert_eq!(login.tokens["expires_in"], 600);
    assert!(claims["auth_time"].is_i64(), "{claims}");
    assert!(!text(&claims, "jti").is_empty());
    // The same facts through introspection (a token for the API is not one
    // for /userinfo: audience.rs).
    let active = assert_active(&server, &token).await;
    assert_eq!(active["sub"], claims["sub"]);
    assert_eq!(active["jti"], claims["jti"]);
    assert_eq!(active["sid"], claims["sid"]);
    assert_eq!(active["username"], ALICE);
}

#[tokio::test]
async fn opaque_access_token_is_random_and_valid_only_through_introspection() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    let token = login.access_token();
    // 256 random bits, base64url: no JWS structure, nothing to decode.
    assert!(!token.contains('.'), "{token}");
    assert!(token.len() >= 43, "{token}");
    let active = assert_active(&server, &token).await;
    assert_eq!(active["client_id"], FIRST);
    assert_eq!(active["token_type"], "Bearer");
    assert!(active.get("jti").is_none(), "{active}");
    // Strategy "opaque + introspection": revocation is seen by the very next
    // introspection, since every check is a database read.
    revoke_ok(&server, FIRST, FIRST_SECRET, &token, None).await;
    assert_inactive(&server, &token).await;
    assert_eq!(
        userinfo(&server, &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn let_tokens_expire_access_token_dies_at_exp() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let token = login.access_token();
    server.clock.advance(599);
    assert_active(&server, &token).await;
    // RFC 7519 §4.1.4: not accepted on or after exp.
    server.clock.advance(1);
    assert_inactive(&server, &token).await;
    assert_eq!(
        userinfo(&server, &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn per_client_lifetime_overrides_the_global_default() {
    let server = lifecycle_server_with(|c| {
        c.tokens.access_token_ttl = std::time::Duration::from_secs(300);
    })
    .await;
    server
        .add_client(ClientSpec {
            id: "short-lived".into(),
            secret: Some("short-lived-secret".into()),
            redirect_uris: vec!["https://short.example.com/cb".into()],
            first_party: true,
            access_token_format: Some("jwt".into()),
            access_token_ttl: Some(60),
            ..ClientSpec::default()
        })
        .await;
    let short = login_at(
        &server,
        "short-lived",
        "short-lived-secret",
        "https://short.example.com/cb",
        "openid",
    )
    .await;
    let global = jwt_login(&server).await;
    assert_eq!(short.tokens["expires_in"], 60);
    assert_eq!(global.tokens["expires_in"], 300);
    let (_, claims) = verify_access_jwt(&server, &short.access_token()).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    server.clock.advance(60);
    assert_inactive(&server, &short.access_token()).await;
    assert_active(&server, &global.access_token()).await;
}

#[tokio::test]
async fn short_lived_access_and_refresh_revocation() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let access = login.access_token();
    // The relying party logs out by revoking its refresh token.
    revoke_ok(
        &server,
        JWT_APP,
        JWT_APP_SECRET,
        &login.refresh_token(),
        Some("refresh_token"),
    )
    .await;
    refresh_fails(&server, JWT_APP, JWT_APP_SECRET, &login.refresh_token()).await;
    // A resource server that introspects sees the family's JWT die at once…
    assert_inactive(&server, &access).await;
    // …one that only checks signature and exp keeps accepting it until exp:
    // that window is the access token lifetime.
    let (_, claims) = verify_access_jwt(&server, &access).await;
    assert!(claims["exp"].as_i64().unwrap() > server.clock.now());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
}

#[tokio::test]
async fn denylist_voids_one_jwt_but_not_its_family() {
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    let access = login.access_token();
    revoke_ok(
        &server,
        JWT_APP,
        JWT_APP_SECRET,
        &access,
        Some("access_token"),
    )
    .await;
    assert_inactive(&server, &access).await;
    assert_eq!(
        userinfo(&server, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Only that token: the refresh token still works and its new JWT is active.
    let next =
        token_json(refresh(&server, JWT_APP, JWT_APP_SECRET, &login.refresh_token()).await).await;
    assert_active(&server, &text(&next, "access_token")).await;
}

#[tokio::test]
async fn jti_revocation_list_entry_is_pruned_once_the_token_expired() {
    let server = lifecycle_server().await;
    let access = jwt_login(&server).await.access_token();
    let (_, claims) = verify_access_jwt(&server, &access).await;
    let jti = text(&claims, "jti");
    revoke_ok(&server, JWT_APP, JWT_APP_SECRET, &access, None).await;
    let db = &server.state.db;
    let listed = |events: Vec<signoff::revocation::Event>| {
        events
            .into_iter()
            .find(|e| e.jti.as_deref() == Some(jti.as_str()))
    };
    let entry = listed(server.logged_events().await).expect("the jti is listed");
    // Kept while the token could be alive (its exp plus the clock skew),
    // then for the feed's retention; the maintenance task prunes after that.
    let skew = server.state.config.keys.clock_skew.as_secs() as i64;
    assert_eq!(entry.retain_until, text_i64(&claims, "exp") + skew);
    let retention = server.state.config.revocation.event_retention;
    let prune = |now| signoff::revocation::prune_log(db, now, retention);
    // Other events (the `client_changed` of the test clients' registration)
    // may go before it; the jti entry stays until its own time.
    prune(server.clock.now()).await.unwrap();
    assert!(listed(server.logged_events().await).is_some());
    server
        .clock
        .set(entry.retain_until + retention.as_secs() as i64);
    prune(server.clock.now()).await.unwrap();
    assert!(listed(server.logged_events().await).is_some());
    server.clock.advance(1);
    assert!(prune(server.clock.now()).await.unwrap() >= 1);
    assert!(listed(server.logged_events().await).is_none());
    assert_inactive(&server, &access).await;
}

#[tokio::test]
async fn session_state_tokens_die_with_their_session_only() {
    let server = lifecycle_server().await;
    let ended = jwt_login(&server).await;
    let other_browser = jwt_login(&server).await;
    let sid = text(&assert_active(&server, &ended.access_token()).await, "sid");
    assert_ne!(
        Some(sid.as_str()),
        assert_active(&server, &other_browser.access_token()).await["sid"].as_str()
    );
    // An administrator ends that one session from another process; this
    // instance learns it from the log.
    signoff_cli(&server, &["session", "revoke", &sid]).await;
    assert_becomes_inactive(&server, &ended.access_token()).await;
    assert_inactive(&server, &ended.refresh_token()).await;
    refresh_fails(&server, JWT_APP, JWT_APP_SECRET, &ended.refresh_token()).await;
    assert!(!sso_still_logs_in(&server, &ended.browser).await);
    // The other session, and everything issued in it, lives on.
    assert_active(&server, &other_browser.access_token()).await;
    assert!(sso_still_logs_in(&server, &other_browser.browser).await);
}

#[tokio::test]
async fn sso_session_expiry_asks_for_a_password_but_offline_tokens_live_on() {
    let server = lifecycle_server_with(|c| {
        c.sessions.idle_ttl = std::time::Duration::from_secs(3600);
    })
    .await;
    let login = jwt_login(&server).await;
    assert!(sso_still_logs_in(&server, &login.browser).await);
    server.clock.advance(3600);
    assert!(!sso_still_logs_in(&server, &login.browser).await);
    // OpenID Core §11: offline access outlives the browser session; only an
    // explicit end of the session (logout) voids the tokens bound to it.
    let next =
        token_json(refresh(&server, JWT_APP, JWT_APP_SECRET, &login.refresh_token()).await).await;
    assert_active(&server, &text(&next, "access_token")).await;
}

#[tokio::test]
async fn gateway_central_check_sees_a_disabled_user_and_a_removed_client_at_once() {
    let server = lifecycle_server().await;
    let jwt = jwt_login(&server).await;
    let service = service_token(&server).await;
    let service_token = text(&service, "access_token");
    assert_active(&server, &service_token).await;
    signoff_cli(&server, &["user", "disable", ALICE]).await;
    assert_becomes_inactive(&server, &jwt.access_token()).await;
    refresh_fails(&server, JWT_APP, JWT_APP_SECRET, &jwt.refresh_token()).await;
    signoff_cli(&server, &["client", "remove", SERVICE]).await;
    assert_becomes_inactive(&server, &service_token).await;
}

#[tokio::test]
async fn scopes_and_audiences_segment_what_a_token_is_good_for() {
    let server = lifecycle_server().await;
    let reports = token_json(redeem_for_resource(&server, REPORTS_API).await).await;
    let (_, claims) = verify_access_jwt(&server, &text(&reports, "access_token")).await;
    assert_eq!(claims["aud"], REPORTS_API);
    assert_eq!(
        assert_active(&server, &text(&reports, "access_token")).await["aud"],
        REPORTS_API
    );
    // RFC 8707 §2: a resource not registered for the client is refused.
    assert_oauth_error(
        redeem_for_resource(&server, "https://evil.example.com").await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
    )
    .await;
    // Refresh may narrow the scope and move the audience, never widen.
    let login = jwt_login(&server).await;
    let narrowed = token_json(
        server
            .token_request(
                JWT_APP,
                JWT_APP_SECRET,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &login.refresh_token()),
                    ("scope", "openid"),
                    ("resource", REPORTS_API),
                ],
            )
            .await,
    )
    .await;
    let (_, claims) = verify_access_jwt(&server, &text(&narrowed, "access_token")).await;
    assert_eq!(claims["scope"], "openid");
    assert_eq!(claims["aud"], REPORTS_API);
    assert_oauth_error(
        server
            .token_request(
                JWT_APP,
                JWT_APP_SECRET,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &text(&narrowed, "refresh_token")),
                    ("scope", "openid email"),
                ],
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
}

#[tokio::test]
async fn hybrid_short_jwt_rotation_and_forced_logout() {
    let server = lifecycle_server().await;
    server
        .add_client(ClientSpec {
            id: "hybrid".into(),
            secret: Some("hybrid-secret-0123".into()),
            redirect_uris: vec!["https://hybrid.example.com/cb".into()],
            first_party: true,
            access_token_format: Some("jwt".into()),
            access_token_ttl: Some(120),
            ..ClientSpec::default()
        })
        .await;
    let login = login_at(
        &server,
        "hybrid",
        "hybrid-secret-0123",
        "https://hybrid.example.com/cb",
        "openid offline_access",
    )
    .await;
    // Day to day: rotate before the two-minute JWT expires.
    server.clock.advance(100);
    let rotated = token_json(
        refresh(
            &server,
            "hybrid",
            "hybrid-secret-0123",
            &login.refresh_token(),
        )
        .await,
    )
    .await;
    assert_active(&server, &text(&rotated, "access_token")).await;
    server.clock.advance(30);
    assert_inactive(&server, &login.access_token()).await;
    // Forced logout of a risky session: denylist the live JWT and revoke
    // the refresh token.
    revoke_ok(
        &server,
        "hybrid",
        "hybrid-secret-0123",
        &text(&rotated, "access_token"),
        None,
    )
    .await;
    revoke_ok(
        &server,
        "hybrid",
        "hybrid-secret-0123",
        &text(&rotated, "refresh_token"),
        None,
    )
    .await;
    assert_inactive(&server, &text(&rotated, "access_token")).await;
    refresh_fails(
        &server,
        "hybrid",
        "hybrid-secret-0123",
        &text(&rotated, "refresh_token"),
    )
    .await;
}

#[tokio::test]
async fn removed_signing_key_voids_its_jwts() {
    let server = lifecycle_server().await;
    let access = jwt_login(&server).await.access_token();
    let (header, _) = verify_access_jwt(&server, &access).await;
    let kid = text(&header, "kid");
    // A compromised key is revoked from another process: the revocation
    // log reaches this instance's view within its poll interval…
    signoff_cli(&server, &["keys", "revoke", &kid]).await;
    assert_becomes_inactive(&server, &access).await;
    // …and the key leaves the JWKS when the instance re-reads its keys
    // (every `keys.refresh_interval`; now, instead of waiting).
    server.state.keys.reload(&server.state.db).await.unwrap();
    let jwks: Value = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()),
        "{jwks}"
    );
}

#[tokio::test]
async fn without_a_dpop_proof_tokens_are_bearer_tokens() {
    // Device binding is opt-in per request (RFC 9449 §5): tests/it/dpop.rs
    // covers bound tokens; a request without a proof still gets a bearer
    // token, with no `cnf` in the JWT or at introspection.
    let server = lifecycle_server().await;
    let login = jwt_login(&server).await;
    assert_eq!(login.tokens["token_type"], "Bearer");
    let (_, claims) = verify_access_jwt(&server, &login.access_token()).await;
    assert!(claims.get("cnf").is_none(), "{claims}");
    let introspected = introspect(&server, &login.access_token()).await;
    assert_eq!(introspected["token_type"], "Bearer");
    assert!(introspected.get("cnf").is_none(), "{introspected}");
}

#[tokio::test]
async fn cli_registers_a_jwt_client_with_its_own_lifetimes_and_audience() {
    let server = lifecycle_server().await;
    signoff_cli(
        &server,
        &[
            "client",
            "add",
            "--id",
            "batch",
            "--secret",
            "batch-secret-0123",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api.read",
            "--access-token-format",
            "jwt",
            "--audience",
            "https://batch.example.com",
            "--access-token-ttl",
            "5m",
            "--refresh-token-idle-ttl",
            "1d",
            "--refresh-token-absolute-ttl",
            "7d",
        ],
    )
    .await;
    let tokens = token_json(
        server
            .token_request(
                "batch",
                "batch-secret-0123",
                &[("grant_type", "client_credentials")],
            )
            .await,
    )
    .await;
    assert_eq!(tokens["expires_in"], 300);
    let (_, claims) = verify_access_jwt(&server, &text(&tokens, "access_token")).await;
    assert_eq!(claims["aud"], "https://batch.example.com");
    // RFC 9068 §2.2: with no resource owner, sub is the client.
    assert_eq!(claims["sub"], "batch");
    assert_eq!(claims["scope"], "api.read");
    let client = signoff::store::clients::find(&server.state.db, "batch")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.refresh_token_idle_ttl, Some(86_400));
    assert_eq!(client.refresh_token_absolute_ttl, Some(7 * 86_400));
}

const REBORN: &str = "reborn";
const REBORN_SECRET: &str = "reborn-secret-0123456789";
const REBORN_REDIRECT: &str = "https://reborn.example.com/callback";

fn reborn_spec(secret: &str) -> ClientSpec {
    ClientSpec {
        id: REBORN.into(),
        secret: Some(secret.into()),
        redirect_uris: vec![REBORN_REDIRECT.into()],
        first_party: true,
        ..ClientSpec::default()
    }
}

/// Tokens are bound to the client they were issued to (RFC 6749 §4.1.3,
/// §6, §10.4). A client removed and registered again under the same id (a
/// new registration, possibly for someone else) must not inherit the old
/// registration's codes, access tokens or refresh tokens.
#[tokio::test]
async fn a_client_registered_again_under_a_removed_id_does_not_inherit_its_tokens() {
    let server = TestServer::start().await;
    server.add_client(reborn_spec(REBORN_SECRET)).await;
    let browser = server.browser();
    let scope = "openid offline_access";
    let code = code_in(
        &browser,
        &server,
        &auth_url(&server, REBORN, REBORN_REDIRECT, scope, CHALLENGE),
    )
    .await;
    let tokens =
        token_json(redeem(&server, REBORN, Some(REBORN_SECRET), &code, REBORN_REDIRECT).await)
            .await;
    let unused_code = code_in(
        &browser,
        &server,
        &auth_url(&server, REBORN, REBORN_REDIRECT, scope, CHALLENGE),
    )
    .await;
    let access_token = tokens["access_token"].as_str().expect("access token");
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");

    assert!(
        signoff::revocation::remove_client(&server.state.revoker(), REBORN)
            .await
            .expect("remove")
    );
    let new_secret = "reborn-new-owner-secret-0123";
    server.add_client(reborn_spec(new_secret)).await;

    let refreshed = server
        .token_request(
            REBORN,
            new_secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await;
    assert_oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let redeemed = redeem(
        &server,
        REBORN,
        Some(new_secret),
        &unused_code,
        REBORN_REDIRECT,
    )
    .await;
    assert_oauth_error(redeemed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let info = userinfo(&server, access_token).await;
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED, "old access token");
}

/// OpenID Core §3.1.2.4: consent is given to a registration. A client id
/// registered again after `client remove` asks for consent afresh.
#[tokio::test]
async fn a_client_registered_again_under_a_removed_id_does_not_inherit_consent() {
    let server = TestServer::start().await;
    let spec = || ClientSpec {
        first_party: false,
        ..reborn_spec(REBORN_SECRET)
    };
    server.add_client(spec()).await;
    let browser = server.browser();
    let url = auth_url(
        &server,
        REBORN,
        REBORN_REDIRECT,
        "openid profile",
        CHALLENGE,
    );
    code_in(&browser, &server, &url).await;
    // Consent is remembered: the same request answers at once.
    let (_, landing) = browser.go(&server, &url).await;
    assert!(landing.param("code").is_some(), "{landing:?}");

    assert!(
        signoff::revocation::remove_client(&server.state.revoker(), REBORN)
            .await
            .expect("remove")
    );
    server.add_client(spec()).await;
    let (_, landing) = browser.go(&server, &url).await;
    match landing {
        Landing::Page { body, .. } => assert!(body.contains("name=\"decision\""), "{body}"),
        Landing::Redirect(u) => panic!("expected the consent page, got {u}"),
    }
}

/// Maintenance removes expired tokens and long-ended sessions; a pruned
/// token or session is refused exactly like an expired or ended one.
#[tokio::test]
async fn pruning_dead_rows_revives_nothing() {
    let server = TestServer::start().await;
    let token = service_token(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = server.browser();
    code_in(
        &browser,
        &server,
        &auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE),
    )
    .await;
    let sessions = signoff::store::sessions::not_ended(&server.state.db, None)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    let sid = sessions[0].id.clone();
    signoff::session::admin::revoke_session(&server.state.revoker(), &sid)
        .await
        .unwrap();

    server.clock.advance(8 * 24 * 3600);
    let now = server.clock.now();
    let pruned = signoff::store::grants::prune_expired(&server.state.db, now)
        .await
        .unwrap();
    assert!(pruned >= 1, "the expired access token and code are gone");
    assert_eq!(
        signoff::store::sessions::prune_ended(&server.state.db, now - 7 * 24 * 3600)
            .await
            .unwrap(),
        1
    );
    assert!(
        signoff::store::sessions::find(&server.state.db, &sid)
            .await
            .unwrap()
            .is_none()
    );

    let introspected: serde_json::Value = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, serde_json::json!({ "active": false }));
    // The browser's session cookie names a session that no longer exists.
    let url = format!(
        "{}&prompt=none",
        auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE)
    );
    let (_, landing) = browser.go(&server, &url).await;
    assert_eq!(landing.param("error").as_deref(), Some("login_required"));
}
