//! The guard: configuration, start-up, and the per-request decision.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::HeaderMap;

use crate::access_token;
use crate::cache::TokenCache;
use crate::claims::Claims;
use crate::clock::{Clock, SystemClock, millis, unix_millis, unix_seconds};
use crate::error::{GuardError, Reason, Rejection};
use crate::health::{Health, Status};
use crate::introspection::{Answer, Introspector};
use crate::jwks::Jwks;
use crate::jwt::{self, Algorithm, VerifyError};
use crate::layer::GuardLayer;
use crate::provider::{self, Credentials, TokenSource};
use crate::receiver::{self, Feed};
use crate::revocation::{Matched, RevocationSet, TokenFacts};

/// What to do with a token when the feed has been unreachable longer than
/// the freshness bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenStale {
    /// Refuse with 503 (`Retry-After: 1`).
    Reject,
    /// Ask the provider's introspection endpoint (RFC 7662) about each
    /// token; 503 if that fails too.
    Introspect,
}

/// Settings; see `Guard::builder`.
pub struct GuardBuilder {
    issuer: String,
    audience: String,
    credentials: Option<Credentials>,
    freshness_bound: Duration,
    when_stale: WhenStale,
    accept_opaque: bool,
    leeway: Duration,
    jwks_min_refresh: Duration,
    token_cache_capacity: usize,
    introspection_cache_capacity: usize,
    default_retention: Duration,
    clock: Arc<dyn Clock>,
    http: Option<reqwest::Client>,
    description: Option<String>,
}

impl GuardBuilder {
    /// The guard's client at the provider: it fetches a client_credentials
    /// token with scope `ssf.manage` for the feed, and authenticates
    /// introspection calls. Required.
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials::new(client_id, secret));
        self
    }

    /// How long after the last good poll revocations are still vouched for
    /// (default 5 s). The transmitter must answer a long poll within half
    /// of it.
    pub fn freshness_bound(mut self, bound: Duration) -> Self {
        self.freshness_bound = bound;
        self
    }

    /// What happens past the freshness bound (default `Reject`).
    pub fn when_stale(mut self, when: WhenStale) -> Self {
        self.when_stale = when;
        self
    }

    /// Accept opaque access tokens through introspection (default off).
    pub fn accept_opaque_tokens(mut self, accept: bool) -> Self {
        self.accept_opaque = accept;
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The JWKS is fetched again for an unknown `kid` at most this often
    /// (default 10 s).
    pub fn jwks_min_refresh(mut self, interval: Duration) -> Self {
        self.jwks_min_refresh = interval;
        self
    }

    /// Verified tokens kept (default 10,000; 0 verifies every request).
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.token_cache_capacity = capacity;
        self
    }

    /// How long to keep a revocation that comes without `retain_until`
    /// (CAEP session-revoked): at least the provider's longest access-token
    /// lifetime (default 24 h).
    pub fn default_retention(mut self, retention: Duration) -> Self {
        self.default_retention = retention;
        self
    }

    /// The clock (tests travel in time with their own).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The HTTP client for every call to the provider.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The stream's `description` (SSF 1.0 §8.1.1), for the provider's
    /// administrators.
    pub fn stream_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Discover the provider, fetch its keys, and start the feed receiver.
    /// Requests are refused (or introspected) until the feed is live; see
    /// `Guard::wait_until_fresh`. Must run inside a Tokio runtime.
    pub async fn build(self) -> Result<Guard, GuardError> {
        let credentials = self.credentials.ok_or_else(|| {
            GuardError::Config(
                "client credentials are required (the revocation feed needs them)".into(),
            )
        })?;
        if self.audience.is_empty() {
            return Err(GuardError::Config("the audience is empty".into()));
        }
        if self.freshness_bound.is_zero() {
            return Err(GuardError::Config(
                "the freshness bound must be positive".into(),
            ));
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|source| GuardError::Http {
                    what: "HTTP client",
                    source,
                })?,
        };
        let provider = provider::discover(&http, &self.issuer).await?;
        let token_endpoint = provider
            .token_endpoint
            .clone()
            .ok_or_else(|| GuardError::invalid("provider metadata", "no token_endpoint"))?;
        let bound_ms = millis(self.freshness_bound);
        let introspector = if self.accept_opaque || self.when_stale == WhenStale::Introspect {
            let endpoint = provider.introspection_endpoint.clone().ok_or_else(|| {
                GuardError::invalid("provider metadata", "no introspection_endpoint")
            })?;
            Some(Introspector::new(
                http.clone(),
                endpoint,
                credentials.clone(),
                self.issuer.clone(),
                self.audience.clone(),
                bound_ms,
                self.introspection_cache_capacity,
            ))
        } else {
            None
        };
        let jwks = Arc::new(
            Jwks::load(
                provider.jwks_uri.clone(),
                http.clone(),
                self.clock.clone(),
                provider.algorithms.clone(),
                self.jwks_min_refresh,
            )
            .await?,
        );
        let health = Arc::new(Health::new(bound_ms));
        let revocations = Arc::new(RevocationSet::new());
        let feed = Arc::new(Feed {
            tokens: TokenSource::new(
                http.clone(),
                token_endpoint,
                credentials.clone(),
                receiver::MANAGE_SCOPE,
            ),
            http,
            issuer: self.issuer.clone(),
            clock: self.clock.clone(),
            health: health.clone(),
            revocations: revocations.clone(),
            provider_jwks: jwks.clone(),
            provider_jwks_uri: provider.jwks_uri.clone(),
            algorithms: provider.algorithms.clone(),
            jwks_min_refresh: self.jwks_min_refresh,
            default_retention_s: self.default_retention.as_secs() as i64,
            poll_timeout: self.freshness_bound,
            description: self
                .description
                .unwrap_or_else(|| format!("signoff-guard for {}", self.audience)),
            current: std::sync::Mutex::new(None),
        });
        let inner = Arc::new(Inner {
            issuer: self.issuer,
            audience: self.audience,
            algorithms: provider.algorithms,
            leeway: self.leeway.as_secs() as i64,
            when_stale: self.when_stale,
            accept_opaque: self.accept_opaque,
            clock: self.clock,
            jwks,
            tokens: TokenCache::new(self.token_cache_capacity),
            introspector,
            revocations,
            health,
            feed: feed.clone(),
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        let receiver = tokio::spawn(feed.run());
        let maintenance = tokio::spawn(maintain(Arc::downgrade(&inner)));
        inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend([receiver.abort_handle(), maintenance.abort_handle()]);
        Ok(Guard { inner })
    }
}

