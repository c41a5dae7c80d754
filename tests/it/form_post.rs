//! OAuth 2.0 Form Post Response Mode: the authorization response (code or
//! error) as an HTML form POSTed to the redirect URI, submitted by a hashed
//! script when JavaScript runs and by a visible button when it does not.

use crate::common::*;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use url::Url;

fn authorize_url(server: &TestServer, pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

fn spa_request<'a>(state: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", SPA),
        ("redirect_uri", SPA_REDIRECT),
        ("scope", "openid"),
        ("state", state),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("response_mode", "form_post"),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

/// The form of a form_post page: its action, method and fields, and
/// whether it has a submit button.
struct PostedForm {
    action: String,
    method: String,
    fields: Vec<(String, String)>,
    has_button: bool,
    scripts: Vec<String>,
}

impl PostedForm {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse(body: &str) -> PostedForm {
    let doc = Html::parse_document(body);
    let forms: Vec<_> = doc.select(&Selector::parse("form").unwrap()).collect();
    assert_eq!(forms.len(), 1, "one form: {body}");
    let form = forms[0];
    let fields = form
        .select(&Selector::parse("input[type=hidden]").unwrap())
        .map(|i| {
            let v = i.value();
            (
                v.attr("name").unwrap_or_default().to_owned(),
                v.attr("value").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    PostedForm {
        action: form.value().attr("action").unwrap_or_default().to_owned(),
        method: form.value().attr("method").unwrap_or_default().to_owned(),
        fields,
        has_button: form
            .select(&Selector::parse("button[type=submit]").unwrap())
            .next()
            .is_some(),
        scripts: doc
            .select(&Selector::parse("script").unwrap())
            .map(|s| s.inner_html())
            .collect(),
    }
}

#[tokio::test]
async fn code_is_posted_to_the_redirect_uri_by_a_form_with_a_visible_button() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let url = authorize_url(&server, &spa_request("st-123", &[]));
    let landing = browser
        .authorize(&server, &url, ALICE, ALICE_PASSWORD)
        .await;
    let Landing::Page { status, body } = landing else {
        panic!("expected the form_post page, got {landing:?}");
    };
    assert_eq!(status, StatusCode::OK);
    let form = parse(&body);
    assert_eq!(form.action, SPA_REDIRECT);
    assert!(form.method.eq_ignore_ascii_case("post"));
    assert!(form.has_button, "works without JavaScript");
    assert_eq!(form.scripts, ["document.forms[0].submit();"]);
    assert_eq!(form.field("state"), Some("st-123"));
    assert_eq!(form.field("iss"), Some(server.base.as_str()));
    let code = form.field("code").expect("a code").to_owned();
    // The posted code is a real one.
    let tokens = token_json(redeem(&server, SPA, None, &code, SPA_REDIRECT).await).await;
    assert!(tokens["access_token"].is_string());
}

#[tokio::test]
async fn posted_values_are_html_escaped() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let hostile = "\"><script>alert(1)</script>&'";
    let url = authorize_url(&server, &spa_request(hostile, &[]));
    let Landing::Page { body, .. } = browser
        .authorize(&server, &url, ALICE, ALICE_PASSWORD)
        .await
    else {
        panic!("expected the form_post page");
    };
    assert!(!body.contains("<script>alert"), "{body}");
    let form = parse(&body);
    // The browser posts back exactly what the client sent.
    assert_eq!(form.field("state"), Some(hostile));
    assert_eq!(form.scripts.len(), 1);
}

#[tokio::test]
async fn error_is_posted_too_with_no_store_and_a_csp_for_the_redirect_uri() {
    let server = TestServer::start().await;
    // OpenID Core §3.1.2.6: prompt=none without a session is
    // login_required, delivered in the requested response mode.
    let url = authorize_url(&server, &spa_request("st-9", &[("prompt", "none")]));
    let response = server.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("location").is_none());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' {SPA_REDIRECT}")),
        "{csp}"
    );
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let form = parse(&response.text().await.unwrap());
    assert_eq!(form.action, SPA_REDIRECT);
    assert_eq!(form.field("error"), Some("login_required"));
    assert_eq!(form.field("state"), Some("st-9"));
    assert!(form.field("code").is_none());
}

#[tokio::test]
async fn csp_script_hash_is_the_hash_of_the_page_script() {
    use base64::Engine;
    use openssl::sha::sha256;
    let server = TestServer::start().await;
    let url = authorize_url(&server, &spa_request("st", &[("prompt", "none")]));
    let response = server.http.get(&url).send().await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let form = parse(&response.text().await.unwrap());
    let hash = base64::engine::general_purpose::STANDARD.encode(sha256(form.scripts[0].as_bytes()));
    assert!(
        csp.contains(&format!("script-src 'sha256-{hash}'")),
        "{csp}"
    );
}

#[tokio::test]
async fn unsupported_response_mode_is_redirected_in_the_query() {
    let server = TestServer::start().await;
    for mode in ["fragment", "web_message", "FORM_POST"] {
        let mut pairs = spa_request("st-1", &[]);
        pairs.retain(|(k, _)| *k != "response_mode");
        pairs.push(("response_mode", mode));
        let response = server
            .http
            .get(authorize_url(&server, &pairs))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{mode}");
        let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(SPA_REDIRECT), "{location}");
        let q = query_map(&location);
        assert_eq!(q["error"], "invalid_request", "{mode}");
        assert_eq!(q["state"], "st-1");
    }
}

#[tokio::test]
async fn form_post_for_an_unregistered_redirect_uri_is_an_error_page_not_a_form() {
    let server = TestServer::start().await;
    let mut pairs = spa_request("st-1", &[("prompt", "none")]);
    pairs.retain(|(k, _)| *k != "redirect_uri");
    pairs.push(("redirect_uri", "https://evil.example/cb"));
    let response = server
        .http
        .get(authorize_url(&server, &pairs))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert!(!body.contains("evil.example"), "{body}");
    assert!(!body.contains("<form"), "{body}");
}

#[tokio::test]
async fn discovery_lists_form_post_and_query() {
    let server = TestServer::start().await;
    let doc: serde_json::Value = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
}
