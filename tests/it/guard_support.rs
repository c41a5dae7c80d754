//! Fixtures of the guard tests (guard_tokens.rs, guard_feed.rs, gateway.rs):
//! a real Signoff server behind a Shared Signals transmitter DOUBLE, the
//! example API of guard/examples behind a real `signoff_guard::Guard`, and
//! the clients and tokens the tests use.
//!
//! The double stands in for Signoff's own transmitter until it exists. It
//! is the issuer's origin: Signoff is configured with the double's address
//! as its issuer, and the double forwards every request it does not serve
//! itself to Signoff. It serves SSF 1.0 transmitter metadata (§7), stream
//! management (§8.1.1 create/read/delete, §8.1.4.2 verification) for
//! bearer tokens with scope `ssf.manage` (checked by introspection at
//! Signoff), and RFC 8936 long polling with acknowledgements. The SETs it
//! sends follow the revocation contract's mapping and are signed with
//! Signoff's own current signing key, so the guard verifies them against the
//! real JWKS. A new stream starts with every event published so far (the
//! contract's backfill).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use signoff::Config;
use signoff::admin::ClientSpec;
use signoff::clock::{Clock, MockClock};
use signoff::jws::Algorithm;
use signoff_guard::{Guard, GuardBuilder};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::common::*;

#[path = "../../guard/examples/protected_api.rs"]
#[allow(dead_code)]
pub mod example;

/// The audience of the protected API.
pub const API_AUD: &str = "https://api.example";
/// The guard's own client: client_credentials with scope ssf.manage.
/// The SSF double's own client: a resource server for Signoff's own
/// audience (the GUARD's `ssf.manage` tokens), so it may introspect them.
const SSF_DOUBLE: &str = "ssf-double";
const SSF_DOUBLE_SECRET: &str = "ssf-double-secret-0123456789";
pub const GUARD: &str = "api-guard";
pub const GUARD_SECRET: &str = "api-guard-secret-0123456789";
/// A first-party web app with JWT access tokens for the API.
pub const WEB: &str = "web";
pub const WEB_SECRET: &str = "web-secret-0123456789";
pub const WEB_REDIRECT: &str = "https://web.example.com/callback";
/// The same with opaque access tokens.
pub const OPAQUE_WEB: &str = "opaque-web";
/// A service acting for itself with JWT access tokens for the API.
pub const JOB: &str = "job";
pub const JOB_SECRET: &str = "job-secret-0123456789";

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const ACCOUNT_ENABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
pub const TOKENS_REVOKED: &str = "urn:signoff:secevent:tokens-revoked";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";
const POLL: &str = "urn:ietf:rfc:8936";
/// How long the double holds a long poll with nothing to send.
const HOLD: Duration = Duration::from_millis(400);

/// The guard's clock is the server's mock clock.
pub struct ServerClock(pub MockClock);

impl signoff_guard::Clock for ServerClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.now() as u64)
    }
}

#[derive(Default)]
pub struct StreamState {
    pub aud: String,
    pub pending: VecDeque<(String, String)>,
    pub acked: Vec<String>,
    pub errors: Map<String, Value>,
    pub verification_states: Vec<String>,
}

/// What the double saw and holds.
#[derive(Default)]
pub struct Book {
    pub streams: HashMap<String, StreamState>,
    pub created: u64,
    pub deleted: u64,
    /// Every revocation event published: (event type, sub_id, body).
    pub log: Vec<(String, Value, Value)>,
    /// `returnImmediately` of every poll request.
    pub return_immediately: Vec<bool>,
}

pub struct Double {
    pub issuer: String,
    pub upstream: String,
    pub clock: MockClock,
    pub state: signoff::AppState,
    pub book: Mutex<Book>,
    pub notify: Notify,
    /// While set, every SSF endpoint answers 503 (the feed is down).
    pub down: AtomicBool,
    /// While set, POST /introspect answers 503 (Signoff unreachable).
    pub introspection_down: AtomicBool,
    /// Served instead of the transmitter metadata while set.
    pub metadata_override: Mutex<Option<Value>>,
    /// One stream per receiver: a second create gets 409 (SSF §8.1.1.1).
    pub single_stream: AtomicBool,
    pub jwks_fetches: AtomicU64,
    pub seq: AtomicU64,
    http: reqwest::Client,
}

impl Double {
    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Sign `claims` as a SET with Signoff's current RS256 key.
    pub fn sign_set(&self, claims: &Value) -> String {
        let key = self
            .state
            .keys
            .signer(Algorithm::Rs256, self.now())
            .expect("a signing key");
        key.sign("secevent+jwt", claims).expect("sign SET")
    }

