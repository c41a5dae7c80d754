//! Test harness: a real Signoff server on an ephemeral port with its own
//! database, driven over HTTP. SQLite in a temporary directory by default;
//! PostgreSQL (a fresh database per server) when SIGNOFF_TEST_DATABASE_URL
//! names a PostgreSQL server.
#![allow(dead_code)]

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use scraper::{Html, Selector};
use sea_orm::{ConnectionTrait, Database};
use signoff::admin::{self, ClientSpec, UserSpec};
use signoff::clock::{Clock, MockClock};
use signoff::random::OsRandom;
use signoff::{AppState, Config};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

pub const APP: &str = "app";
pub const APP_SECRET: &str = "app-secret-0123456789";
pub const APP_REDIRECT: &str = "http://127.0.0.1:7001/callback";
pub const SPA: &str = "spa";
pub const SPA_REDIRECT: &str = "http://127.0.0.1:7002/callback";
pub const FIRST: &str = "first";
pub const FIRST_SECRET: &str = "first-secret-0123456789";
pub const FIRST_REDIRECT: &str = "https://first.example.com/callback";
pub const SERVICE: &str = "service";
pub const SERVICE_SECRET: &str = "service-secret-0123456789";
pub const ALICE: &str = "alice";
pub const ALICE_PASSWORD: &str = "correct horse battery";
/// Master key sealing the test servers' signing keys (32 bytes, base64).
pub const TEST_MASTER_KEY: &str = "c2lnbm9mZi10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXM=";

pub struct TestServer {
    pub base: String,
    pub clock: MockClock,
    pub state: AppState,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A client that never follows redirects, as a relying party's back end.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("http client")
}

async fn database_url(dir: &TempDir) -> String {
    match std::env::var("SIGNOFF_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let admin = Database::connect(&url)
                .await
                .expect("connect to the PostgreSQL test server");
            let name = format!(
                "signoff_test_{}",
                signoff::random::identifier(&OsRandom)
                    .to_lowercase()
                    .replace('-', "_")
            );
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            let mut parsed = Url::parse(&url).expect("database url");
            parsed.set_path(&format!("/{name}"));
            parsed.to_string()
        }
        _ => format!("sqlite://{}/signoff.db?mode=rwc", dir.path().display()),
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// Start a server whose configuration `adjust` may change, with the
    /// standard clients and user registered.
    pub async fn with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = TempDir::new().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = Config {
            issuer: Url::parse(&format!("http://{addr}")).expect("issuer"),
            bind: addr,
            database_url: database_url(&dir).await,
            ..Config::default()
        };
        config.keys.master_key = Some(TEST_MASTER_KEY.into());
        adjust(&mut config);
        config.validate().expect("valid test configuration");
        let db = signoff::store::connect(&config.database_url)
            .await
            .expect("connect");
        signoff::store::migrate(&db).await.expect("migrate");
        let clock = MockClock::starting_now();
        let state = AppState::new(config, db, Arc::new(clock.clone()), Arc::new(OsRandom))
            .await
            .expect("state");
        let (tx, rx) = oneshot::channel::<()>();
        let server_state = state.clone();
        tokio::spawn(async move {
            let _ = signoff::serve(listener, server_state, async {
                let _ = rx.await;
            })
            .await;
        });
        let server = TestServer {
            base: format!("http://{addr}"),
            clock,
            state,
            http: http_client(),
            shutdown: Some(tx),
            _dir: dir,
        };
        server.seed().await;
        server
    }

    async fn seed(&self) {
        self.add_client(ClientSpec {
            id: APP.into(),
            secret: Some(APP_SECRET.into()),
            redirect_uris: vec![APP_REDIRECT.into()],
            ..ClientSpec::default()
        })
        .await;
        self.add_client(ClientSpec {
            id: SPA.into(),
            secret: None,
            redirect_uris: vec![SPA_REDIRECT.into()],
            ..ClientSpec::default()
        })
        .await;
        self.add_client(ClientSpec {
            id: FIRST.into(),
            secret: Some(FIRST_SECRET.into()),
            redirect_uris: vec![FIRST_REDIRECT.into()],
            first_party: true,
            ..ClientSpec::default()
        })
        .await;
        self.add_client(ClientSpec {
            id: SERVICE.into(),
            secret: Some(SERVICE_SECRET.into()),
            scopes: vec!["api.read".into(), "api.write".into()],
            grant_types: vec!["client_credentials".into()],
            ..ClientSpec::default()
        })
        .await;
        self.add_user(ALICE, ALICE_PASSWORD).await;
    }

    pub async fn add_client(&self, spec: ClientSpec) {
        admin::add_client(&self.state.db, &OsRandom, spec, self.clock.now())
            .await
            .expect("add client");
    }

    pub async fn add_user(&self, username: &str, password: &str) -> String {
        admin::add_user(
            &self.state.db,
            &OsRandom,
            UserSpec {
                username,
                email: Some(&format!("{username}@example.com")),
                name: Some("Alice Example"),
                password,
                phone_number: Some("+15551234567"),
                address: Some("1 Example Road, Springfield"),
            },
            self.clock.now(),
        )
        .await
        .expect("add user")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A fresh browser: its own cookie jar, redirects followed by hand.
    pub fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .cookie_store(true)
                .build()
                .expect("browser"),
        }
    }

    /// POST a form to the token endpoint with HTTP Basic client credentials.
    pub async fn token_request(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("token request")
    }
}

