//! What an anonymous caller of /authorize can make the server store: a
//! bounded `state` and `nonce`, and a per-address budget of new sign-ins
//! (stored interactions).

use crate::common::*;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use signoff::store::entity::interaction;
use url::Url;

async fn stored_interactions(server: &TestServer) -> u64 {
    interaction::Entity::find()
        .count(&server.state.db)
        .await
        .expect("count interactions")
}

/// `app`'s valid request with `name` set to `value`.
fn request_with(server: &TestServer, name: &str, value: &str) -> String {
    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", APP)
        .append_pair("redirect_uri", APP_REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .append_pair(name, value);
    url.to_string()
}

fn location(response: &reqwest::Response) -> Url {
    let location = response.headers()["location"].to_str().unwrap();
    Url::parse(location)
        .or_else(|_| {
            Url::parse("http://relative.invalid")
                .unwrap()
                .join(location)
        })
        .unwrap()
}

#[tokio::test]
async fn state_or_nonce_over_512_bytes_is_refused_and_nothing_is_stored() {
    let server = TestServer::start().await;
    for name in ["state", "nonce"] {
        let too_long = "s".repeat(513);
        let response = server
            .http
            .get(request_with(&server, name, &too_long))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}");
        let target = location(&response);
        assert!(
            target.as_str().starts_with(APP_REDIRECT),
            "{name}: {target}"
        );
        let params = query_map(&target);
        assert_eq!(params["error"], "invalid_request", "{name}: {target}");
        assert!(params["error_description"].contains(name), "{target}");
        assert!(!params.contains_key("code"), "{target}");
        assert_eq!(stored_interactions(&server).await, 0, "{name}");
    }
    // 512 bytes is within the bound: the user is sent to sign in.
    let response = server
        .http
        .get(request_with(&server, "state", &"s".repeat(512)))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    assert!(location(&response).path().ends_with("/login"));
    assert_eq!(stored_interactions(&server).await, 1);
}

#[tokio::test]
async fn sign_ins_past_the_per_address_budget_get_429_and_store_nothing() {
    let server = TestServer::with(|c| {
        c.sessions.interactions_per_minute = 1;
        c.sessions.interaction_burst = 2;
    })
    .await;
    let url = auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE);
    // Fresh browsers, no session: each request stores a sign-in in progress.
    for _ in 0..2 {
        let response = server.browser().http.get(&url).send().await.unwrap();
        assert!(response.status().is_redirection());
        assert!(location(&response).path().ends_with("/login"));
    }
    assert_eq!(stored_interactions(&server).await, 2);
    let refused = server.browser().http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("location").is_none());
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let page = refused.text().await.unwrap();
    assert!(page.contains("temporarily_unavailable"), "{page}");
    assert_eq!(stored_interactions(&server).await, 2);
}

#[tokio::test]
async fn a_refused_request_does_not_spend_the_budget() {
    let server = TestServer::with(|c| {
        c.sessions.interactions_per_minute = 1;
        c.sessions.interaction_burst = 1;
    })
    .await;
    // Refused by validation before any interaction: free.
    for _ in 0..3 {
        let response = server
            .http
            .get(request_with(&server, "state", &"s".repeat(600)))
            .send()
            .await
            .unwrap();
        assert_eq!(query_map(&location(&response))["error"], "invalid_request");
    }
    let url = auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE);
    let response = server.browser().http.get(&url).send().await.unwrap();
    assert!(location(&response).path().ends_with("/login"));
}

#[tokio::test]
async fn a_request_answered_from_the_session_is_not_charged() {
    let server = TestServer::with(|c| {
        c.sessions.interactions_per_minute = 1;
        c.sessions.interaction_burst = 1;
    })
    .await;
    let browser = server.browser();
    let url = auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE);
    // The first sign-in spends the whole budget; the next requests complete
    // on the session and the consent on record, storing nothing.
    code_in(&browser, &server, &url).await;
    for _ in 0..3 {
        code_in(&browser, &server, &url).await;
    }
    assert_eq!(stored_interactions(&server).await, 0);
}