    fn set_claims(
        &self,
        aud: &str,
        event_type: &str,
        sub_id: &Value,
        body: &Value,
    ) -> (String, Value) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let jti = format!("set-{seq}");
        let claims = json!({
            "iss": self.issuer,
            "jti": jti,
            "iat": self.now(),
            "aud": aud,
            "txn": seq.to_string(),
            "sub_id": sub_id,
            "events": { event_type: body },
        });
        (jti, claims)
    }

    /// Publish a revocation event to every stream (and to streams created
    /// later).
    pub fn publish(&self, event_type: &str, sub_id: Value, body: Value) {
        let mut book = self.book.lock().unwrap();
        book.log
            .push((event_type.into(), sub_id.clone(), body.clone()));
        let ids: Vec<String> = book.streams.keys().cloned().collect();
        for id in ids {
            let aud = book.streams[&id].aud.clone();
            let (jti, claims) = self.set_claims(&aud, event_type, &sub_id, &body);
            let set = self.sign_set(&claims);
            book.streams
                .get_mut(&id)
                .unwrap()
                .pending
                .push_back((jti, set));
        }
        drop(book);
        self.notify.notify_waiters();
    }

    /// Queue a SET built by the test (forgeries) on every stream.
    pub fn enqueue_raw(&self, jti: &str, set: String) {
        let mut book = self.book.lock().unwrap();
        for stream in book.streams.values_mut() {
            stream.pending.push_back((jti.to_owned(), set.clone()));
        }
        drop(book);
        self.notify.notify_waiters();
    }

    /// The transmitter metadata as served.
    pub fn metadata(&self) -> Value {
        json!({
            "spec_version": "1_0",
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks", self.issuer),
            "delivery_methods_supported": [POLL],
            "configuration_endpoint": format!("{}/ssf/stream", self.issuer),
            "verification_endpoint": format!("{}/ssf/verify", self.issuer),
            "authorization_schemes": [{ "spec_urn": "urn:ietf:rfc:6749" }],
            "default_subjects": "ALL",
        })
    }

    /// The audience the double puts in SETs of the (single) stream.
    pub fn stream_aud(&self) -> String {
        self.book
            .lock()
            .unwrap()
            .streams
            .values()
            .next()
            .expect("a stream")
            .aud
            .clone()
    }

    /// SSF §8.1.5: tell the receiver the stream's status changed.
    pub fn stream_updated(&self, status: &str) {
        let mut book = self.book.lock().unwrap();
        let ids: Vec<String> = book.streams.keys().cloned().collect();
        for id in ids {
            let aud = book.streams[&id].aud.clone();
            let (jti, claims) = self.set_claims(
                &aud,
                STREAM_UPDATED,
                &json!({"format": "opaque", "id": id}),
                &json!({ "status": status }),
            );
            let set = self.sign_set(&claims);
            book.streams
                .get_mut(&id)
                .unwrap()
                .pending
                .push_back((jti, set));
        }
        drop(book);
        self.notify.notify_waiters();
    }

    /// The transmitter forgets a stream (as after an inactivity timeout).
    pub fn forget_streams(&self) {
        self.book.lock().unwrap().streams.clear();
    }

    pub fn stream_count(&self) -> usize {
        self.book.lock().unwrap().streams.len()
    }

    /// jti → error reported by the receiver (RFC 8936 setErrs).
    pub fn errors(&self) -> Map<String, Value> {
        let book = self.book.lock().unwrap();
        let mut all = Map::new();
        for s in book.streams.values() {
            all.extend(s.errors.clone());
        }
        all
    }

    pub fn acked(&self) -> Vec<String> {
        self.book
            .lock()
            .unwrap()
            .streams
            .values()
            .flat_map(|s| s.acked.clone())
            .collect()
    }

    /// The client a management or poll request is authorized for.
    async fn authorize(&self, headers: &HeaderMap) -> Result<String, Response> {
        let refuse = || StatusCode::UNAUTHORIZED.into_response();
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(refuse)?;
        let body: Value = self
            .http
            .post(format!("{}/introspect", self.upstream))
            .basic_auth(SSF_DOUBLE, Some(SSF_DOUBLE_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|_| refuse())?
            .json()
            .await
            .map_err(|_| refuse())?;
        let scoped = body["scope"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|s| s == "ssf.manage"));
        if body["active"] != true || !scoped {
            return Err(StatusCode::FORBIDDEN.into_response());
        }
        Ok(body["client_id"].as_str().unwrap_or_default().to_owned())
    }

    fn config_of(&self, id: &str, aud: &str) -> Value {
        json!({
            "stream_id": id,
            "iss": self.issuer,
            "aud": aud,
            "delivery": { "method": POLL, "endpoint_url": format!("{}/ssf/poll/{id}", self.issuer) },
            "events_supported": [SESSION_REVOKED, ACCOUNT_DISABLED, ACCOUNT_ENABLED, TOKENS_REVOKED],
            "events_requested": [SESSION_REVOKED, ACCOUNT_DISABLED, ACCOUNT_ENABLED, TOKENS_REVOKED],
            "events_delivered": [SESSION_REVOKED, ACCOUNT_DISABLED, ACCOUNT_ENABLED, TOKENS_REVOKED],
            "min_verification_interval": 0,
        })
    }
}