/// What the browser ended on.
#[derive(Debug)]
pub enum Landing {
    /// Redirected to the client's redirect URI (or another external URL).
    Redirect(Url),
    /// A page of ours that is not a form we know how to fill.
    Page { status: StatusCode, body: String },
}

impl Landing {
    pub fn redirect(self) -> Url {
        match self {
            Landing::Redirect(u) => u,
            Landing::Page { status, body } => {
                panic!("expected a redirect, got a page ({status}): {body}")
            }
        }
    }

    pub fn param(&self, name: &str) -> Option<String> {
        match self {
            Landing::Redirect(u) => u
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
            Landing::Page { .. } => None,
        }
    }
}

pub struct Browser {
    pub http: reqwest::Client,
}

/// A parsed HTML form: where it posts and its fields.
#[derive(Debug, Clone)]
pub struct HtmlForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub has_password: bool,
}

pub fn parse_forms(base: &Url, html: &str) -> Vec<HtmlForm> {
    let doc = Html::parse_document(html);
    let form_sel = Selector::parse("form").unwrap();
    let input_sel = Selector::parse("input").unwrap();
    doc.select(&form_sel)
        .map(|form| {
            let action = form.value().attr("action").unwrap_or("");
            let action = base.join(action).map(|u| u.to_string()).unwrap_or_default();
            let mut fields = Vec::new();
            let mut has_password = false;
            for input in form.select(&input_sel) {
                let v = input.value();
                if v.attr("type") == Some("password") {
                    has_password = true;
                }
                if let Some(name) = v.attr("name") {
                    fields.push((name.to_owned(), v.attr("value").unwrap_or("").to_owned()));
                }
            }
            HtmlForm {
                action,
                fields,
                has_password,
            }
        })
        .collect()
}

impl Browser {
    /// Follow redirects while they stay on `server`; stop at the first
    /// redirect elsewhere or at a page.
    pub async fn go(&self, server: &TestServer, url: &str) -> (Url, Landing) {
        let mut url = Url::parse(url).expect("url");
        for _ in 0..10 {
            let response = self
                .http
                .get(url.clone())
                .send()
                .await
                .expect("browser GET");
            match self.landing(server, &url, response).await {
                Step::Follow(next) => url = next,
                Step::Done(l) => return (url, l),
            }
        }
        panic!("too many redirects");
    }

    pub async fn post_form(&self, server: &TestServer, form: &HtmlForm) -> (Url, Landing) {
        let url = Url::parse(&form.action).expect("form action");
        let response = self
            .http
            .post(url.clone())
            .form(&form.fields)
            .send()
            .await
            .expect("browser POST");
        match self.landing(server, &url, response).await {
            Step::Follow(next) => self.go(server, next.as_str()).await,
            Step::Done(l) => (url, l),
        }
    }

