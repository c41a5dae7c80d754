//! Password and client-secret checks under load and attack: a bounded
//! number of argon2 verifications (503 with Retry-After when all are busy),
//! one verification for concurrent first requests of a client, and the
//! brute-force back-off per account and per address (429 with Retry-After),
//! moved through with the test clock.

use std::time::Duration;

use reqwest::StatusCode;
use signoff::Config;

use crate::common::*;

/// Back-offs small enough to reason about: 30 s, doubling, capped at 2 min.
fn throttled(account_failures: u32, address_failures: u32) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.throttle.account_failures = account_failures;
        c.throttle.address_failures = address_failures;
        c.throttle.window = Duration::from_secs(60);
        c.throttle.backoff_base = Duration::from_secs(30);
        c.throttle.backoff_max = Duration::from_secs(120);
    }
}

fn retry_after(response: &reqwest::Response) -> i64 {
    response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}", response.status()))
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

fn signs_in(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap_or("").starts_with("signoff_session="))
}

fn sign_in(
    browser: &Browser,
    form: &HtmlForm,
    username: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    let mut form = form.clone();
    set_field(&mut form, "username", username);
    set_field(&mut form, "password", password);
    browser.http.post(&form.action).form(&form.fields)
}

async fn post(
    browser: &Browser,
    form: &HtmlForm,
    username: &str,
    password: &str,
) -> reqwest::Response {
    sign_in(browser, form, username, password)
        .send()
        .await
        .expect("sign-in POST")
}

/// The password form of the page `url` opens in `browser`.
async fn password_form(server: &TestServer, browser: &Browser, url: &str) -> HtmlForm {
    let (at, landing) = browser.go(server, url).await;
    let Landing::Page { status, body } = landing else {
        panic!("expected a page, got {landing:?}")
    };
    assert_eq!(status, StatusCode::OK, "{body}");
    parse_forms(&at, &body)
        .into_iter()
        .find(|f| f.has_password)
        .expect("a password form")
}

fn token_request(server: &TestServer, id: &str, secret: &str) -> reqwest::RequestBuilder {
    server
        .http
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
}

async fn client_credentials(server: &TestServer, id: &str, secret: &str) -> reqwest::Response {
    token_request(server, id, secret)
        .send()
        .await
        .expect("token request")
}

#[tokio::test]
async fn repeated_wrong_passwords_back_off_the_account_even_for_the_right_one() {
    let server = TestServer::with(throttled(3, 100)).await;
    server.add_user("bob", "bobs-password-123").await;
    let browser = server.browser();
    let login = auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE);
    let form = password_form(&server, &browser, &login).await;

    for _ in 0..2 {
        let wrong = post(&browser, &form, "bob", "guess").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    // The third failure uses up the allowance and starts the back-off.
    let third = post(&browser, &form, "bob", "guess").await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&third);
    assert!(wait > 0);
    let page = third.text().await.unwrap();
    assert!(page.contains("Too many failed sign-ins"), "{page}");
    assert!(page.contains("type=\"password\""), "{page}");

    // During the back-off the right password is refused too, unchecked.
    let hashed = server.state.passwords.verifications();
    let right = post(&browser, &form, "bob", "bobs-password-123").await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&right) > 0);
    assert!(!signs_in(&right));
    assert_eq!(server.state.passwords.verifications(), hashed);
    // Other accounts are not affected.
    let other = post(&browser, &form, ALICE, "not her password").await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);

    server.clock.advance(wait);
    let right = post(&browser, &form, "bob", "bobs-password-123").await;
    assert!(signs_in(&right), "{}", right.status());
}

#[tokio::test]
async fn one_address_failing_across_accounts_is_backed_off_on_the_account_page() {
    let server = TestServer::with(throttled(100, 3)).await;
    let browser = server.browser();
    let form = password_form(&server, &browser, &server.url("/account")).await;
    for name in ["mallory", "trudy"] {
        let wrong = post(&browser, &form, name, "guess").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let third = post(&browser, &form, "eve", "guess").await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&third);
    // The address's back-off covers every account tried from it.
    let alice = post(&browser, &form, ALICE, ALICE_PASSWORD).await;
    assert_eq!(alice.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!signs_in(&alice));

    server.clock.advance(wait);
    let alice = post(&browser, &form, ALICE, ALICE_PASSWORD).await;
    assert_eq!(alice.status(), StatusCode::SEE_OTHER);
    assert!(signs_in(&alice));
}