type Shared = State<Arc<Double>>;

fn feed_down(d: &Double) -> Option<Response> {
    d.down
        .load(Ordering::SeqCst)
        .then(|| StatusCode::SERVICE_UNAVAILABLE.into_response())
}

async fn metadata(State(d): Shared) -> Response {
    if let Some(r) = feed_down(&d) {
        return r;
    }
    let doc = d.metadata_override.lock().unwrap().clone();
    Json(doc.unwrap_or_else(|| d.metadata())).into_response()
}

async fn create_stream(State(d): Shared, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = feed_down(&d) {
        return r;
    }
    let client = match d.authorize(&headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // SSF §8.1.1.1: without `delivery`, poll; this double supports only poll.
    if body
        .pointer("/delivery/method")
        .and_then(Value::as_str)
        .is_some_and(|m| m != POLL)
    {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let mut book = d.book.lock().unwrap();
    if d.single_stream.load(Ordering::SeqCst) && !book.streams.is_empty() {
        return StatusCode::CONFLICT.into_response();
    }
    book.created += 1;
    let id = format!("stream-{}", book.created);
    let mut state = StreamState {
        aud: client.clone(),
        ..StreamState::default()
    };
    // The contract's backfill: a new stream starts with every revocation.
    for (event_type, sub_id, event) in book.log.clone() {
        let (jti, claims) = d.set_claims(&client, &event_type, &sub_id, &event);
        state.pending.push_back((jti, d.sign_set(&claims)));
    }
    book.streams.insert(id.clone(), state);
    (StatusCode::CREATED, Json(d.config_of(&id, &client))).into_response()
}

async fn read_stream(
    State(d): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = feed_down(&d) {
        return r;
    }
    if let Err(r) = d.authorize(&headers).await {
        return r;
    }
    let book = d.book.lock().unwrap();
    match q.get("stream_id") {
        Some(id) => match book.streams.get(id) {
            Some(s) => Json(d.config_of(id, &s.aud)).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        None => Json(Value::Array(
            book.streams
                .iter()
                .map(|(id, s)| d.config_of(id, &s.aud))
                .collect(),
        ))
        .into_response(),
    }
}

async fn delete_stream(
    State(d): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = d.authorize(&headers).await {
        return r;
    }
    let mut book = d.book.lock().unwrap();
    match q.get("stream_id").and_then(|id| book.streams.remove(id)) {
        Some(_) => {
            book.deleted += 1;
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn verify(State(d): Shared, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = feed_down(&d) {
        return r;
    }
    if let Err(r) = d.authorize(&headers).await {
        return r;
    }
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    let mut book = d.book.lock().unwrap();
    let Some(aud) = book.streams.get(&id).map(|s| s.aud.clone()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut event = json!({});
    if let Some(state) = body["state"].as_str() {
        event["state"] = json!(state);
    }
    // SSF §8.1.4.1: sub_id is the stream itself.
    let (jti, claims) = d.set_claims(
        &aud,
        VERIFICATION,
        &json!({ "format": "opaque", "id": id }),
        &event,
    );
    let set = d.sign_set(&claims);
    let stream = book.streams.get_mut(&id).unwrap();
    stream
        .verification_states
        .push(body["state"].as_str().unwrap_or_default().to_owned());
    stream.pending.push_back((jti, set));
    drop(book);
    d.notify.notify_waiters();
    StatusCode::NO_CONTENT.into_response()
}

/// RFC 8936 §2.4: acknowledgements and errors first, then SETs, held up to
/// HOLD when there are none and `returnImmediately` is false.
async fn poll(
    State(d): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = feed_down(&d) {
        return r;
    }
    if let Err(r) = d.authorize(&headers).await {
        return r;
    }
    let immediately = body["returnImmediately"].as_bool().unwrap_or(false);
    let max = body["maxEvents"].as_u64().unwrap_or(100) as usize;
    {
        let mut book = d.book.lock().unwrap();
        book.return_immediately.push(immediately);
        let Some(stream) = book.streams.get_mut(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        for jti in body["ack"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            stream.pending.retain(|(j, _)| j != jti);
            stream.acked.push(jti.to_owned());
        }
        if let Some(errors) = body["setErrs"].as_object() {
            for (jti, err) in errors {
                stream.pending.retain(|(j, _)| j != jti);
                stream.errors.insert(jti.clone(), err.clone());
            }
        }
    }
    let deadline = tokio::time::Instant::now()
        + if immediately || max == 0 {
            Duration::ZERO
        } else {
            HOLD
        };
    loop {
        let notified = d.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let book = d.book.lock().unwrap();
            let Some(stream) = book.streams.get(&id) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            if !stream.pending.is_empty() || tokio::time::Instant::now() >= deadline || max == 0 {
                // Unacknowledged SETs are sent again on the next poll.
                let sets: Map<String, Value> = stream
                    .pending
                    .iter()
                    .take(max)
                    .map(|(jti, set)| (jti.clone(), json!(set)))
                    .collect();
                let more = stream.pending.len() > sets.len();
                return Json(json!({ "sets": sets, "moreAvailable": more })).into_response();
            }
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

/// Everything else goes to Signoff.
async fn forward(
    State(d): Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path() == "/jwks" {
        d.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    }
    if uri.path() == "/introspect" && d.introspection_down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let url = format!(
        "{}{}",
        d.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut request = d.http.request(method, url).body(body);
    for (name, value) in &headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let Ok(response) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default();
    let mut out = (status, body).into_response();
    out.headers_mut().clear();
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// A Signoff server whose issuer is the double's address, with the guard's
/// client and the API's clients registered.
pub struct Rig {
    pub server: TestServer,
    pub double: Arc<Double>,
    pub issuer: String,
}

impl Rig {
    pub async fn start() -> Rig {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut Config)) -> Rig {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind double");
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let issuer_for_config = issuer.clone();
        let mut server = TestServer::with(move |c| {
            c.issuer = url::Url::parse(&issuer_for_config).unwrap();
            adjust(c)
        })
        .await;
        let double = Arc::new(Double {
            issuer: issuer.clone(),
            upstream: server.base.clone(),
            clock: server.clock.clone(),
            state: server.state.clone(),
            book: Mutex::new(Book::default()),
            notify: Notify::new(),
            down: AtomicBool::new(false),
            introspection_down: AtomicBool::new(false),
            metadata_override: Mutex::new(None),
            single_stream: AtomicBool::new(false),
            jwks_fetches: AtomicU64::new(0),
            seq: AtomicU64::new(1),
            http: http_client(),
        });
        // Browsers and clients reach Signoff through the double, like the
        // URLs Signoff writes (all built from the issuer).
        server.base = issuer.clone();
        let app = Router::new()
            .route("/.well-known/ssf-configuration", get(metadata))
            .route(
                "/ssf/stream",
                post(create_stream).get(read_stream).delete(delete_stream),
            )
            .route("/ssf/verify", post(verify))
            .route("/ssf/poll/{id}", post(poll))
            .fallback(forward)
            .with_state(double.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let rig = Rig {
            server,
            double,
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
        s.add_client(ClientSpec {
            id: SSF_DOUBLE.into(),
            secret: Some(SSF_DOUBLE_SECRET.into()),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["introspect".into()],
            introspect_audiences: vec![self.issuer.clone()],
            ..ClientSpec::default()
        })
        .await;
        for (id, format) in [(WEB, "jwt"), (OPAQUE_WEB, "opaque")] {
            s.add_client(ClientSpec {
                id: id.into(),
                secret: Some(WEB_SECRET.into()),
                redirect_uris: vec![WEB_REDIRECT.into()],
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

    /// A user login at `client` (JWT or opaque access token), as alice.
    pub async fn login(&self, client: &str) -> Value {
        let s = &self.server;
        let url = auth_url(s, client, WEB_REDIRECT, "openid offline_access", CHALLENGE);
        let code = code_in(&s.browser(), s, &url).await;
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

    /// Sign arbitrary access-token claims with Signoff's current key.
    pub fn sign_access_token(&self, typ: &str, claims: &Value) -> String {
        self.double.sign_set_typed(typ, claims)
    }

    pub fn now(&self) -> i64 {
        self.server.clock.now()
    }
}

impl Double {
    fn sign_set_typed(&self, typ: &str, claims: &Value) -> String {
        let key = self
            .state
            .keys
            .signer(Algorithm::Rs256, self.now())
            .expect("a signing key");
        key.sign(typ, claims).expect("sign")
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

/// The iss_sub subject of a user.
pub fn user_subject(issuer: &str, sub: &str) -> Value {
    json!({ "format": "iss_sub", "iss": issuer, "sub": sub })
}