    async fn landing(&self, server: &TestServer, url: &Url, response: reqwest::Response) -> Step {
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()["location"]
                .to_str()
                .expect("location")
                .to_owned();
            let next = url.join(&location).expect("redirect target");
            if next.as_str().starts_with(&server.base) {
                return Step::Follow(next);
            }
            return Step::Done(Landing::Redirect(next));
        }
        let body = response.text().await.expect("body");
        Step::Done(Landing::Page { status, body })
    }

    /// Sign in on the login page the browser is on.
    pub async fn login(
        &self,
        server: &TestServer,
        page_url: &Url,
        page: &str,
        username: &str,
        password: &str,
    ) -> (Url, Landing) {
        let mut form = parse_forms(page_url, page)
            .into_iter()
            .find(|f| f.has_password)
            .expect("a login form");
        set_field(&mut form, "username", username);
        set_field(&mut form, "password", password);
        self.post_form(server, &form).await
    }

    /// Press the consent button with `decision` (approve or deny).
    pub async fn consent(
        &self,
        server: &TestServer,
        page_url: &Url,
        page: &str,
        decision: &str,
    ) -> (Url, Landing) {
        let mut form = parse_forms(page_url, page)
            .into_iter()
            .next()
            .expect("a consent form");
        form.fields.push(("decision".into(), decision.into()));
        self.post_form(server, &form).await
    }

    /// Run an authorization request to its end as a user who signs in with
    /// `password` when asked and approves consent when asked.
    pub async fn authorize(
        &self,
        server: &TestServer,
        auth_url: &str,
        username: &str,
        password: &str,
    ) -> Landing {
        let (mut at, mut landing) = self.go(server, auth_url).await;
        for _ in 0..4 {
            match &landing {
                Landing::Redirect(_) => return landing,
                Landing::Page { body, .. } => {
                    let forms = parse_forms(&at, body);
                    if forms.iter().any(|f| f.has_password) {
                        let body = body.clone();
                        (at, landing) = self.login(server, &at, &body, username, password).await;
                    } else if body.contains("name=\"decision\"") {
                        let body = body.clone();
                        (at, landing) = self.consent(server, &at, &body, "approve").await;
                    } else {
                        return landing;
                    }
                }
            }
        }
        landing
    }
}

enum Step {
    Follow(Url),
    Done(Landing),
}

pub fn set_field(form: &mut HtmlForm, name: &str, value: &str) {
    match form.fields.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => *v = value.to_owned(),
        None => form.fields.push((name.to_owned(), value.to_owned())),
    }
}

/// A standard authorization URL for `client_id` with PKCE.
pub fn auth_url(
    server: &TestServer,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    challenge: &str,
) -> String {
    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// RFC 7636 Appendix B verifier and challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Parse a JSON error body and check its `error` code.
pub async fn assert_oauth_error(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status(), status, "unexpected status");
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "unexpected error body {body}");
    body
}

/// The query parameters of a URL, by name (the last value wins).
pub fn query_map(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// Run an authorization request as alice in `browser` (signing in and
/// approving consent when asked) and return the code it ends with.
pub async fn code_in(browser: &Browser, server: &TestServer, auth_url: &str) -> String {
    let landing = browser
        .authorize(server, auth_url, ALICE, ALICE_PASSWORD)
        .await;
    landing
        .param("code")
        .unwrap_or_else(|| panic!("expected a code: {landing:?}"))
}

/// Redeem `code` with the RFC 7636 Appendix B verifier; `secret` of `None`
/// authenticates as a public client (client_id in the body).
pub async fn redeem(
    server: &TestServer,
    client_id: &str,
    secret: Option<&str>,
    code: &str,
    redirect_uri: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", VERIFIER),
    ];
    match secret {
        Some(secret) => server.token_request(client_id, secret, &form).await,
        None => {
            let mut form = form.to_vec();
            form.push(("client_id", client_id));
            server
                .http
                .post(server.url("/token"))
                .form(&form)
                .send()
                .await
                .expect("token request")
        }
    }
}

/// A successful token response as JSON.
pub async fn token_json(response: reqwest::Response) -> serde_json::Value {
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("JSON token response");
    assert_eq!(status, StatusCode::OK, "token request failed: {body}");
    body
}

/// The payload of a compact JWS, not verified (code_flow.rs checks
/// signatures against the published JWKS).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a compact JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// GET /userinfo with `access_token` as a bearer token.
pub async fn userinfo(server: &TestServer, access_token: &str) -> reqwest::Response {
    server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo request")
}
