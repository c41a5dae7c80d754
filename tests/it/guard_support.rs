//! Fixtures of the guard tests (guard_tokens.rs, guard_feed.rs, gateway.rs):
//! a real Signoff server with its real Shared Signals transmitter
//! (src/ssf), the example API of guard/examples behind a real
//! `signoff_guard::Guard`, and the clients and tokens the tests use.
//!
//! The issuer's address serves Signoff's own router on the test server's
//! state, behind a fault switch: it can answer 503 to everything (Signoff
//! unreachable, as a load balancer in front of a stopped Signoff answers),
//! to the Shared Signals endpoints only (a feed outage while introspection
//! still works), or serve a broken transmitter metadata document (a
//! misconfigured transmitter). It also counts JWKS fetches. Everything else
//! is Signoff itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use signoff::Config;
use signoff::admin::ClientSpec;
use signoff::clock::{Clock, MockClock};
use signoff::jws::Algorithm;
use signoff_guard::{Guard, GuardBuilder};
use tokio::net::TcpListener;

use crate::common::*;

#[path = "../../guard/examples/protected_api.rs"]
#[allow(dead_code)]
pub mod example;

/// The audience of the protected API.
pub const API_AUD: &str = "https://api.example";
/// The guard's own client: client_credentials with scope ssf.manage, and
/// introspection for the API's audience.
pub const GUARD: &str = "api-guard";
pub const GUARD_SECRET: &str = "api-guard-secret-0123456789";
/// A first-party web app with JWT access tokens for the API.
pub const WEB: &str = "web";
pub const WEB_SECRET: &str = "web-secret-0123456789";
pub const WEB_REDIRECT: &str = "https://web.example.com/callback";
pub const WEB_SIGNED_OUT: &str = "https://web.example.com/signed-out";
/// The same with opaque access tokens.
pub const OPAQUE_WEB: &str = "opaque-web";
/// A service acting for itself with JWT access tokens for the API.
pub const JOB: &str = "job";
pub const JOB_SECRET: &str = "job-secret-0123456789";

/// The guard's clock is the server's mock clock.
pub struct ServerClock(pub MockClock);

impl signoff_guard::Clock for ServerClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.now() as u64)
    }
}

/// The fault switch in front of Signoff at the issuer's address.
#[derive(Default)]
pub struct Faults {
    /// Every request answers 503: Signoff is unreachable.
    pub down: AtomicBool,
    /// The Shared Signals endpoints answer 503; the rest works.
    pub feed_down: AtomicBool,
    /// Served instead of the transmitter metadata while set.
    pub metadata_override: Mutex<Option<Value>>,
    pub jwks_fetches: AtomicU64,
}

fn is_feed(path: &str) -> bool {
    path.starts_with("/ssf/") || path.starts_with("/.well-known/ssf-configuration")
}

async fn faults(State(f): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if f.down.load(Ordering::SeqCst) || (f.feed_down.load(Ordering::SeqCst) && is_feed(&path)) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if path == "/jwks" {
        f.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    }
    if path == "/.well-known/ssf-configuration" {
        let doc = f.metadata_override.lock().unwrap().clone();
        if let Some(doc) = doc {
            return Json(doc).into_response();
        }
    }
    next.run(request).await
}

/// A Signoff server whose issuer is the fault switch's address, with the
/// guard's client and the API's clients registered.
pub struct Rig {
    pub server: TestServer,
    pub faults: Arc<Faults>,
    pub issuer: String,
}

