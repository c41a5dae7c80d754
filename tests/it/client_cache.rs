//! The client row cache (`store::client_cache`): every change to a client,
//! made by the command line or by another instance, reaches a running
//! server that cached the row within the revocation view's propagation
//! bound (`PROPAGATION_BOUND`), through the `client_changed` event (or the
//! standing events of disabling and enabling) that committed with it.

use reqwest::StatusCode;
use serde_json::Value;
use signoff::admin::{self, ClientUpdate};

use crate::common::*;
use crate::lifecycle::second_instance;
use crate::ops_cli::ok;

/// Authenticate once so that `id`'s row is cached, and say so.
async fn cached(server_state: &signoff::AppState, id: &str) {
    assert!(
        server_state.revocations.client_rows().get(id).is_some(),
        "{id}'s row is cached"
    );
}

async fn client_credentials(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    http.post(format!("{base}/token"))
        .basic_auth(SERVICE, Some(secret))
        .form(&form)
        .send()
        .await
        .expect("token request")
}

#[tokio::test]
async fn a_secret_rotated_by_the_cli_counts_on_a_running_server_within_the_bound() {
    let server = TestServer::start().await;
    service_token(&server).await;
    cached(&server.state, SERVICE).await;
    let out = ok(&server, &["client", "rotate-secret", SERVICE], "").await;
    let new_secret = out.trim();
    server.caught_up().await;
    let old = client_credentials(&server.http, &server.base, SERVICE_SECRET, None).await;
    assert_oauth_error(old, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let new = client_credentials(&server.http, &server.base, new_secret, None).await;
    assert_eq!(new.status(), StatusCode::OK);
    assert!(server.logged_events().await.iter().any(|e| {
        e.kind == signoff::revocation::Kind::ClientChanged
            && e.client_id.as_deref() == Some(SERVICE)
    }));
}

#[tokio::test]
async fn a_client_disabled_or_narrowed_by_the_cli_is_refused_within_the_bound() {
    let server = TestServer::start().await;
    service_token(&server).await;
    cached(&server.state, SERVICE).await;
    ok(
        &server,
        &["client", "update", SERVICE, "--scope", "api.read"],
        "",
    )
    .await;
    server.caught_up().await;
    let narrowed = client_credentials(
        &server.http,
        &server.base,
        SERVICE_SECRET,
        Some("api.write"),
    )
    .await;
    assert_oauth_error(narrowed, StatusCode::BAD_REQUEST, "invalid_scope").await;

    service_token(&server).await;
    cached(&server.state, SERVICE).await;
    ok(&server, &["client", "disable", SERVICE], "").await;
    server.caught_up().await;
    let disabled = client_credentials(&server.http, &server.base, SERVICE_SECRET, None).await;
    assert_oauth_error(disabled, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn a_redirect_uri_removed_by_the_cli_is_refused_at_par_within_the_bound() {
    let server = TestServer::start().await;
    let push = || async {
        server
            .http
            .post(server.url("/par"))
            .basic_auth(FIRST, Some(FIRST_SECRET))
            .form(&[
                ("response_type", "code"),
                ("client_id", FIRST),
                ("redirect_uri", FIRST_REDIRECT),
                ("scope", "openid"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .expect("PAR request")
    };
    assert_eq!(push().await.status(), StatusCode::CREATED);
    cached(&server.state, FIRST).await;
    ok(
        &server,
        &[
            "client",
            "update",
            FIRST,
            "--redirect-uri",
            "https://first.example.com/elsewhere",
        ],
        "",
    )
    .await;
    server.caught_up().await;
    let refused = push().await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.expect("a JSON error");
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[tokio::test]
async fn a_change_on_one_instance_reaches_another_that_cached_the_row() {
    let server = TestServer::start().await;
    let other = second_instance(&server).await;
    let first = client_credentials(&server.http, &other.base, SERVICE_SECRET, None).await;
    assert_eq!(first.status(), StatusCode::OK);
    cached(&other.state, SERVICE).await;

    // A new secret on `server`: it counts there at once (its view applied
    // the event before the call returned) and on `other` within the bound.
    let rotated = admin::rotate_secret(
        &server.state.revoker(),
        SERVICE,
        Some("rotated-secret-0123456789".into()),
    )
    .await
    .expect("rotate");
    assert!(
        server
            .state
            .revocations
            .client_rows()
            .get(SERVICE)
            .is_none()
    );
    let here = client_credentials(&server.http, &server.base, SERVICE_SECRET, None).await;
    assert_oauth_error(here, StatusCode::UNAUTHORIZED, "invalid_client").await;
    view_caught_up(&other.state).await;
    let there = client_credentials(&server.http, &other.base, SERVICE_SECRET, None).await;
    assert_oauth_error(there, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let there = client_credentials(&server.http, &other.base, &rotated, None).await;
    assert_eq!(there.status(), StatusCode::OK);

    // A narrower scope on `server` reaches `other` too.
    cached(&other.state, SERVICE).await;
    admin::update_client(
        &server.state.revoker(),
        SERVICE,
        ClientUpdate {
            scopes: Some(vec!["api.read".into()]),
            ..ClientUpdate::default()
        },
    )
    .await
    .expect("update");
    view_caught_up(&other.state).await;
    let narrowed = client_credentials(&server.http, &other.base, &rotated, Some("api.write")).await;
    assert_oauth_error(narrowed, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[tokio::test]
async fn unknown_client_ids_are_never_cached() {
    let server = TestServer::start().await;
    for i in 0..20 {
        let response = server
            .http
            .post(server.url("/token"))
            .basic_auth(format!("made-up-{i}"), Some("whatever-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    assert!(
        server
            .state
            .revocations
            .client_rows()
            .get("made-up-0")
            .is_none()
    );
    service_token(&server).await;
    assert_eq!(server.state.revocations.client_rows().len(), 1);
}

#[tokio::test]
async fn a_client_change_is_no_shared_signals_event_and_no_revocation_audit() {
    let server = TestServer::start().await;
    let before = server.logged_events().await.len();
    admin::update_client(
        &server.state.revoker(),
        SERVICE,
        ClientUpdate {
            scopes: Some(vec!["api.read".into()]),
            ..ClientUpdate::default()
        },
    )
    .await
    .expect("update");
    let events = server.logged_events().await;
    assert_eq!(events.len(), before + 1);
    let changed = events.last().expect("the change's event");
    assert_eq!(changed.kind, signoff::revocation::Kind::ClientChanged);
    assert!(signoff::ssf::set::drafts("https://op.example", changed).is_empty());
    assert!(signoff::audit::of_revocation(changed).is_none());
}