pub(crate) struct Inner {
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway: i64,
    when_stale: WhenStale,
    accept_opaque: bool,
    clock: Arc<dyn Clock>,
    jwks: Arc<Jwks>,
    tokens: TokenCache,
    introspector: Option<Introspector>,
    revocations: Arc<RevocationSet>,
    health: Arc<Health>,
    feed: Arc<Feed>,
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// The JWKS past its `max-age` is fetched again, expired cache and
/// revocation entries are dropped.
async fn maintain(inner: std::sync::Weak<Inner>) {
    const SWEEP_EVERY_S: i64 = 30;
    let mut last_sweep: Option<i64> = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(inner) = inner.upgrade() else { return };
        let now = unix_seconds(inner.clock.now());
        let mut keys_changed = false;
        if inner.jwks.is_stale() {
            let before = inner.jwks.fetch_count();
            match inner.jwks.refresh().await {
                Ok(()) => keys_changed = inner.jwks.fetch_count() != before,
                Err(e) => {
                    tracing::warn!(error = %e, "JWKS refresh failed; keeping the cached keys")
                }
            }
        }
        if keys_changed || last_sweep.is_none_or(|t| now - t >= SWEEP_EVERY_S) {
            last_sweep = Some(now);
            let keys = inner.jwks.current();
            inner
                .tokens
                .sweep(now - inner.leeway, |kid| keys.contains_kid(kid));
            let dropped = inner.revocations.sweep(now);
            if dropped > 0 {
                tracing::debug!(dropped, "revocation entries past retain_until dropped");
            }
            if let Some(i) = &inner.introspector {
                i.sweep(now * 1000);
            }
        }
    }
}

/// A resource server's guard. Clone it freely; every clone shares the
/// caches, the revocation set and the feed.
#[derive(Clone)]
pub struct Guard {
    pub(crate) inner: Arc<Inner>,
}

/// What the checks so far decided.
enum Verdict {
    Done(Result<Claims, Rejection>),
    /// Valid and not known to be revoked, but the feed is stale and the
    /// configuration says to introspect.
    Introspect(Claims),
}

impl Guard {
    /// A guard for tokens of `issuer` meant for `audience` (RFC 8707
    /// resource, the `aud` the provider puts in its tokens).
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> GuardBuilder {
        GuardBuilder {
            issuer: issuer.into(),
            audience: audience.into(),
            credentials: None,
            freshness_bound: Duration::from_secs(5),
            when_stale: WhenStale::Reject,
            accept_opaque: false,
            leeway: Duration::from_secs(60),
            jwks_min_refresh: Duration::from_secs(10),
            token_cache_capacity: 10_000,
            introspection_cache_capacity: 10_000,
            default_retention: Duration::from_secs(24 * 3600),
            clock: Arc::new(SystemClock),
            http: None,
            description: None,
        }
    }