impl Rig {
    pub async fn start() -> Rig {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut Config)) -> Rig {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind issuer");
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let issuer_for_config = issuer.clone();
        let mut server = TestServer::with(move |c| {
            c.issuer = url::Url::parse(&issuer_for_config).unwrap();
            adjust(c)
        })
        .await;
        let faults = Arc::new(Faults::default());
        let app = signoff::router(server.state.clone()).layer(
            axum::middleware::from_fn_with_state(faults.clone(), self::faults),
        );
        let limits = server.state.config.http.clone();
        tokio::spawn(async move {
            let _ =
                signoff::http::server::serve(listener, app, &limits, std::future::pending()).await;
        });
        // Browsers and clients reach Signoff at its issuer, like the URLs
        // Signoff writes.
        server.base = issuer.clone();
        let rig = Rig {
            server,
            faults,
            issuer,
        };
        rig.register().await;
        rig
    }

    async fn register(&self) {
        let s = &self.server;
        s.add_client(ClientSpec {
            id: GUARD.into(),
            secret: Some(GUARD_SECRET.into()),
            scopes: vec!["ssf.manage".into()],
            grant_types: vec!["client_credentials".into()],
            // RFC 7662 §4: the API's resource server.
            introspect_audiences: vec![API_AUD.into()],
            ..ClientSpec::default()
        })
        .await;
        for (id, format) in [(WEB, "jwt"), (OPAQUE_WEB, "opaque")] {
            s.add_client(ClientSpec {
                id: id.into(),
                secret: Some(WEB_SECRET.into()),
                redirect_uris: vec![WEB_REDIRECT.into()],
                post_logout_redirect_uris: vec![WEB_SIGNED_OUT.into()],
                first_party: true,
                access_token_format: Some(format.into()),
                audiences: vec![API_AUD.into()],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                ..ClientSpec::default()
            })
            .await;
        }
        s.add_client(ClientSpec {
            id: JOB.into(),
            secret: Some(JOB_SECRET.into()),
            scopes: vec!["api.read".into()],
            grant_types: vec!["client_credentials".into()],
            access_token_format: Some("jwt".into()),
            audiences: vec![API_AUD.into()],
            ..ClientSpec::default()
        })
        .await;
    }

    /// A guard for the API, on the server's clock.
    pub fn guard_builder(&self) -> GuardBuilder {
        Guard::builder(self.issuer.clone(), API_AUD)
            .client_credentials(GUARD, GUARD_SECRET)
            .clock(Arc::new(ServerClock(self.server.clock.clone())))
    }

    /// Build the guard and wait until its feed is live.
    pub async fn live_guard(&self, builder: GuardBuilder) -> Guard {
        let guard = builder.build().await.expect("guard starts");
        assert!(
            guard.wait_until_fresh(Duration::from_secs(10)).await,
            "feed live: {:?}",
            guard.status()
        );
        guard
    }

    /// Serve the example API behind `guard`; its base URL.
    pub async fn serve_api(&self, guard: &Guard) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = example::app(guard);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        base
    }

    /// A user login at `client` (JWT or opaque access token), as alice, in
    /// a browser of its own.
    pub async fn login(&self, client: &str) -> Value {
        self.login_in(&self.server.browser(), client).await
    }

    /// A login at `client` in `browser` (SSO if it has a session).
    pub async fn login_in(&self, browser: &Browser, client: &str) -> Value {
        let s = &self.server;
        let url = auth_url(s, client, WEB_REDIRECT, "openid offline_access", CHALLENGE);
        let code = code_in(browser, s, &url).await;
        token_json(redeem(s, client, Some(WEB_SECRET), &code, WEB_REDIRECT).await).await
    }

    /// A client_credentials JWT of the `job` client.
    pub async fn job_token(&self) -> String {
        let body = token_json(
            self.server
                .token_request(
                    JOB,
                    JOB_SECRET,
                    &[("grant_type", "client_credentials"), ("scope", "api.read")],
                )
                .await,
        )
        .await;
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Sign arbitrary claims with Signoff's current RS256 key and `typ`.
    pub fn sign_access_token(&self, typ: &str, claims: &Value) -> String {
        let key = self
            .server
            .state
            .keys
            .signer(Algorithm::Rs256, self.now())
            .expect("a signing key");
        key.sign(typ, claims).expect("sign")
    }

    /// The streams of the guard's client at the transmitter.
    pub async fn guard_streams(&self) -> Vec<signoff::store::ssf_streams::StreamRow> {
        signoff::store::ssf_streams::of_client(&self.server.state.db, GUARD)
            .await
            .expect("read streams")
    }

    /// A revoker acting now on the server's state (administrators' and
    /// the CLI's way in).
    pub fn revoker(&self) -> signoff::revocation::Revoker<'_> {
        self.server.state.revoker()
    }

    pub fn now(&self) -> i64 {
        self.server.clock.now()
    }
}

/// GET `path` on `base` with an optional bearer token.
pub async fn call(base: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = http_client().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("API request")
}

/// The status of GET /me with `token`.
pub async fn status_of(base: &str, token: &str) -> StatusCode {
    call(base, "/me", Some(token)).await.status()
}

/// Poll until GET /me with `token` answers `expected`, for at most 5 s.
pub async fn eventually_status(base: &str, token: &str, expected: StatusCode) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = status_of(base, token).await;
        if status == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {status}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `WWW-Authenticate` header of a response.
pub fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