#[tokio::test]
async fn wrong_client_secrets_at_the_token_endpoint_are_throttled_by_address() {
    let server = TestServer::with(throttled(3, 3)).await;
    // The guesser sends from another loopback address (Linux routes all of
    // 127/8 to lo), so the real client at 127.0.0.1 is somewhere else.
    let guesser = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let guess = |secret: &'static str| {
        guesser
            .post(server.url("/token"))
            .basic_auth(SERVICE, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            guess("guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let third = guess("guess").await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&third);
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // The guesser's address is held, even with the right secret.
    let right = guess(SERVICE_SECRET).await.unwrap();
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    // The client id's failures hold nobody else: the real client, from an
    // address it never authenticated from (a new pod), gets its token.
    let right = client_credentials(&server, SERVICE, SERVICE_SECRET).await;
    assert_eq!(right.status(), StatusCode::OK);

    server.clock.advance(wait);
    assert_eq!(
        guess(SERVICE_SECRET).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unknown_client_costs_and_answers_like_a_wrong_secret() {
    let server = TestServer::start().await;
    let hashes = || server.state.passwords.verifications();
    assert_eq!(
        client_credentials(&server, SERVICE, SERVICE_SECRET)
            .await
            .status(),
        StatusCode::OK
    );
    let before = hashes();
    // After the client's first success a wrong secret still costs argon2.
    let wrong = client_credentials(&server, SERVICE, "guess").await;
    assert_eq!(hashes(), before + 1);
    let unknown = client_credentials(&server, "no-such-client", "guess").await;
    assert_eq!(hashes(), before + 2);
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let wrong: serde_json::Value = wrong.json().await.unwrap();
    let unknown: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(unknown, wrong);
    assert_eq!(unknown["error"], "invalid_client");
}

#[tokio::test]
async fn concurrent_first_requests_of_one_client_verify_its_secret_once() {
    // A slow machine must not turn waiting for the first result into 503s.
    let server = TestServer::with(|c| c.throttle.hash_wait = Duration::from_secs(30)).await;
    let before = server.state.passwords.verifications();
    let requests = (0..32)
        .map(|_| token_request(&server, SERVICE, SERVICE_SECRET))
        .collect();
    let statuses: Vec<StatusCode> = send_all(requests)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(server.state.passwords.verifications(), before + 1);
}

#[tokio::test]
async fn a_saturated_verifier_answers_503_with_retry_after() {
    let server = TestServer::with(|c| {
        c.throttle.max_concurrent_hashes = 1;
        c.throttle.hash_wait = Duration::from_millis(1);
        c.throttle.address_failures = 1000;
    })
    .await;
    // Distinct unknown clients: no single flight, every one needs argon2.
    let requests = (0..32)
        .map(|i| token_request(&server, &format!("nobody-{i}"), "guess"))
        .collect();
    let responses = send_all(requests).await;
    let mut busy = 0;
    for response in responses {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(retry_after(&response) >= 1);
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"], "temporarily_unavailable");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "no request found the verifier busy");

    // The sign-in pages answer with a 503 page.
    let browser = server.browser();
    let form = password_form(&server, &browser, &server.url("/account")).await;
    let requests = (0..32)
        .map(|i| sign_in(&browser, &form, &format!("user-{i}"), "guess"))
        .collect();
    let responses = send_all(requests).await;
    let mut busy = 0;
    for response in responses {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(retry_after(&response) >= 1);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "no sign-in found the verifier busy");
}

/// Send every request at once; the responses in order.
async fn send_all(requests: Vec<reqwest::RequestBuilder>) -> Vec<reqwest::Response> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|r| tokio::spawn(r.send()))
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.unwrap().expect("request"));
    }
    responses
}

/// Client-credentials request with the given secret, as relayed by a proxy
/// at 127.0.0.1 that says it came from `forwarded_for`.
async fn relayed(server: &TestServer, forwarded_for: &str, secret: &str) -> StatusCode {
    token_request(server, SERVICE, secret)
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("token request")
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_back_off() {
    let server = TestServer::with(|c| {
        throttled(100, 3)(c);
        c.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // The guesser's own claim on the left is ignored; the proxy appended the
    // address it saw.
    let guesser = "10.9.9.9, 203.0.113.5";
    for _ in 0..2 {
        assert_eq!(
            relayed(&server, guesser, "guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        relayed(&server, guesser, "guess").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        relayed(&server, "203.0.113.5", SERVICE_SECRET).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Everyone else behind the same proxy is unaffected, whatever they
    // claim further left.
    assert_eq!(
        relayed(&server, "10.9.9.9, 198.51.100.4", SERVICE_SECRET).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_escape_the_back_off() {
    let server = TestServer::with(throttled(100, 3)).await;
    // A guesser that rotates the header it writes is still one address.
    for (i, expected) in [
        StatusCode::UNAUTHORIZED,
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::TOO_MANY_REQUESTS,
    ]
    .into_iter()
    .enumerate()
    {
        let claimed = format!("203.0.113.{i}");
        assert_eq!(relayed(&server, &claimed, "guess").await, expected);
    }
}