    /// The tower layer applying this guard.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone())
    }

    /// Decide a request from its headers.
    pub async fn authorize(&self, headers: &HeaderMap) -> Result<Claims, Rejection> {
        match crate::bearer::token(headers) {
            Ok(token) => self.authorize_token(token).await,
            Err(rejection) => self.record(Err(rejection)),
        }
    }

    /// Decide without any I/O if possible: `Some` for a token verified
    /// before (or a malformed request), `None` when the slow path is needed.
    pub fn authorize_cached(&self, headers: &HeaderMap) -> Option<Result<Claims, Rejection>> {
        let token = match crate::bearer::token(headers) {
            Ok(token) => token,
            Err(rejection) => return Some(self.record(Err(rejection))),
        };
        let claims = self.inner.tokens.get(token)?;
        match self.judge(claims, unix_millis(self.inner.clock.now())) {
            Verdict::Done(result) => Some(self.record(result)),
            Verdict::Introspect(_) => None,
        }
    }

    /// Decide a bearer token.
    pub async fn authorize_token(&self, token: &str) -> Result<Claims, Rejection> {
        let result = self.slow(token).await;
        self.record(result)
    }

    async fn slow(&self, token: &str) -> Result<Claims, Rejection> {
        let i = &self.inner;
        let now = unix_millis(i.clock.now());
        if let Some(claims) = i.tokens.get(token) {
            return self.finish(token, claims, now).await;
        }
        // RFC 7515 §7.1: a compact JWS has three parts; anything else is an
        // opaque token for the introspection endpoint.
        if token.bytes().filter(|b| *b == b'.').count() == 2 {
            let claims = self
                .verify_jwt(token, now)
                .await
                .map_err(Rejection::InvalidToken)?;
            i.tokens.insert(token, claims.clone(), now / 1000);
            return self.finish(token, claims, now).await;
        }
        let Some(introspector) = i.introspector.as_ref().filter(|_| i.accept_opaque) else {
            return Err(Rejection::InvalidToken(Reason::OpaqueNotAccepted));
        };
        // docs/ssf.md `tokens-revoked` scope `token_hash`: Signoff names a
        // revoked opaque token by its SHA-256, which also keys the cache (no
        // token is kept in the clear).
        let hash = crate::introspection::token_hash(token);
        if i.revocations.check(&TokenFacts {
            token_hash: Some(&hash),
            ..TokenFacts::default()
        }) == Some(Matched::TokenHash)
        {
            tracing::debug!(by = Matched::TokenHash.label(), "revoked token refused");
            return Err(Rejection::InvalidToken(Reason::Revoked));
        }
        let fresh = i.health.is_fresh(now);
        if fresh && let Some(claims) = introspector.cached(&hash, now) {
            return self.after_introspection(claims, now);
        }
        // A live answer is the provider's own word: fresh whatever the feed.
        i.health
            .counters
            .introspections
            .fetch_add(1, Ordering::Relaxed);
        match introspector.introspect(token, &hash, now, fresh).await {
            Ok(Answer::Active(claims)) => self.after_introspection(claims, now),
            Ok(Answer::Inactive) => Err(Rejection::InvalidToken(Reason::Inactive)),
            Err(e) => {
                tracing::warn!(error = %e, "introspection failed");
                Err(Rejection::Unavailable)
            }
        }
    }

    fn after_introspection(&self, claims: Claims, now: i64) -> Result<Claims, Rejection> {
        self.revoked(&claims, now)?;
        Ok(claims)
    }

    async fn finish(&self, token: &str, claims: Claims, now: i64) -> Result<Claims, Rejection> {
        match self.judge(claims, now) {
            Verdict::Done(result) => result,
            Verdict::Introspect(claims) => {
                let Some(introspector) = &self.inner.introspector else {
                    return Err(Rejection::Unavailable);
                };
                self.inner
                    .health
                    .counters
                    .introspections
                    .fetch_add(1, Ordering::Relaxed);
                match introspector.introspect(token, "", now, false).await {
                    Ok(Answer::Active(_)) => Ok(claims),
                    Ok(Answer::Inactive) => Err(Rejection::InvalidToken(Reason::Inactive)),
                    Err(e) => {
                        tracing::warn!(error = %e, "introspection fallback failed");
                        Err(Rejection::Unavailable)
                    }
                }
            }
        }
    }

    /// Time, revocation and freshness checks: the per-request work for a
    /// token verified before.
    fn judge(&self, claims: Claims, now_ms: i64) -> Verdict {
        let i = &self.inner;
        if let Err(reason) = access_token::check_time(&claims.0, now_ms / 1000, i.leeway) {
            return Verdict::Done(Err(Rejection::InvalidToken(reason)));
        }
        if let Err(rejection) = self.revoked(&claims, now_ms) {
            return Verdict::Done(Err(rejection));
        }
        if i.health.is_fresh(now_ms) {
            return Verdict::Done(Ok(claims));
        }
        match i.when_stale {
            WhenStale::Reject => {
                i.health.note_stale(now_ms, "reject");
                Verdict::Done(Err(Rejection::Unavailable))
            }
            WhenStale::Introspect => {
                i.health.note_stale(now_ms, "introspect");
                Verdict::Introspect(claims)
            }
        }
    }

    fn revoked(&self, claims: &Claims, _now_ms: i64) -> Result<(), Rejection> {
        let c = &claims.0;
        let facts = TokenFacts {
            sub: &c.sub,
            client_id: &c.client_id,
            user_token: claims.is_user_token(),
            sid: c.sid.as_deref(),
            gid: c.gid.as_deref(),
            jti: c.jti.as_deref(),
            token_hash: None,
            kid: c.kid.as_deref(),
            ver: c.ver,
            cver: c.cver,
        };
        match self.inner.revocations.check(&facts) {
            None => Ok(()),
            Some(matched) => {
                log_revoked(matched, claims);
                Err(Rejection::InvalidToken(Reason::Revoked))
            }
        }
    }

    /// Signature and claims of a JWT access token not seen before.
    async fn verify_jwt(&self, token: &str, now_ms: i64) -> Result<Claims, Reason> {
        let i = &self.inner;
        let header = jwt::header(token)?;
        // RFC 9068 §4: `typ` must be `at+jwt` (or `application/at+jwt`).
        if !jwt::typ_is(header.typ.as_deref(), "at+jwt") {
            return Err(Reason::WrongType);
        }
        let kid = header.kid.clone();
        let mut result = jwt::verify(token, header, &i.jwks.current(), &i.algorithms);
        if result.as_ref().err() == Some(&VerifyError::UnknownKey)
            && let Some(keys) = i.jwks.refresh_for_unknown_kid().await
        {
            result = jwt::verify(token, jwt::header(token)?, &keys, &i.algorithms);
        }
        let verified = result.map_err(|e| match e {
            VerifyError::Rejected(reason) => reason,
            VerifyError::UnknownKey => Reason::UnknownKey,
        })?;
        let data = access_token::from_jwt(verified.claims, kid, &i.issuer, &i.audience)?;
        access_token::check_time(&data, now_ms / 1000, i.leeway)?;
        Ok(Claims(Arc::new(data)))
    }

    fn record(&self, result: Result<Claims, Rejection>) -> Result<Claims, Rejection> {
        let c = &self.inner.health.counters;
        let counter = match &result {
            Ok(_) => &c.accepted,
            Err(Rejection::InvalidToken(Reason::Revoked)) => &c.rejected_revoked,
            Err(Rejection::Unavailable) => &c.failed_closed,
            Err(Rejection::InvalidToken(reason)) => {
                tracing::debug!(reason = reason.label(), "token rejected");
                &c.rejected_invalid
            }
            Err(_) => &c.rejected_invalid,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// The feed's state and the guard's counters.
    pub fn status(&self) -> Status {
        let i = &self.inner;
        let now = unix_millis(i.clock.now());
        let c = &i.health.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Status {
            phase: i.health.phase(),
            fresh: i.health.is_fresh(now),
            behind_ms: i.health.fresh_as_of().map(|t| now - t),
            freshness_bound_ms: i.health.bound_ms(),
            revocation_entries: i.revocations.len(),
            verified_tokens_cached: i.tokens.len(),
            jwks_fetches: i.jwks.fetch_count(),
            accepted: load(&c.accepted),
            rejected_invalid: load(&c.rejected_invalid),
            rejected_revoked: load(&c.rejected_revoked),
            failed_closed: load(&c.failed_closed),
            introspections: load(&c.introspections),
            events_applied: load(&c.events_applied),
            sets_refused: load(&c.sets_refused),
            polls: load(&c.polls),
            poll_failures: load(&c.poll_failures),
            stale_periods: load(&c.stale_periods),
        }
    }

    /// The revocation set fed by the stream.
    pub fn revocations(&self) -> &RevocationSet {
        &self.inner.revocations
    }

    /// Wait (real time) until revocations are vouched for, at most
    /// `timeout`. Returns whether they are.
    pub async fn wait_until_fresh(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self
                .inner
                .health
                .is_fresh(unix_millis(self.inner.clock.now()))
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop the feed and delete this process's stream at the transmitter
    /// (SSF 1.0 §8.1.1.5). Requests are refused afterwards once the bound
    /// passes.
    pub async fn shutdown(&self) {
        for task in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.inner.health.set_phase(crate::health::Phase::Starting);
        self.inner.feed.delete_current().await;
    }
}

fn log_revoked(matched: Matched, claims: &Claims) {
    tracing::debug!(
        by = matched.label(),
        sub = %claims.subject(),
        client_id = %claims.client_id(),
        jti = claims.jti().unwrap_or("-"),
        "revoked token refused"
    );
}
